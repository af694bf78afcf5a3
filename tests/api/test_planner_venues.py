"""The dashboard's venue list comes from the server, in the planner's scope and busiest
first; origins carry region names in the answer's language."""

from __future__ import annotations

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.flows.rollup import advance
from onecode.settings import Settings
from tests.conftest import ADMIN, World
from tests.support.flows_data import D, build

Client = AsyncTestClient[Litestar]
DAY = D.isoformat()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """An epsilon so large OpenDP adds 0: the order and the names are the point here."""
    return msgspec.structs.replace(settings, dp_epsilon=1e9)


async def test_venues_are_the_scope_busiest_first(
    client: Client, conn: asyncpg.Connection, world: World
) -> None:
    # alphabetically first, gated, and empty: occupancy used to open on it
    empty = await world.venue("CN-GZ", "Aaa Empty Museum")
    data = await build(conn, world)
    await advance(conn)
    r = await client.get(
        "/v1/planner/venues",
        params={"region": "CN-GZ", "from": DAY, "to": DAY},
        headers=world.auth("planner_x"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    names = [v["name"] for v in body["items"]]
    # A (36 travellers) before C (21, ungated), then the venues below k by name
    assert names == ["Huangguoshu Waterfall", "Qingyan Ancient Town", "Aaa Empty Museum"]
    assert body["busiest"] == str(data.venue_a)
    assert body["next_cursor"] is None
    assert "Stone Forest" not in names  # Yunnan: outside planner x's regions
    assert empty["id"] in {v["id"] for v in body["items"]}
    assert set(body["items"][0]) == {"id", "name", "region_code", "gated"}  # no counts


async def test_venues_outside_the_scope_are_404(world: World) -> None:
    r = await world.client.get(
        "/v1/planner/venues",
        params={"region": "CN-YN", "from": DAY, "to": DAY},
        headers=world.auth("planner_x"),
    )
    assert r.status_code == 404
    assert r.json()["code"] == "regions.not_found"


async def test_origins_carry_region_names(
    client: Client, conn: asyncpg.Connection, world: World
) -> None:
    await build(conn, world)
    await advance(conn)
    params = {"from": DAY, "to": DAY, "region": "CN-GZ"}
    x = world.auth("planner_x")

    async def names(headers: dict[str, str]) -> dict[str, str | None]:
        r = await client.get("/v1/planner/origins", params=params, headers={**x, **headers})
        assert r.status_code == 200, r.text
        return {row["home_region"]: row["home_region_name"] for row in r.json()["rows"]}

    # no Accept-Language: the region's default language, zh-CN
    zh = {"CN-BJ": "北京", "CN-SH": "上海", "unknown": "未知", "other": "其他地区"}
    assert await names({}) == zh
    assert await names({"Accept-Language": "en"}) == {
        "CN-BJ": "Beijing",
        "CN-SH": "Shanghai",
        "unknown": "Unknown",
        "other": "Other regions",
    }
    # the admin sets English as the region's default
    r = await client.patch("/v1/admin/regions/CN-GZ", json={"default_locale": "en"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["default_locale"] == "en"
    assert (await names({}))["CN-BJ"] == "Beijing"
    assert (await names({"Accept-Language": "zh-CN"}))["CN-BJ"] == "北京"
    # and CSV has the column
    r = await client.get("/v1/planner/origins", params={**params, "format": "csv"}, headers=x)
    assert "home_region_name" in r.text.splitlines()[0].split(",")
