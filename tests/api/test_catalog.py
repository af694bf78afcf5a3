"""Catalog through the API: admin creates, the public reads, guards refuse."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import ADMIN, World, bearer
from tests.support.problems import assert_problem

Client = AsyncTestClient[Litestar]


async def test_health_and_ready(client: Client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


async def test_openapi_is_served(client: Client) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    assert "/v1/admin/venues" in doc["paths"]


async def test_admin_builds_a_catalog_and_public_sees_slots(client: Client, world: World) -> None:
    venue_id = world.ids["venue_a"]
    start = (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=1, minute=0, second=0, microsecond=0
    )
    slots = [
        {
            "starts_at": (start + timedelta(hours=i)).isoformat(),
            "ends_at": (start + timedelta(hours=i + 1)).isoformat(),
            "capacity": 50 + i,
        }
        for i in range(3)
    ]
    r = await client.post(
        f"/v1/venues/{venue_id}/slots", json={"slots": slots}, headers=world.auth("operator_a")
    )
    assert r.status_code == 201, r.text
    created = r.json()["slots"]
    assert [s["capacity"] for s in created] == [50, 51, 52]
    assert all(s["remaining"] == s["capacity"] for s in created)

    local_day = (start + timedelta(hours=8)).date().isoformat()  # Asia/Shanghai day
    r = await client.get(f"/v1/venues/{venue_id}/slots", params={"date": local_day})
    assert r.status_code == 200
    listed = r.json()["items"]
    assert r.json()["next_cursor"] is None
    assert [s["id"] for s in listed] == [s["id"] for s in created]
    assert listed[0]["remaining"] == 50

    # the same window again is a conflict and writes nothing
    r = await client.post(f"/v1/venues/{venue_id}/slots", json={"slots": slots[:1]}, headers=ADMIN)
    assert_problem(r, 409, "slots.duplicate")
    r = await client.get(f"/v1/venues/{venue_id}/slots", params={"date": local_day})
    assert len(r.json()["items"]) == 3


async def test_public_venue_listing_by_region_includes_children(
    client: Client, world: World
) -> None:
    r = await client.get("/v1/venues", params={"region": "CN-GZ"})
    assert r.status_code == 200
    names = [v["name"] for v in r.json()["items"]]
    assert names == ["Huangguoshu Waterfall"]
    venue = r.json()["items"][0]
    assert venue["crowd_level"] == "green"
    assert venue["rating"] is None
    assert "place_code" not in venue  # only the admin's creation answer and operators see it
    r = await client.get("/v1/venues", params={"region": "XX-NOPE"})
    assert_problem(r, 404, "regions.not_found")
    r = await client.get(f"/v1/venues/{world.ids['venue_b']}")
    assert r.json()["name"] == "Stone Forest"
    assert_problem(await client.get(f"/v1/venues/{uuid.uuid4()}"), 404, "venues.not_found")


async def test_guards(client: Client, world: World) -> None:
    body = {"code": "CN-SC", "name": "Sichuan"}
    assert_problem(await client.post("/v1/admin/regions", json=body), 401, "auth.missing_token")
    assert_problem(
        await client.post("/v1/admin/regions", json=body, headers=bearer("nope")),
        401,
        "auth.invalid_token",
    )
    assert_problem(
        await client.post("/v1/admin/regions", json=body, headers={"Authorization": "Basic abc"}),
        401,
        "auth.malformed",
    )
    for who in ("operator_a", "gate_a", "planner_x"):
        assert_problem(
            await client.post("/v1/admin/regions", json=body, headers=world.auth(who)),
            403,
            "auth.wrong_principal",
        )
    # operator of B cannot touch venue A's slots or live view: 404, not 403
    slot = {
        "slots": [
            {
                "starts_at": "2030-01-01T08:00:00+08:00",
                "ends_at": "2030-01-01T09:00:00+08:00",
                "capacity": 5,
            }
        ]
    }
    va = world.ids["venue_a"]
    assert_problem(
        await client.post(f"/v1/venues/{va}/slots", json=slot, headers=world.auth("operator_b")),
        404,
        "venues.not_found",
    )
    assert_problem(
        await client.get(f"/v1/venues/{va}/live", headers=world.auth("operator_b")),
        404,
        "venues.not_found",
    )
    assert_problem(
        await client.post(f"/v1/venues/{va}/slots", json=slot, headers=world.auth("gate_a")), 403
    )
    r = await client.get(f"/v1/venues/{va}/live", headers=world.auth("operator_a"))
    assert r.status_code == 200
    assert r.json()["inside"] == 0
    assert r.json()["level"] == "green"


async def test_bad_input_is_problem_json_and_writes_nothing(client: Client, world: World) -> None:
    bad_bodies = [
        b"{not json",
        b"[]",
        b'{"code": "cn-lower", "name": "x"}',
        b'{"code": "CN-SC"}',
        b'{"code": "CN-SC", "name": "S", "extra": 1}',
        b'{"code": 12, "name": "S"}',
    ]
    for raw in bad_bodies:
        r = await client.post(
            "/v1/admin/regions", content=raw, headers={**ADMIN, "content-type": "application/json"}
        )
        body = assert_problem(r, 400)
        assert body["code"] == "request.invalid"
    r = await client.post(
        "/v1/admin/regions", json={"code": "CN-SC", "name": "S", "extra": 1}, headers=ADMIN
    )
    assert "extra" in r.text
    # unknown parent is a 422; the region was not created
    assert_problem(
        await client.post(
            "/v1/admin/regions",
            json={"code": "CN-SC", "name": "S", "parent_code": "CN-XX"},
            headers=ADMIN,
        ),
        422,
        "regions.unknown_parent",
    )
    assert_problem(await client.get("/v1/venues", params={"region": "CN-SC"}), 404)
    base = {
        "region_code": "CN-GZ",
        "name": "V",
        "kind": "park",
        "gated": True,
        "requires_booking": False,
        "entry_rule": "single",
        "capacity_instant": 10,
        "capacity_daily": 100,
    }
    for change in (
        {"entry_rule": "daily:0"},
        {"entry_rule": "twice"},
        {"capacity_instant": 0},
        {"occupancy_cap_pct": 101},
        {"lat": 91.0},
    ):
        assert_problem(
            await client.post("/v1/admin/venues", json={**base, **change}, headers=ADMIN), 400
        )
    for change, code in (
        ({"timezone": "Mars/Olympus"}, "venues.bad_timezone"),
        ({"region_code": "CN-XX"}, "regions.not_found"),
        ({"capacity_daily": 5}, "venues.bad_capacity"),
    ):
        assert_problem(
            await client.post("/v1/admin/venues", json={**base, **change}, headers=ADMIN), 422, code
        )
    assert len((await client.get("/v1/venues")).json()["items"]) == 2
    # malformed ids and dates
    assert_problem(await client.get("/v1/venues/not-a-uuid"), 404)
    assert_problem(
        await client.get(f"/v1/venues/{world.ids['venue_a']}/slots", params={"date": "2026-13-45"}),
        400,
    )
    assert_problem(await client.get(f"/v1/venues/{world.ids['venue_a']}/slots"), 400)
    # bad slot windows
    va = world.ids["venue_a"]
    for slot, status in (
        (
            {
                "starts_at": "2030-01-01T09:00:00+08:00",
                "ends_at": "2030-01-01T08:00:00+08:00",
                "capacity": 5,
            },
            422,
        ),
        (
            {"starts_at": "2030-01-01T09:00:00", "ends_at": "2030-01-01T10:00:00", "capacity": 5},
            422,
        ),
        ({"starts_at": "yesterday", "ends_at": "2030-01-01T10:00:00+08:00", "capacity": 5}, 400),
        (
            {
                "starts_at": "2030-01-01T09:00:00+08:00",
                "ends_at": "2030-01-01T10:00:00+08:00",
                "capacity": -1,
            },
            400,
        ),
    ):
        assert_problem(
            await client.post(f"/v1/venues/{va}/slots", json={"slots": [slot]}, headers=ADMIN),
            status,
        )
    assert_problem(
        await client.post(f"/v1/venues/{va}/slots", json={"slots": []}, headers=ADMIN), 400
    )
    # unknown ids referenced in bodies
    assert_problem(
        await client.post(
            "/v1/admin/operators",
            json={"name": "o", "venue_ids": [str(uuid.uuid4())]},
            headers=ADMIN,
        ),
        422,
        "venues.not_found",
    )
    assert_problem(
        await client.post(
            "/v1/admin/planners", json={"name": "p", "region_codes": ["CN-XX"]}, headers=ADMIN
        ),
        422,
        "regions.not_found",
    )
    assert_problem(
        await client.post(
            f"/v1/admin/venues/{uuid.uuid4()}/gates", json={"name": "g"}, headers=ADMIN
        ),
        404,
        "venues.not_found",
    )
    # unknown route and method
    assert_problem(await client.get("/v1/nothing-here"), 404)
    assert_problem(await client.delete("/v1/venues"), 405)


async def test_oversized_body_is_413(client: Client) -> None:
    r = await client.post(
        "/v1/admin/regions",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert_problem(r, 413)


async def test_place_codes_are_not_published(client: Client, world: World) -> None:
    """Whoever holds a place code can self check-in and then review: it belongs on the
    poster at the venue, not in the public venue listing or detail."""
    place = world.ids["place_a"]
    assert place
    for path in ("/v1/venues", f"/v1/venues/{world.ids['venue_a']}"):
        r = await client.get(path)
        assert r.status_code == 200
        assert place not in r.text
        assert "place_code" not in r.text
