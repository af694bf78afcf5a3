"""The connection pool and its lifespan.

Handlers get a pooled connection per request through the ``conn`` dependency and
open a transaction only where the work needs one. Acquiring waits at most
``db_acquire_timeout``: a dead database answers 503 fast instead of hanging.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import asyncpg
from litestar.datastructures import State
from litestar.di import NamedDependency

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


async def provide_conn(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """Litestar dependency: one pooled connection for the request."""
    pool: asyncpg.Pool = state.pool
    conn = await acquire(pool, state.settings.db_acquire_timeout)
    try:
        yield conn
    finally:
        await pool.release(conn)
