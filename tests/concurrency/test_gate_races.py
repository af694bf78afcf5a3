"""Gate scans racing: many gates of one venue scanning one single-entry pass at once
admit it exactly once; racing exits and entries keep the counters exact."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.api.test_gates import book, new_gate, scan, traveller_with_code
from tests.conftest import World

Client = AsyncTestClient[Litestar]


async def test_many_gates_one_single_entry_pass_exactly_one_accept(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue_id = world.ids["venue_a"]
    gates = [world.tokens["gate_a"]] + [await new_gate(world, venue_id, f"g{i}") for i in range(5)]
    for round_ in range(3):
        tag = f"r{round_}"
        code = await traveller_with_code(world, tag)
        await book(client, conn, world, tag, venue_id, party_size=2)
        answers = await asyncio.gather(*(scan(client, gates[i % 6], code) for i in range(24)))
        accepted = [a for a in answers if a["decision"] == "accept"]
        assert len(accepted) == 1, answers
        assert {a["reason"] for a in answers if a["decision"] == "reject"} == {"already_used"}
    # every scan stored once; counters count the three parties once each
    assert await conn.fetchval("SELECT count(*) FROM scans") == 72
    assert await conn.fetchval("SELECT count(*) FROM scans WHERE decision = 'accept'") == 3
    assert await conn.fetchval("SELECT sum(ins) FROM gate_counters") == 6
    assert await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'used'") == 3


async def test_racing_scans_on_many_connections_calling_gate_scan_directly(
    world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    """The database function alone serializes: 32 connections, one pass, one accept."""
    code = await traveller_with_code(world, "t")
    del code
    venue_id = uuid.UUID(world.ids["venue_a"])
    await conn.execute(
        "UPDATE venues SET requires_booking = false, entry_rule = 'single' WHERE id = $1", venue_id
    )
    gate_ids = [uuid.UUID(world.ids["gate_a"])]
    row = await conn.fetchrow("SELECT cred_id, generation FROM credentials")
    assert row is not None
    conns = [await asyncpg.connect(db_url) for _ in range(32)]
    try:
        now = datetime.now(UTC)

        async def one(c: asyncpg.Connection) -> str:
            rec = await c.fetchrow(
                "SELECT decision FROM gate_scan($1, $2, $3, 'in', $4, 'ok', $5, $6, NULL, NULL)",
                gate_ids[0],
                venue_id,
                uuid.uuid4(),
                now,
                row["cred_id"],
                row["generation"],
            )
            assert rec is not None
            return str(rec["decision"])

        decisions = await asyncio.gather(*(one(c) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    assert decisions.count("accept") == 1
    assert await conn.fetchval("SELECT entries FROM presence") == 1


async def test_racing_retries_of_one_scan_write_one_row_and_count_once(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue = await world.venue("CN-GZ-AS", "Park", requires_booking=False, entry_rule="reentry")
    gate = await new_gate(world, venue["id"], "g")
    code = await traveller_with_code(world, "t")
    sid = str(uuid.uuid4())
    answers = await asyncio.gather(*(scan(client, gate, code, scan_id=sid) for _ in range(16)))
    assert all(a == answers[0] for a in answers)
    assert answers[0]["decision"] == "accept"
    assert await conn.fetchval("SELECT count(*) FROM scans") == 1
    assert await conn.fetchval("SELECT sum(ins) FROM gate_counters") == 1
    # many travellers racing in and out through several gates: inside stays exact
    gates = [gate] + [await new_gate(world, venue["id"], f"g{i}") for i in range(3)]
    codes = [await traveller_with_code(world, f"p{i}") for i in range(12)]
    await asyncio.gather(*(scan(client, gates[i % 4], c) for i, c in enumerate(codes)))
    await asyncio.gather(
        *(scan(client, gates[(i + 1) % 4], c, "out") for i, c in enumerate(codes[:5]))
    )
    live = await client.get(f"/v1/venues/{venue['id']}/live", headers=world.auth("admin"))
    assert live.json()["inside"] == 1 + 12 - 5


async def test_occupancy_cap_holds_under_racing_gates(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue = await world.venue(
        "CN-GZ-AS",
        "Cave",
        requires_booking=False,
        entry_rule="reentry",
        capacity_instant=10,
        occupancy_cap_pct=50,
    )
    gates = [await new_gate(world, venue["id"], f"g{i}") for i in range(4)]
    codes = [await traveller_with_code(world, f"c{i}") for i in range(16)]
    answers = await asyncio.gather(*(scan(client, gates[i % 4], c) for i, c in enumerate(codes)))
    assert sum(a["decision"] == "accept" for a in answers) == 5
    assert {a["reason"] for a in answers if a["decision"] == "reject"} == {"venue_full"}
    assert await conn.fetchval("SELECT sum(ins) FROM gate_counters") == 5
