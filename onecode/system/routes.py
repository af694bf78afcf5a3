"""`/healthz` (process alive) and `/readyz` (the database answers within 2 s)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import get
from litestar.datastructures import State

from onecode.errors import Unavailable


class Health(msgspec.Struct, frozen=True):
    status: str


@get("/healthz", tags=["system"], include_in_schema=True)
async def healthz() -> Health:
    """The process is alive."""
    return Health("ok")


@get("/readyz", tags=["system"])
async def readyz(state: State) -> Health:
    """200 when the database answers, 503 otherwise (within 2 s)."""
    try:
        async with asyncio.timeout(2.0):
            conn = await state.pool.acquire(timeout=1.5)
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await state.pool.release(conn)
    except Exception:  # any failure means not ready; no detail leaks out
        raise Unavailable(
            "The database does not answer.", "service.not_ready", headers={"Retry-After": "2"}
        ) from None
    return Health("ready")


ROUTES = [healthz, readyz]
