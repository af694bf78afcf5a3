"""The connection pool and a request's lease on it.

Handlers get a pooled connection per request through the ``conn`` dependency and
open a transaction only where the work needs one. Acquiring waits at most
``db_acquire_timeout``: a dead database answers 503 fast instead of hanging.

The connection is a lease: the ``conn`` dependency takes it and gives it back as soon as
the handler is done (before the answer is written: under load a finished request may
wait its turn on the event loop, and must not hold a connection meanwhile), and
``connection_middleware`` gives it back when the request is over, whatever happened.
The middleware is the safety net: when a later dependency of the same handler raises
(a 422 on a bad query parameter, say), Litestar drops the cleanup of the generator
dependencies it already ran, and the connection would otherwise never return.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import asyncpg
from litestar import Request
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from onecode.errors import Unavailable
from onecode.settings import Settings

Pool = asyncpg.Pool
Connection = asyncpg.Connection
# what a handler declares to get the request's pooled connection
Conn = NamedDependency[asyncpg.Connection]


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's default reset round trip (``RESET ALL; UNLISTEN *;
    SELECT pg_advisory_unlock_all(); …``). asyncpg still rolls back a stray transaction
    first; onecode sets no session state (no SET, LISTEN or session advisory locks on
    pooled connections), so the reset would be a wasted round trip on every request."""


async def create_pool(dsn: str, settings: Settings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        command_timeout=settings.db_command_timeout,
        init=_init_connection,
        reset=_keep_session,
        timeout=settings.db_acquire_timeout,
        max_inactive_connection_lifetime=300,
    )
    assert pool is not None
    return pool


async def acquire(pool: asyncpg.Pool, timeout: float) -> Any:  # noqa: ASYNC109
    try:
        return await pool.acquire(timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise Unavailable(
            "The database does not answer; try again shortly.", headers={"Retry-After": "2"}
        ) from exc


class Lease:
    """One request's claim on the pool: acquired on first use, released once."""

    __slots__ = ("conn", "pool", "timeout")

    def __init__(self, pool: asyncpg.Pool, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        self.conn: Any = None

    async def get(self) -> Any:
        if self.conn is None:
            self.conn = await acquire(self.pool, self.timeout)
        return self.conn

    async def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.pool.release(conn)


def connection_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request a lease on the pool and always end it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        state = scope["app"].state
        lease = Lease(state.pool, state.settings.db_acquire_timeout)
        scope.setdefault("state", {})["db_lease"] = lease
        try:
            await app(scope, receive, send)
        finally:
            await lease.release()

    return middleware


async def provide_conn(request: Request[Any, Any, Any]) -> AsyncGenerator[asyncpg.Connection, None]:
    """Litestar dependency: the request's pooled connection, returned after the handler."""
    lease: Lease = request.scope["state"]["db_lease"]
    conn: asyncpg.Connection = await lease.get()
    try:
        yield conn
    finally:
        await lease.release()
