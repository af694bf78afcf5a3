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
    # one visitor from Tibet at A on D: the rare category of the attack
    rare = await conn.fetchval(
        "INSERT INTO travellers (id, display_name, home_region)"
        " VALUES (gen_random_uuid(), 'x', 'CN-XZ') RETURNING id"
    )
    await data.scan(conn, rare, "a", "in", at(D, 12, 30))
    await advance(conn)
    answers: dict[tuple[str, str], str] = {}
    for fmt in ("json", "csv"):
        for scope in ({"venue": str(data.venue_a)}, {"region": "CN-GZ"}):
            r = await client.get(
                "/v1/planner/origins",
                params={"from": DAY, "to": DAY, "format": fmt, **scope},
                headers=world.auth("planner_x"),
            )
            assert r.status_code == 200, r.text
            answers[(fmt, next(iter(scope)))] = r.text
            if fmt == "json":
                rows = r.json()["rows"]
                # a hidden row is never named: only the one "other" row can be hidden
                assert all(row["home_region"] == "other" for row in rows if row["suppressed"])
                assert rows[-1]["home_region"] == "other"
            else:
                assert "\r\nother," in r.text
    # the venue's one visitor from CN-XZ stands far below the noise a region without
    # visitors could reach (29 here): not named, in JSON or CSV (its noisy count
    # reaches that with probability about 0.2%)
    for fmt in ("json", "csv"):
        assert "CN-XZ" not in answers[(fmt, "venue")], answers[(fmt, "venue")]
