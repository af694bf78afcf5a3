"""Cross-replica token cache invalidation through PostgreSQL ``LISTEN/NOTIFY``.

Each replica caches token lookups for ``token_cache_seconds``. A revocation (API or
CLI, on any replica) sends ``pg_notify('onecode_tokens', <principal id>)`` in its own
transaction, so PostgreSQL delivers it at commit to every listening replica, which drops
that principal's cached tokens: a revoked token answers 401 everywhere at once, not
after the cache time.

The listener holds one dedicated connection (not a pooled one: pooled connections keep
no session state). When it is lost, the cache is cleared on reconnecting (notifications
sent meanwhile are gone), and until then entries still expire after the cache time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar

from onecode.auth import TokenCache
from onecode.tasks import running

log = logging.getLogger("onecode.operations.invalidation")

CHANNEL = "onecode_tokens"
ALL = "*"  # payload: forget every cached token
_PING_SECONDS = 15.0


def apply_notification(cache: TokenCache, payload: str) -> None:
    """Act on one notification: a principal id, or ``*`` for everything."""
    if payload == ALL:
        cache.clear()
        return
    for part in payload.split(","):
        try:
            cache.forget_principal(uuid.UUID(part.strip()))
        except ValueError:
            log.warning("token invalidation: ignored a malformed payload")
            cache.clear()
            return


class Listener:
    """Keeps one LISTEN connection alive and feeds the cache; ``ready`` is set while
    listening (tests wait for it)."""

    def __init__(self, dsn: str, cache: TokenCache, *, connect_timeout: float = 5.0) -> None:
        self.dsn = dsn
        self.cache = cache
        self.connect_timeout = connect_timeout
        self.ready = asyncio.Event()
        self.connections = 0

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        apply_notification(self.cache, str(payload))

    async def run(self) -> None:
        backoff = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=self.connect_timeout)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, ev=lost: ev.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.cache.clear()  # whatever was revoked while nobody listened
                self.connections += 1
                self.ready.set()
                backoff = 0.5
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), _PING_SECONDS)
                    if not lost.is_set():
                        await conn.execute("SELECT 1")  # a dead link shows here
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the listener must outlive any outage
                log.warning("token invalidation listener: %s; reconnecting", type(exc).__name__)
            finally:
                self.ready.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2.0)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


@asynccontextmanager
async def invalidation_lifespan(app: Litestar) -> AsyncGenerator[None, None]:
    """Listen for token revocations while the app serves (only when tokens are cached)."""
    settings = app.state.settings
    if settings.token_cache_seconds <= 0 or not settings.database_url:
        yield
        return
    listener = Listener(settings.database_url, app.state.token_cache)
    app.state.token_listener = listener
    async with running(listener.run(), "token-invalidation"):
        with contextlib.suppress(TimeoutError):
            # serve at once even if the database is slow; the cache time still bounds staleness
            await asyncio.wait_for(listener.ready.wait(), 2.0)
        yield
