"""The composition root: ``create_app(settings)`` assembles routes, dependencies,
lifespans and the error handler. Nothing here reads the environment."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from onecode import __version__
from onecode.auth import (
    GateSightings,
    TokenCache,
    ensure_admin_token,
    provide_principal,
)
from onecode.codes import KeyStore
from onecode.db import connection_middleware, create_pool, provide_conn
from onecode.errors import handle_exception
from onecode.http.bodies import JsonRequest, bound_query_dates
from onecode.http.docs import OfflineSwagger, assets_router
from onecode.http.openapi import document_api
from onecode.observability import observability_middleware, security_headers
from onecode.ratelimit import Limits, rate_limit_middleware, route_buckets
from onecode.settings import Settings
from onecode.sql import Q

log = logging.getLogger("onecode.app")

Hook = Callable[[Litestar], Any]


def _route_modules() -> list[Any]:
    """Each domain exposes ``ROUTES``; the list here is the whole API."""
    from onecode import observability
    from onecode.allocation import routes as allocation
    from onecode.bookings import routes as bookings
    from onecode.catalog import routes as catalog
    from onecode.complaints import routes as complaints
    from onecode.dashboard import routes as dashboard
    from onecode.events import routes as events
    from onecode.flows import routes as flows
    from onecode.gates import routes as gates
    from onecode.identity import routes as identity
    from onecode.offline import routes as offline
    from onecode.operations import routes as operations
    from onecode.places import routes as places
    from onecode.reviews import routes as reviews
    from onecode.system import routes as system
    from onecode.webhooks import routes as webhooks

    modules: list[Any] = [system, observability, catalog, identity, bookings, allocation]
    modules += [gates, offline]
    modules += [flows, reviews, places, complaints, events, dashboard, operations, webhooks]
    return modules


def load_keystore(settings: Settings) -> KeyStore:
    """Signing keys from configuration, or generated into the data folder (development)."""
    return KeyStore(
        signing_keys=settings.signing_keys,
        key_file=settings.signing_key_file,
        data_dir=settings.data_dir,
    )


def create_app(
    settings: Settings,
    *,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> Litestar:
    """Build the Litestar app for these settings (``database_url`` must be set)."""
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url (onecode serve sets it)")
    Q()  # load and check every named query before serving

    @asynccontextmanager
    async def pool_lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        assert settings.database_url
        app.state.pool = await create_pool(settings.database_url, settings)
        async with app.state.pool.acquire() as conn:
            token = await ensure_admin_token(conn, settings.admin_token)
        if token:
            print(f"\nonecode: admin token (shown once, stored hashed): {token}\n", flush=True)
        try:
            yield
        finally:
            await app.state.pool.close()

    route_handlers: list[Any] = [assets_router()]  # the docs page's files
    lifespans: list[Any] = [pool_lifespan]
    dependencies: dict[str, Provide] = {
        "conn": Provide(provide_conn),
        "principal": Provide(provide_principal),
    }
    for module in _route_modules():
        route_handlers.extend(module.ROUTES)
        # a domain may bring lifespans (run after the pool is up) and dependencies
        lifespans.extend(getattr(module, "LIFESPANS", ()))
        dependencies.update(getattr(module, "DEPENDENCIES", {}))

    cors = CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None
    limits = Limits(settings)
    app = Litestar(
        route_handlers=route_handlers,
        dependencies=dependencies,
        exception_handlers={Exception: handle_exception},
        middleware=[observability_middleware, rate_limit_middleware(limits), connection_middleware],
        before_send=[security_headers],
        lifespan=lifespans,
        on_startup=list(on_startup),
        on_shutdown=list(on_shutdown),
        state=State(
            {
                "settings": settings,
                "token_cache": TokenCache(settings.token_cache_seconds),
                "gate_sightings": GateSightings(),
                "keystore": load_keystore(settings),
            }
        ),
        request_max_body_size=settings.max_body_bytes,
        # every JSON body through onecode.http.bodies.decode_body: depth, strict types, text, dates
        request_class=JsonRequest,
        # every day and instant in a query within the same bounds (no route calls it)
        before_request=bound_query_dates,
        cors_config=cors,
        openapi_config=OpenAPIConfig(
            title="onecode",
            version=__version__,
            description="One QR code for a whole region's tourism.",
            path="/schema",
            # Swagger UI from the wheel's files (onecode/http/docs.py): works offline
            render_plugins=[OfflineSwagger(path=["/", "/swagger"])],
        ),
        debug=False,
        # onecode configures logging itself (JSON lines, levels from settings); Litestar's
        # default config would replace the root handler and force INFO
        logging_config=None,
    )
    limits.validate(route_buckets(app.routes))
    document_api(app)
    return app


def app_from_env() -> Litestar:
    """The app factory of ``onecode serve --workers N``: each worker reads the
    environment its parent prepared (the database URL of the embedded server too)."""
    return create_app(Settings.from_env())
