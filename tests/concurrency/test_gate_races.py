"""Gate scans racing: many gates of one venue scanning one single-entry pass at once
admit it exactly once; racing exits and entries keep the counters exact."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.api.test_gates import book, new_gate, scan, traveller_with_code
from tests.conftest import World
from tests.support.db import walk_in_venue

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
    assert await conn.fetchval("SELECT sum(ins) FROM venue_counters") == 6
    assert await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'used'") == 3


@pytest.mark.parametrize(
    ("rule", "entries_before", "accepts"), [("single", 0, 1), ("daily:3", 2, 1)]
)
async def test_racing_scans_on_many_connections_calling_gate_scan_directly(
    world: World,
    conn: asyncpg.Connection,
    db_url: str,
    rule: str,
    entries_before: int,
    accepts: int,
) -> None:
    """The database function alone serializes: 32 connections, one pass, and exactly
    the entries the rule allows (with and without an existing presence row)."""
    await world.traveller("t")
    venue_id = uuid.UUID(world.ids["venue_a"])
    (row,) = await walk_in_venue(conn, venue_id, rule)
    gate_id = uuid.UUID(world.ids["gate_a"])
    sql = "SELECT decision FROM gate_scan($1, $2, $3, 'in', now(), 'ok', $4, $5, NULL, NULL)"
    out = "SELECT reason FROM gate_scan($1, $2, $3, 'out', now(), 'ok', $4, $5, NULL, NULL)"
    for _ in range(entries_before):
        assert await conn.fetchval(sql, gate_id, venue_id, uuid.uuid4(), *row) == "accept"
        assert await conn.fetchval(out, gate_id, venue_id, uuid.uuid4(), *row) == "ok"
    conns = [await asyncpg.connect(db_url) for _ in range(32)]
    try:
        # line every connection up behind one lock so that they all start together
        await conn.execute("SELECT pg_advisory_lock(42)")

        async def one(c: asyncpg.Connection) -> str:
            await c.execute("SELECT pg_advisory_lock_shared(42)")
            try:
                return str(await c.fetchval(sql, gate_id, venue_id, uuid.uuid4(), *row))
            finally:
                await c.execute("SELECT pg_advisory_unlock_shared(42)")

        tasks = [asyncio.create_task(one(c)) for c in conns]
        await asyncio.sleep(0.3)
        await conn.execute("SELECT pg_advisory_unlock(42)")
        decisions = await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    assert decisions.count("accept") == accepts, decisions
    assert await conn.fetchval("SELECT entries FROM presence") == entries_before + accepts
    assert await conn.fetchval("SELECT count(*) FROM scans") == 32 + 2 * entries_before


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
    assert await conn.fetchval("SELECT sum(ins) FROM venue_counters") == 1
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
    assert await conn.fetchval("SELECT sum(ins) FROM venue_counters") == 5


async def test_daily_n_pass_racing_at_many_gates_gets_exactly_n_entries(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue = await world.venue("CN-GZ-AS", "Temple", requires_booking=False, entry_rule="daily:3")
    gates = [await new_gate(world, venue["id"], f"g{i}") for i in range(4)]
    code = await traveller_with_code(world, "t")
    # two entries and exits make the presence row; the third entry races on its row lock
    for _ in range(2):
        assert (await scan(client, gates[0], code))["decision"] == "accept"
        assert (await scan(client, gates[1], code, "out"))["reason"] == "ok"
    answers = await asyncio.gather(*(scan(client, gates[i % 4], code) for i in range(20)))
    assert sum(a["decision"] == "accept" for a in answers) == 1
    assert {a["reason"] for a in answers if a["decision"] == "reject"} == {"already_used"}
    assert await conn.fetchval("SELECT entries FROM presence") == 3
    assert await conn.fetchval("SELECT sum(ins) FROM venue_counters") == 3


async def test_accepts_through_one_gate_do_not_wait_for_each_others_commit(
    world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    """No hot row per gate (issue #20): while one session's accepted scan is not yet
    committed, another session's accepted scan through the same gate completes (the
    occupancy counter is striped by session). Before, both added to the gate's one
    counter row, and the second waited for the first to commit."""
    for tag in ("a", "b"):
        await world.traveller(tag)
    venue_id = uuid.UUID(world.ids["venue_a"])
    creds = await walk_in_venue(conn, venue_id)
    await conn.execute(
        "UPDATE venues SET capacity_instant = 1000000, occupancy_cap_pct = 80 WHERE id = $1",
        venue_id,
    )
    gate_id = uuid.UUID(world.ids["gate_a"])
    assert len(creds) == 2
    sql = "SELECT decision FROM gate_scan($1, $2, $3, 'in', now(), 'ok', $4, $5, NULL, NULL)"
    # two sessions on different stripes (the stripe is the backend pid modulo 16)
    pool = [await asyncpg.connect(db_url) for _ in range(8)]
    try:
        stripes = {int(await c.fetchval("SELECT onecode_counter_stripe()")): c for c in pool}
        assert len(stripes) >= 2
        first, second = list(stripes.values())[:2]
        async with first.transaction():
            assert await first.fetchval(sql, gate_id, venue_id, uuid.uuid4(), *creds[0]) == (
                "accept"
            )
            async with second.transaction():
                decided = second.fetchval(sql, gate_id, venue_id, uuid.uuid4(), *creds[1])
                assert await asyncio.wait_for(decided, timeout=5) == "accept"
    finally:
        await asyncio.gather(*(c.close() for c in pool))
    assert await conn.fetchval("SELECT sum(ins) FROM venue_counters") == 2
    assert await conn.fetchval("SELECT count(*) FROM venue_counters") == 2
