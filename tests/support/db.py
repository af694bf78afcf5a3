"""Reading the test database: the row a test expects, or a clear failure."""

from __future__ import annotations

import asyncpg


async def fetch_row(conn: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    """The one row ``query`` must find: fails on no row, rather than indexing ``None``."""
    row = await conn.fetchrow(query, *args)
    assert row is not None, f"no row: {query}"
    return row


async def walk_in_venue(
    conn: asyncpg.Connection, venue_id: object, rule: str = "reentry"
) -> list[asyncpg.Record]:
    """TEST SETUP for calling gate_scan() directly: the venue admits without booking or
    live code under ``rule``; the credentials' (cred_id, generation), by cred_id."""
    await conn.execute(
        "UPDATE venues SET requires_booking = false, entry_rule = $2, live_code_required = false"
        " WHERE id = $1",
        venue_id,
        rule,
    )
    return list(await conn.fetch("SELECT cred_id, generation FROM credentials ORDER BY cred_id"))
