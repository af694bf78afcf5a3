"""Test setup for visits while the online gate is built elsewhere: an accepted entry is
a ``scans`` row written straight into the database, as the gate would record it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from tests.conftest import World


async def insert_entry_scan(
    conn: asyncpg.Connection,
    world: World,
    traveller: str,
    *,
    venue: str = "a",
    at: datetime | None = None,
    decision: str = "accept",
    direction: str = "in",
) -> None:
    """TEST SETUP: a gate scan of ``traveller_<traveller>`` at ``venue_<venue>``."""
    await conn.execute(
        "INSERT INTO scans (gate_id, scan_id, venue_id, traveller_id, direction, decision,"
        " reason, party_size, device_time) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)",
        uuid.UUID(world.ids[f"gate_{venue}"]),
        uuid.uuid4(),
        uuid.UUID(world.ids[f"venue_{venue}"]),
        uuid.UUID(world.ids[f"traveller_{traveller}"]),
        direction,
        decision,
        "ok" if decision == "accept" else "no_booking",
        at or datetime.now(UTC),
    )
