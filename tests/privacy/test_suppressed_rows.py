"""Attack 3 of issue #16: a suppressed row must not name its category. A home region
below k is folded into one unnamed "other" row, in JSON and in CSV alike."""

from __future__ import annotations

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.flows.rollup import advance
from tests.conftest import World
from tests.support.flows_data import D, at, build

Client = AsyncTestClient[Litestar]
DAY = D.isoformat()


async def test_origins_never_name_a_rare_home_region(
    client: Client, conn: asyncpg.Connection, world: World
) -> None:
    data = await build(conn, world)
    # one visitor from CN-11 at A on D: the rare category of the attack
    rare = await conn.fetchval(
        "INSERT INTO travellers (id, display_name, home_region)"
        " VALUES (gen_random_uuid(), 'x', 'CN-11') RETURNING id"
    )
    await data.scan(conn, rare, "a", "in", at(D, 12, 30))
    await advance(conn)
    for fmt in ("json", "csv"):
        for scope in ({"venue": str(data.venue_a)}, {"region": "CN-GZ"}):
            r = await client.get(
                "/v1/planner/origins",
                params={"from": DAY, "to": DAY, "format": fmt, **scope},
                headers=world.auth("planner_x"),
            )
            assert r.status_code == 200, r.text
            for rare_label in ("CN-11", "CN-SH"):  # 1 and 9 visitors: both below k
                assert rare_label not in r.text, (fmt, scope, r.text)
            assert "other" in r.text
