"""``GET /planner/``: the dashboard's static files, shipped inside the package (no CDN),
and ``GET /v1/dashboard/messages``: its words in the planner's language.

The page talks only to the planner API with the bearer token the planner pastes in;
the files themselves and the messages are public and hold no data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.params import QueryParameter
from litestar.response import File
from litestar.static_files import create_static_files_router

from onecode import i18n
from onecode.catalog.service import region_locale
from onecode.db import Conn

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


class DashboardMessages(msgspec.Struct, frozen=True, kw_only=True):
    """The dashboard's words in one language, and the region names it shows."""

    locale: str
    locales: list[str]
    messages: dict[str, str]
    #: ISO 3166-2:CN province codes (alpha and numeric) and the demo's prefectures
    region_names: dict[str, str]


def _region_names(locale: str) -> dict[str, str]:
    names = {code: r.name(locale) for code, r in i18n.iso_regions().items()}
    names.update(i18n.catalog(locale).room("demo.region"))
    return names


@get("/v1/dashboard/messages", tags=["planner"])
async def dashboard_messages(
    conn: Conn,
    request: Request[Any, Any, Any],
    region: Annotated[
        str | None,
        QueryParameter(name="region", pattern=r"^[A-Z0-9][A-Z0-9-]{0,31}$", required=False),
    ] = None,
    lang: Annotated[str | None, QueryParameter(name="lang", max_length=35, required=False)] = None,
) -> Response[DashboardMessages]:
    """The dashboard's messages: in ``lang`` if given (the planner's choice), else the
    browser's ``Accept-Language``, else the region's ``default_locale`` (zh-CN)."""
    locale = i18n.supported(lang)
    if locale is None:
        default = (await region_locale(conn, region) if region else None) or i18n.ZH
        locale = i18n.negotiate(request.headers.get("accept-language"), default)
    body = DashboardMessages(
        locale=locale,
        locales=list(i18n.LOCALES),
        messages=i18n.catalog(locale).room("dashboard"),
        region_names=_region_names(locale),
    )
    return Response(
        content=body,
        headers={"Content-Language": locale, "Vary": "Accept-Language"},
    )


@get("/favicon.ico", include_in_schema=False, cache_control=CacheControlHeader(max_age=86400))
async def favicon() -> File:
    """The icon browsers ask the site root for (the dashboard links its SVG one)."""
    return File(
        STATIC_DIR / "favicon.ico", media_type="image/x-icon", content_disposition_type="inline"
    )


ROUTES = [dashboard_router, dashboard_messages, favicon]
