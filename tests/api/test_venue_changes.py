"""Venue changes through the API: PATCH checked as a whole, contradictions refused at
creation too, and deactivation instead of delete (no bookings, slots, check-ins or
entries; the venue's history stays)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.api.test_gates import scan
from tests.conftest import ADMIN, World
from tests.support.apps import Client
from tests.support.problems import assert_problem


def _slot(start: datetime, capacity: int = 10, minutes: int = 60) -> dict[str, Any]:
    return {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=minutes)).isoformat(),
        "capacity": capacity,
    }


async def _patch(client: Client, venue_id: str, body: dict[str, Any]) -> Any:
    return await client.patch(f"/v1/admin/venues/{venue_id}", json=body, headers=ADMIN)


async def test_patch_changes_only_what_it_names_and_is_audited(
    client: Client, world: World
) -> None:
    va = world.ids["venue_a"]
    before = (await client.get(f"/v1/admin/venues/{va}", headers=ADMIN)).json()
    r = await _patch(
        client,
        va,
        {
            "capacity_instant": 80,
            "occupancy_cap_pct": 90,
            "name": "Huangguoshu",
            "lat": 25.99,
            "lon": 105.67,
            "booking_window_days": 30,
        },
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["capacity_instant"] == 80 and after["occupancy_cap_pct"] == 90
    assert after["name"] == "Huangguoshu" and after["booking_window_days"] == 30
    untouched = {"capacity_daily", "entry_rule", "gated", "requires_booking", "timezone"}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
    # null clears a nullable setting
    r = await _patch(client, va, {"occupancy_cap_pct": None})
    assert r.json()["occupancy_cap_pct"] is None
    # the public face follows
    assert (await client.get(f"/v1/venues/{va}")).json()["name"] == "Huangguoshu"
    r = await client.get("/v1/admin/audit", params={"object": va}, headers=ADMIN)
    changes = [e for e in r.json()["items"] if e["action"] == "venue.changed"]
    assert [c["after"] for c in reversed(changes)] == [
        {
            "name": "Huangguoshu",
            "capacity_instant": 80,
            "occupancy_cap_pct": 90,
            "lat": 25.99,
            "lon": 105.67,
            "booking_window_days": 30,
        },
        {"occupancy_cap_pct": None},
    ]
    assert changes[0]["before"] == {"occupancy_cap_pct": 90}
    assert all(c["venue_id"] == va and c["region_code"] == "CN-GZ-AS" for c in changes)
    # a PATCH naming only current values changes nothing and writes no entry
    r = await _patch(client, va, {"name": "Huangguoshu"})
    assert r.status_code == 200
    r = await client.get("/v1/admin/audit", params={"object": va}, headers=ADMIN)
    assert len([e for e in r.json()["items"] if e["action"] == "venue.changed"]) == 2


async def test_contradictions_are_refused_as_a_whole(client: Client, world: World) -> None:
    va = world.ids["venue_a"]  # gated, requires booking
    cases: list[tuple[dict[str, Any], str]] = [
        ({"gated": False}, "venues.contradiction"),  # it still requires booking
        ({"capacity_daily": 50}, "venues.bad_capacity"),  # below capacity_instant 100
        ({"capacity_instant": 5000}, "venues.bad_capacity"),
        ({"lat": 26.0}, "venues.contradiction"),  # no lon
        ({"timezone": "Mars/Olympus"}, "venues.bad_timezone"),
        ({"region_code": "CN-XX"}, "regions.not_found"),
    ]
    for body, code in cases:
        body_r = assert_problem(await _patch(client, va, body), 422, code)
        assert body_r["detail"]
    bad: list[dict[str, Any]] = [
        {"capacity_instant": 0},
        {"gated": "no"},
        {"colour": "red"},
        {"name": None},
    ]
    for bad_body in bad:
        assert_problem(await _patch(client, va, bad_body), 400)
    assert_problem(await _patch(client, str(uuid.uuid4()), {"name": "x"}), 404)
    # gates still hold tokens: revoke them before making the venue ungated
    r = await _patch(client, va, {"gated": False, "requires_booking": False})
    assert_problem(r, 409, "venues.has_gates")
    await client.post(f"/v1/admin/gates/{world.ids['gate_a']}/revoke", headers=ADMIN)
    r = await _patch(client, va, {"gated": False, "requires_booking": False})
    assert r.status_code == 200, r.text
    # now ungated: booking or a cap would contradict it
    assert_problem(await _patch(client, va, {"requires_booking": True}), 422)
    assert_problem(await _patch(client, va, {"occupancy_cap_pct": 80}), 422)
    # and nothing changed by the refusals
    venue = (await client.get(f"/v1/admin/venues/{va}", headers=ADMIN)).json()
    assert venue["capacity_instant"] == 100 and venue["lat"] is None


async def test_time_zone_is_fixed_once_slots_exist(client: Client, world: World) -> None:
    vb = world.ids["venue_b"]
    r = await _patch(client, vb, {"timezone": "Asia/Urumqi"})
    assert r.status_code == 200 and r.json()["timezone"] == "Asia/Urumqi"
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await world.post(f"/v1/venues/{vb}/slots", {"slots": [_slot(start)]})
    assert_problem(
        await _patch(client, vb, {"timezone": "Asia/Shanghai"}), 409, "venues.timezone_in_use"
    )


async def test_contradictory_input_is_refused_at_creation(client: Client, world: World) -> None:
    base: dict[str, Any] = {
        "region_code": "CN-GZ",
        "name": "V",
        "kind": "park",
        "gated": False,
        "requires_booking": False,
        "entry_rule": "reentry",
        "capacity_instant": 10,
        "capacity_daily": 100,
    }
    for change in ({"requires_booking": True}, {"occupancy_cap_pct": 80}, {"lon": 105.0}):
        r = await client.post("/v1/admin/venues", json={**base, **change}, headers=ADMIN)
        assert_problem(r, 422, "venues.contradiction")
    village = await world.post("/v1/admin/venues", base)
    # a gate on an ungated venue
    r = await client.post(
        f"/v1/admin/venues/{village['id']}/gates", json={"name": "g"}, headers=ADMIN
    )
    assert_problem(r, 422, "gates.venue_ungated")
    # slots in year 0001 or 9999 (refused by the body check, before any rule), then
    # within the years a body may name: far back, too far ahead, above the daily capacity
    va = world.ids["venue_a"]
    now = datetime.now(UTC).replace(microsecond=0)
    for slot, code in (
        (
            {
                "starts_at": "0001-01-01T09:00:00+00:00",
                "ends_at": "0001-01-01T10:00:00+00:00",
                "capacity": 5,
            },
            "request.date_out_of_range",
        ),
        (
            {
                "starts_at": "9999-01-01T09:00:00+00:00",
                "ends_at": "9999-01-01T10:00:00+00:00",
                "capacity": 5,
            },
            "request.date_out_of_range",
        ),
        (_slot(datetime(2095, 1, 1, 9, tzinfo=UTC)), "slots.out_of_range"),
        (_slot(now - timedelta(days=60)), "slots.out_of_range"),
        (_slot(now + timedelta(days=1), capacity=1001), "slots.over_daily_capacity"),
    ):
        r = await client.post(f"/v1/venues/{va}/slots", json={"slots": [slot]}, headers=ADMIN)
        assert_problem(r, 422, code)


async def test_a_deactivated_venue_takes_nothing_new_and_keeps_its_history(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    va = world.ids["venue_a"]
    museum = await world.venue("CN-GZ-AS", "Museum", requires_booking=False)
    gate = await world.post(f"/v1/admin/venues/{museum['id']}/gates", {"name": "m"})
    village = await world.venue("CN-GZ-AS", "Village", gated=False, requires_booking=False)
    await world.traveller("t")
    code = await world.live_code("t")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    slots = (await world.post(f"/v1/venues/{va}/slots", {"slots": [_slot(start)]}))["slots"]
    booking = await world.post(
        "/v1/bookings",
        {"slot_id": slots[0]["id"], "party_size": 1},
        headers=world.auth("traveller_t"),
    )
    entry = await scan(client, gate["token"], code)
    assert entry["decision"] == "accept", entry

    for venue_id in (va, museum["id"], village["id"]):
        r = await client.post(f"/v1/admin/venues/{venue_id}/deactivate", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["active"] is False and r.json()["deactivated_at"]

    # no bookings
    r = await client.post(
        "/v1/bookings",
        json={"slot_id": slots[0]["id"], "party_size": 1},
        headers=world.auth("traveller_t"),
    )
    assert_problem(r, 409, "venues.inactive")
    # no new slots
    r = await client.post(
        f"/v1/venues/{va}/slots",
        json={"slots": [_slot(start + timedelta(hours=3))]},
        headers=ADMIN,
    )
    assert_problem(r, 409, "venues.inactive")
    # no entries; an exit still passes (who is inside can leave)
    assert (await scan(client, gate["token"], code, "out"))["decision"] == "accept"
    again = await scan(client, gate["token"], code)
    assert (again["decision"], again["reason"]) == ("reject", "venue_inactive")
    # no check-ins
    r = await client.post(
        f"/v1/places/{village['place_code']}/checkin", headers=world.auth("traveller_t")
    )
    assert_problem(r, 409, "venues.inactive")
    # history stays: the booking, the scans, the venue itself (admin and public by id)
    r = await client.get(f"/v1/bookings/{booking['id']}", headers=world.auth("traveller_t"))
    assert r.json()["status"] == "booked"
    assert await conn.fetchval("SELECT count(*) FROM scans WHERE venue_id = $1", museum["id"]) == 3
    assert (await client.get(f"/v1/venues/{va}")).status_code == 200
    inactive = (
        await client.get("/v1/admin/venues", params={"active": "false"}, headers=ADMIN)
    ).json()["items"]
    assert {v["id"] for v in inactive} == {va, museum["id"], village["id"]}

    # deactivating twice changes nothing; reactivating takes bookings again
    r = await client.post(f"/v1/admin/venues/{va}/deactivate", headers=ADMIN)
    assert r.status_code == 200
    r = await client.post(f"/v1/admin/venues/{va}/reactivate", headers=ADMIN)
    assert r.json()["active"] is True and r.json()["deactivated_at"] is None
    r = await client.get("/v1/admin/audit", params={"object": va}, headers=ADMIN)
    actions = [e["action"] for e in r.json()["items"]]
    assert actions[:2] == ["venue.reactivated", "venue.deactivated"]
    assert actions.count("venue.deactivated") == 1
    assert_problem(
        await client.post(f"/v1/admin/venues/{uuid.uuid4()}/deactivate", headers=ADMIN), 404
    )


async def test_every_creation_is_audited_without_names_of_people(
    client: Client, world: World
) -> None:
    r = await client.get("/v1/admin/audit", params={"limit": 200}, headers=ADMIN)
    entries = r.json()["items"]
    actions = sorted(e["action"] for e in entries)
    assert actions == sorted(
        ["region.created"] * 3
        + ["venue.created"] * 2
        + ["gate.created"] * 2
        + ["operator.created"] * 2
        + ["planner.created"] * 2
    )
    assert all(e["actor_kind"] == "admin" and e["request_id"] for e in entries)
    people = [e for e in entries if e["object_kind"] in ("operator", "planner")]
    assert all("name" not in (e["after"] or {}) for e in people)
    # operators read their venue's part only
    va = world.ids["venue_a"]
    r = await client.get(f"/v1/venues/{va}/audit", headers=world.auth("operator_a"))
    assert r.status_code == 200
    mine = r.json()["items"]
    assert mine and all(e["venue_id"] == va for e in mine)
    r = await client.get(f"/v1/venues/{va}/audit", headers=world.auth("operator_b"))
    assert_problem(r, 404)
