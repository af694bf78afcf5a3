"""Planner API: scope, validation, JSON and CSV answers, suppression, and no id ever
leaving the database (checked on the raw bytes of every answer)."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.flows.rollup import advance, rollup_loop
from onecode.settings import Settings
from tests.conftest import World
from tests.support.flows_data import D, Dataset, build
from tests.support.problems import assert_problem

Client = AsyncTestClient[Litestar]
DAY = D.isoformat()
ENDPOINTS = ("arrivals", "od", "dwell", "origins", "heatmap", "bookings", "feedback")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests check shapes and arithmetic: an epsilon so large OpenDP adds 0
    (tests/privacy checks the noise at the real epsilon)."""
    return msgspec.structs.replace(settings, dp_epsilon=1e9)


async def _data(conn: asyncpg.Connection, world: World) -> Dataset:
    data = await build(conn, world)
    await advance(conn)
    return data


async def test_arrivals_json_for_a_planner(
    client: Client, conn: asyncpg.Connection, world: World
) -> None:
    data = await _data(conn, world)
    r = await client.get(
        "/v1/planner/arrivals",
        params={"from": DAY, "to": DAY, "grain": "hour", "venue": str(data.venue_a)},
        headers=world.auth("planner_x"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["window"]["from"] == DAY and body["window"]["k"] == 10
    assert body["window"]["scope"]["kind"] == "venue"
    rows = {row["bucket"]: row for row in body["rows"]}
    assert rows["2026-05-04T10:00"] == {
        "bucket": "2026-05-04T10:00",
        "visits": None,
        "visitors": None,
        "suppressed": True,
    }
    assert rows["2026-05-04T14:00"]["visits"] == 15
    assert body["total_visits"] == 36  # arrivals: first entries of the traveller-day
    assert body["window"]["noise"]["released_through"] == DAY
    assert body["window"]["noise"]["totals_add_up"] is False  # released from the raw cells
    # the region and the child region of planner x answer too
    for region in ("CN-GZ", "CN-GZ-AS"):
        r = await client.get(
            "/v1/planner/arrivals",
            params={"from": DAY, "to": DAY, "region": region},
            headers=world.auth("planner_x"),
        )
        assert r.status_code == 200, r.text


async def test_csv_by_accept_and_by_format(
    client: Client, conn: asyncpg.Connection, world: World
) -> None:
    data = await _data(conn, world)
    params = {"from": DAY, "to": DAY, "grain": "hour", "venue": str(data.venue_a)}
    by_accept = await client.get(
        "/v1/planner/arrivals",
        params=params,
        headers={**world.auth("planner_x"), "Accept": "text/csv"},
    )
    by_format = await client.get(
        "/v1/planner/arrivals", params={**params, "format": "csv"}, headers=world.auth("admin")
    )
    for r in (by_accept, by_format):
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_accept.content == by_format.content
    rows = list(csv.DictReader(io.StringIO(by_accept.text)))
    # the noise of each noised column, ±N at 95% (tests/privacy checks its size)
    assert list(rows[0]) == [
        "bucket",
        "visits",
        "visitors",
        "suppressed",
        "visits_ci95",
        "visitors_ci95",
    ]
    assert len(rows) == 24
    cells = {row["bucket"]: row for row in rows}
    assert cells["2026-05-04T10:00"] == {
        "bucket": "2026-05-04T10:00",
        "visits": "",
        "visitors": "",
        "suppressed": "true",
        "visits_ci95": "0",
        "visitors_ci95": "0",
    }
    assert cells["2026-05-04T14:00"]["visits"] == "15"
    assert cells["2026-05-04T19:00"]["suppressed"] == "false"
    od = await client.get(
        "/v1/planner/od",
        params={"from": DAY, "to": DAY, "region": "CN-GZ", "format": "csv"},
        headers=world.auth("planner_x"),
    )
    assert od.text.splitlines()[0] == "from,to,trips,suppressed,trips_ci95"


@pytest.fixture
async def k1_client(settings: Settings) -> AsyncIterator[Client]:
    """The same database served with k = 1: every count published, ids still never."""
    app = create_app(msgspec.structs.replace(settings, k_anonymity=1))
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as c:
        yield c


async def test_no_answer_contains_an_id(
    client: Client, k1_client: Client, conn: asyncpg.Connection, world: World
) -> None:
    data = await _data(conn, world)
    forms = set()
    for secret in data.secret_ids:
        forms |= {str(secret), secret.hex, str(secret).upper(), secret.hex.upper()}
    answers: list[bytes] = []
    for c in (client, k1_client):
        for endpoint in ENDPOINTS:
            for scope in ({"region": "CN-GZ"}, {"venue": str(data.venue_a)}):
                for fmt in ("json", "csv"):
                    r = await c.get(
                        f"/v1/planner/{endpoint}",
                        params={"from": DAY, "to": DAY, "format": fmt, **scope},
                        headers=world.auth("admin"),
                    )
                    assert r.status_code == 200, (endpoint, r.text)
                    answers.append(r.content)
        for fmt in ("json", "csv"):
            r = await c.get(
                "/v1/planner/occupancy",
                params={"venue": str(data.venue_a), "date": DAY, "format": fmt},
                headers=world.auth("admin"),
            )
            assert r.status_code == 200, r.text
            answers.append(r.content)
    assert len(answers) == 2 * (len(ENDPOINTS) * 4 + 2)
    for body in answers:
        text = body.decode()
        leaked = [f for f in forms if f in text]
        assert not leaked, leaked
        assert "Traveller " not in text  # display names
    # with k = 1 the numbers really are there (the check above is not vacuous)
    r = await k1_client.get(
        "/v1/planner/origins",
        params={"from": DAY, "to": DAY, "region": "CN-GZ"},
        headers=world.auth("admin"),
    )
    assert {row["home_region"]: row["visitors"] for row in r.json()["rows"]} == {
        "unknown": 15,
        "CN-BJ": 24,
        "CN-SH": 18,
        "other": 0,
    }


async def test_scope_is_enforced(client: Client, conn: asyncpg.Connection, world: World) -> None:
    data = await _data(conn, world)
    x = world.auth("planner_x")
    base = {"from": DAY, "to": DAY}
    for endpoint in ENDPOINTS:
        r = await client.get(
            f"/v1/planner/{endpoint}", params={**base, "venue": str(data.venue_b)}, headers=x
        )
        assert_problem(r, 404, "venues.not_found")
        r = await client.get(
            f"/v1/planner/{endpoint}", params={**base, "region": "CN-YN"}, headers=x
        )
        assert_problem(r, 404, "regions.not_found")
    assert_problem(
        await client.get("/v1/planner/od", params={**base, "region": "CN-ZZ"}, headers=x),
        404,
        "regions.not_found",
    )
    assert_problem(
        await client.get("/v1/planner/od", params={**base, "venue": str(uuid.uuid4())}, headers=x),
        404,
        "venues.not_found",
    )
    assert_problem(
        await client.get(
            "/v1/planner/occupancy", params={"venue": str(data.venue_b), "date": DAY}, headers=x
        ),
        404,
        "venues.not_found",
    )
    r = await client.get(
        "/v1/planner/dwell",
        params={**base, "venue": str(data.venue_a)},
        headers=world.auth("planner_y"),
    )
    assert_problem(r, 404, "venues.not_found")
    # planner y sees its own venue; a single-region planner may omit the scope
    r = await client.get("/v1/planner/arrivals", params=base, headers=world.auth("planner_y"))
    assert r.status_code == 200 and r.json()["window"]["scope"]["region"] == "CN-YN"
    # the admin must name a scope
    r = await client.get("/v1/planner/arrivals", params=base, headers=world.auth("admin"))
    assert_problem(r, 422, "planner.bad_scope")
    assert_problem(
        await client.get("/v1/planner/arrivals", params=base, headers=world.auth("operator_a")),
        403,
    )
    assert_problem(await client.get("/v1/planner/arrivals", params=base), 401)


async def test_bad_input_is_a_clean_4xx(client: Client, world: World) -> None:
    x = world.auth("planner_x")
    for params in (
        {"from": "2026-05-04", "to": "2026-05-03"},
        {"from": "2025-01-01", "to": "2026-01-02"},  # 367 days
        {"to": "2026-05-03"},
        {},
    ):
        r = await client.get(
            "/v1/planner/arrivals", params={**params, "region": "CN-GZ"}, headers=x
        )
        assert_problem(r, 422, "planner.bad_range")
    r = await client.get(
        "/v1/planner/arrivals",
        params={"from": "2025-01-01", "to": "2025-12-31", "region": "CN-GZ"},  # 365 days
        headers=x,
    )
    assert r.status_code == 200
    for params in (
        {"from": "2026-13-01", "to": "2026-05-03"},
        {"from": DAY, "to": DAY, "grain": "week"},
        {"from": DAY, "to": DAY, "format": "xml"},
        {"from": DAY, "to": DAY, "region": "not a region"},
        {"from": DAY, "to": DAY, "venue": "not-a-uuid"},
    ):
        r = await client.get(
            "/v1/planner/arrivals", params={"region": "CN-GZ", **params}, headers=x
        )
        assert_problem(r, 400)
    r = await client.get("/v1/planner/occupancy", params={"date": DAY}, headers=x)
    assert_problem(r, 400)


async def test_openapi_lists_the_planner(client: Client) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    for endpoint in (*ENDPOINTS, "occupancy"):
        assert f"/v1/planner/{endpoint}" in doc["paths"]


async def test_rollup_loop_survives_database_errors(
    db_url: str, conn: asyncpg.Connection, world: World
) -> None:
    data = await build(conn, world)
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    assert pool is not None
    await conn.execute("ALTER FUNCTION flows_advance(boolean) RENAME TO flows_advance_hidden")
    task = asyncio.create_task(rollup_loop(pool, 0.05))
    try:
        await asyncio.sleep(0.3)  # several failing ticks
        assert not task.done()
        await conn.execute("ALTER FUNCTION flows_advance_hidden(boolean) RENAME TO flows_advance")
        for _ in range(100):
            if await conn.fetchval("SELECT advances FROM flow_watermark"):
                break
            await asyncio.sleep(0.05)
        assert await conn.fetchval("SELECT advances FROM flow_watermark") >= 1
        assert (
            await conn.fetchval(
                "SELECT sum(entries) FROM flow_visit_hours WHERE venue_id = $1", data.venue_a
            )
            == 51
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()


async def test_service_lifespan_advances(settings: Settings, conn: asyncpg.Connection) -> None:
    app = create_app(msgspec.structs.replace(settings, rollup_interval_seconds=0.05))
    async with AsyncTestClient(app=app):
        for _ in range(100):
            if await conn.fetchval("SELECT advances FROM flow_watermark"):
                break
            await asyncio.sleep(0.05)
    assert await conn.fetchval("SELECT advances FROM flow_watermark") >= 1
