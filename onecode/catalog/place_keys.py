"""The place-code secrets (table ``place_code_keys``): loaded for signing and checking
venues' place codes; a new venue gets its version-0 code here."""

from __future__ import annotations

import uuid

import asyncpg

from onecode.codes.place import PlaceKeys
from onecode.sql import Q


async def load_place_keys(conn: asyncpg.Connection) -> PlaceKeys:
    rows = await conn.fetch(Q()["catalog_select_place_keys"])
    return PlaceKeys({int(r["kid"]): bytes(r["secret"]) for r in rows})


async def initial_place_code(conn: asyncpg.Connection, venue_id: uuid.UUID) -> str:
    """The version-0 code of a new venue (the catalog signs it when it creates one)."""
    return (await load_place_keys(conn)).sign(venue_id, 0)
