"""Item 4 of issue #16: raw whereabouts are deleted after the retention period, the
released aggregates stay and answer exactly as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.auth import ADMIN_ID, Kind, Principal
from onecode.flows import privacy, service
from onecode.flows.retention import retain
from onecode.flows.rollup import advance
from tests.conftest import World
from tests.support.flows_data import D, build

ADMIN = Principal(kind=Kind.ADMIN, id=ADMIN_ID)
PARAMS = privacy.Params()
RAW = ("scans", "checkins", "flow_visit_hours", "flow_dwell", "flow_trips")


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in RAW}


async def test_an_aggregate_survives_the_deletion_of_its_raw_rows(
    conn: asyncpg.Connection, world: World
) -> None:
    data = await build(conn, world)  # day D is 2026-05-04
    recent = datetime.now(UTC) - timedelta(days=2)
    await data.scan(conn, data.g1[0], "a", "in", recent)  # kept: inside the period
    await advance(conn)
    region = await service.resolve_scope(conn, ADMIN, "CN-GZ", None)
    p = service.Privacy(1, PARAMS)
    before = await service.arrivals(conn, region, D, D, "hour", 1, p=p)
    origins_before = await service.origins(conn, region, D, D, 1, p=p)
    assert (await _counts(conn))["scans"] > 100

    # 180 days after 2026-06-01: D's raw rows expire, the recent scan does not
    done = await retain(conn, 180, PARAMS, now=datetime(2026, 11, 28, tzinfo=UTC))
    assert done.scans > 100 and done.checkins == 9 and done.visit_hours > 0
    left = await _counts(conn)
    assert left["scans"] == 1 and left["checkins"] == 0
    assert left["flow_visit_hours"] == 1 and left["flow_dwell"] == 0 and left["flow_trips"] == 0
    assert await conn.fetchval("SELECT count(*) FROM flow_occupancy_hours") > 0

    after = await service.arrivals(conn, region, D, D, "hour", 1, p=p)
    assert after.rows == before.rows and after.total_visits == before.total_visits
    assert (await service.origins(conn, region, D, D, 1, p=p)).rows == origins_before.rows
    occ = await service.occupancy(conn, ADMIN, data.venue_a, D, 1, p=p)
    assert [h.level for h in occ.hours if h.level != "green"] == ["orange"] * 4


async def test_nothing_goes_before_it_is_released_and_rolled_up(
    conn: asyncpg.Connection, world: World
) -> None:
    await build(conn, world)  # not advanced: the watermark has consumed nothing
    done = await retain(conn, 180, PARAMS, now=datetime(2026, 11, 28, tzinfo=UTC))
    assert (done.scans, done.checkins) == (0, 0)
    assert (await _counts(conn))["scans"] > 100


async def test_admin_sees_the_releases(
    client: AsyncTestClient[Litestar], conn: asyncpg.Connection, world: World
) -> None:
    await build(conn, world)
    await advance(conn)
    await privacy.ensure_released(conn, D, D, PARAMS)
    r = await client.get(
        "/v1/admin/releases",
        params={"from": D.isoformat(), "to": D.isoformat()},
        headers=world.auth("admin"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["epsilon_per_traveller_day"] == 4.0 and body["k"] == 10
    assert body["params"]["indicators"]["visitors"]["scale"] == 3.0
    assert [(d["local_day"], d["epsilon"]) for d in body["days"]] == [(D.isoformat(), 4.0)]
    assert body["days"][0]["cells"] > 100
    r = await client.get(
        "/v1/admin/releases",
        params={"from": D.isoformat(), "to": D.isoformat()},
        headers=world.auth("planner_x"),
    )
    assert r.status_code == 403


async def test_rollup_command_releases_the_closed_days(
    db_url: str, conn: asyncpg.Connection, world: World
) -> None:
    from onecode.flows import cli

    await build(conn, world)
    assert await cli._run(db_url, False, 0.0, PARAMS) > 0
    days = [r["local_day"] for r in await conn.fetch("SELECT local_day FROM flow_release_days")]
    assert D in days and D + timedelta(days=1) in days
