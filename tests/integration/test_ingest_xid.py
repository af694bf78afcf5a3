"""The rollup watermark's premise (deploy/README.md, "The rollup watermark needs every
write to go through the coordinator"): a scan's ``ingest_xid`` is the id of the writing
transaction as the coordinator numbers it. On one PostgreSQL this holds by construction;
in the Citus layout (``ONECODE_TEST_LAYOUT=citus``) it checks that the column default is
evaluated on the coordinator, not on the worker that stores the row."""

from __future__ import annotations

import uuid

import asyncpg

from tests.conftest import World
from tests.support.db import walk_in_venue


async def test_a_scans_ingest_xid_is_the_coordinators_transaction_id(
    world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("t")
    venue_id = uuid.UUID(world.ids["venue_a"])
    (cred,) = await walk_in_venue(conn, venue_id)
    scan_id = uuid.uuid4()
    async with conn.transaction():
        xid = await conn.fetchval("SELECT pg_current_xact_id()::text")
        decision = await conn.fetchval(
            "SELECT decision FROM gate_scan($1, $2, $3, 'in', now(), 'ok', $4, $5, NULL, NULL)",
            uuid.UUID(world.ids["gate_a"]),
            venue_id,
            scan_id,
            *cred,
        )
        assert decision == "accept"
    stored = await conn.fetchval(
        "SELECT ingest_xid::text FROM scans WHERE scan_id = $1 AND traveller_id = $2",
        scan_id,
        uuid.UUID(world.ids["traveller_t"]),
    )
    assert stored == xid
