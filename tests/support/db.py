"""Reading the test database: the row a test expects, or a clear failure."""

from __future__ import annotations

import asyncpg


async def fetch_row(conn: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    """The one row ``query`` must find: fails on no row, rather than indexing ``None``."""
    row = await conn.fetchrow(query, *args)
    assert row is not None, f"no row: {query}"
    return row
