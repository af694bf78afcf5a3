"""Group commit of online scans (onecode/gates/batching.py, gate_scan_batch()): scans
of a busy venue decided together in one transaction each answer as alone, never wait on
each other in a circle, and one scan's failure is never another's answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import msgspec

from onecode.app import create_app
from onecode.gates.batching import ScanGroups
from onecode.gates.service import ScanArgs
from onecode.settings import Settings
from tests.api.test_gates import new_gate, scan, traveller_with_code
from tests.conftest import World
from tests.support.db import walk_in_venue
from tests.support.servers import serving


async def test_racing_scans_of_one_venue_commit_in_groups_and_answer_as_alone(
    world: World, conn: asyncpg.Connection, settings: Settings
) -> None:
    """64 scans at once through 8 gates: 16 travellers, each scanned 4 times (so groups
    in flight share travellers), with 4 groups of at most 8 in flight. Each traveller is
    admitted once (single entry), the rest is already_used; scans were grouped, and no
    group had to be decided again one by one (no deadlock between groups)."""
    venue = await world.venue("CN-GZ-AS", "Falls", requires_booking=False, entry_rule="single")
    gates = [await new_gate(world, venue["id"], f"g{i}") for i in range(8)]
    codes = [await traveller_with_code(world, f"t{i}") for i in range(16)]
    app = create_app(msgspec.structs.replace(settings, scan_group_lanes=4, scan_group_max=8))
    with serving(app) as url:  # real HTTP: 64 requests truly in flight at once
        groups: ScanGroups = app.state.scan_groups
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            answers = await asyncio.gather(
                *(scan(http, gates[i % 8], codes[i % 16]) for i in range(64))
            )
    accepted = [a for a in answers if a["decision"] == "accept"]
    assert len(accepted) == 16, answers
    assert {a["reason"] for a in answers if a["decision"] == "reject"} == {"already_used"}
    assert await conn.fetchval("SELECT count(*) FROM scans") == 64
    assert await conn.fetchval("SELECT sum(ins) FROM venue_counters") == 16
    assert groups.groups >= 1 and groups.grouped_scans > groups.groups, (
        groups.groups,
        groups.grouped_scans,
    )
    assert groups.fallbacks == 0


async def test_a_failing_scan_in_a_group_fails_alone(
    world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    """Five scans submitted together, one of them broken at the database (a direction
    the scans table refuses): the group fails as a whole, is decided again one by one,
    and only the broken scan gets the error; the four others are accepted and stored."""
    for i in range(4):
        await world.traveller(f"t{i}")
    venue_id = uuid.UUID(world.ids["venue_a"])
    gate_id = uuid.UUID(world.ids["gate_a"])
    creds = await walk_in_venue(conn, venue_id)
    now = datetime.now(UTC)

    def args(cred: bytes, generation: int, direction: str = "in") -> ScanArgs:
        return ScanArgs(gate_id, uuid.uuid4(), direction, now, "ok", cred, generation, None, None)

    items = [args(c["cred_id"], c["generation"]) for c in creds]
    items.insert(2, args(creds[0]["cred_id"], creds[0]["generation"], "sideways"))
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        # one lane: the first scan goes alone, the other five wait and form one group
        groups = ScanGroups(pool, 2.0, max_group=16, lanes=1)
        outcomes = await asyncio.gather(
            *(groups.decide(venue_id, a) for a in items), return_exceptions=True
        )
    finally:
        await pool.close()
    assert groups.fallbacks == 1
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], asyncpg.CheckViolationError)
    assert isinstance(outcomes[2], asyncpg.CheckViolationError)
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    assert [o["decision"] for o in ok] == ["accept"] * 4
    assert await conn.fetchval("SELECT count(*) FROM scans") == 4
