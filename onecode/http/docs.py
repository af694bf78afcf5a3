"""The API docs page, served offline: Swagger UI from the ``swagger-ui-bundle-v2`` wheel.

``/schema`` (and ``/schema/swagger``) render Swagger UI with the document inline; its
script, style and icon come from ``/schema/assets/``, the files the
``swagger_ui_bundle`` package ships (Apache-2.0, its licence in the package's
dist-info). Nothing is loaded from another host, so the page works without internet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/schema/assets"
ASSET_DIR = Path(swagger_ui_path)


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI from the local assets; the online validator badge is off."""

    def __init__(self, path: str | list[str]) -> None:
        super().__init__(
            js_url=f"{ASSETS}/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
            path=path,
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        page = super().render(request, openapi_schema)
        # validatorUrl would send the document to an online validator; keep tokens
        # pasted into Authorize across reloads of the page
        return page.replace(
            b"deepLinking: true,",
            b"deepLinking: true,\n                  validatorUrl: null,"
            b"\n                  persistAuthorization: true,",
            1,
        )


def assets_router() -> Router:
    """``GET /schema/assets/{file}``: the Swagger UI files of the wheel."""
    return create_static_files_router(
        path=ASSETS,
        directories=[ASSET_DIR],
        name="docs-assets",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86_400),
    )
