"""Many planners asking about the same closed day at once release it once: one set of
noisy cells, never two draws (which could then be averaged) and never a key clash."""

from __future__ import annotations

import asyncio

import asyncpg

from onecode.flows import privacy
from onecode.flows.rollup import advance
from tests.conftest import World
from tests.support.flows_data import D, build


async def test_concurrent_questions_release_a_day_once(
    db_url: str, conn: asyncpg.Connection, world: World
) -> None:
    await build(conn, world)
    await advance(conn)
    conns = [await asyncpg.connect(db_url) for _ in range(8)]
    try:
        results = await asyncio.gather(
            *(privacy.ensure_released(c, D, D, privacy.DEFAULT) for c in conns)
        )
    finally:
        for c in conns:
            await c.close()
    assert all(r == [D] for r in results)
    assert await conn.fetchval("SELECT count(*) FROM flow_release_days") == 1
    venues = await conn.fetchval(
        "SELECT count(DISTINCT venue_id) FROM flow_releases WHERE local_day = $1", D
    )
    per_venue = await conn.fetch(
        "SELECT venue_id, count(*) AS n FROM flow_releases WHERE local_day = $1 GROUP BY 1", D
    )
    # A and C (B opens on D + 1 in this data); one cell per (venue, indicator, bucket):
    # 68, and one trip cell to the other venue of their top region CN-GZ
    assert venues == 2
    assert sorted(int(r["n"]) for r in per_venue) == [69, 69]
