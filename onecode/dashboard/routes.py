"""``GET /planner/``: the dashboard's static files, shipped inside the package (no CDN).

The page talks only to the planner API with the bearer token the planner pastes in;
the files themselves are public and hold no data.
"""

from __future__ import annotations

from pathlib import Path

from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).resolve().parent / "static"

# no-cache: the browser revalidates (ETag / Last-Modified), so a new release shows at once
dashboard_router = create_static_files_router(
    path="/planner",
    directories=[STATIC_DIR],
    html_mode=True,
    name="dashboard",
    cache_control=CacheControlHeader(no_cache=True),
    include_in_schema=False,
    tags=["planner"],
)

ROUTES = [dashboard_router]
