"""Slot operations through the API: capacity and time changes, cancellation with the
reason travellers see, and recurring (weekly) creation; each audited."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from tests.api.test_bookings import book, make_slots, remaining
from tests.conftest import ADMIN, World
from tests.support.apps import Client
from tests.support.problems import assert_problem

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _path(world: World, slot: dict[str, Any], venue: str = "a") -> str:
    return f"/v1/venues/{world.ids['venue_' + venue]}/slots/{slot['id']}"


async def test_capacity_never_below_booked_and_times_only_while_nothing_is_booked(
    client: Client, world: World
) -> None:
    await world.traveller("t")
    op = world.auth("operator_a")
    slot, empty = await make_slots(client, world, capacity=10, count=2)
    assert (await book(client, world, "t", slot["id"], party=4)).status_code == 201

    r = await client.patch(_path(world, slot), json={"capacity": 20}, headers=op)
    assert r.status_code == 200, r.text
    assert (r.json()["capacity"], r.json()["booked"], r.json()["remaining"]) == (20, 4, 16)
    assert await remaining(client, world, slot) == 16
    r = await client.patch(_path(world, slot), json={"capacity": 4}, headers=op)  # = booked
    assert r.status_code == 200 and r.json()["remaining"] == 0
    body = assert_problem(
        await client.patch(_path(world, slot), json={"capacity": 3}, headers=op),
        409,
        "slots.below_booked",
    )
    assert "4" in body["detail"]
    # times: locked while booked, free on the empty slot
    later = datetime.fromisoformat(slot["starts_at"]) + timedelta(hours=6)
    assert_problem(
        await client.patch(_path(world, slot), json={"starts_at": later.isoformat()}, headers=op),
        409,
        "slots.times_locked",
    )
    moved = {"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=2)).isoformat()}
    r = await client.patch(_path(world, empty), json=moved, headers=op)
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["starts_at"]) == later
    # the merged window is checked: ends before the (unchanged) start
    early = (later - timedelta(hours=1)).isoformat()
    assert_problem(
        await client.patch(_path(world, empty), json={"ends_at": early}, headers=op),
        422,
        "slots.bad_window",
    )
    # onto the other slot's window: a duplicate
    same = {"starts_at": slot["starts_at"], "ends_at": slot["ends_at"]}
    assert_problem(
        await client.patch(_path(world, empty), json=same, headers=op), 409, "slots.duplicate"
    )
    for bad, status, code in (
        ({"starts_at": "0001-01-01T09:00:00+00:00"}, 422, "request.date_out_of_range"),
        ({"starts_at": "2095-01-01T09:00:00+00:00"}, 422, "slots.out_of_range"),
        ({"starts_at": "2030-01-01T09:00:00"}, 422, "slots.naive_time"),
        ({"capacity": 5000}, 422, "slots.over_daily_capacity"),
        ({"capacity": 0}, 400, None),
        ({"capacity": "7"}, 400, None),
        ({"seats": 7}, 400, None),
    ):
        assert_problem(await client.patch(_path(world, empty), json=bad, headers=op), status, code)
    # scope: another venue's operator, another venue's path, an unknown slot
    r = await client.patch(
        _path(world, slot), json={"capacity": 9}, headers=world.auth("operator_b")
    )
    assert_problem(r, 404)
    r = await client.patch(_path(world, slot, "b"), json={"capacity": 9}, headers=ADMIN)
    assert_problem(r, 404, "slots.not_found")
    # the audit has each change, before -> after
    r = await client.get("/v1/admin/audit", params={"action": "slot.changed"}, headers=ADMIN)
    changes = [(e["object_id"], e["before"], e["after"]) for e in reversed(r.json()["items"])]
    assert changes[:2] == [
        (slot["id"], {"capacity": 10}, {"capacity": 20}),
        (slot["id"], {"capacity": 20}, {"capacity": 4}),
    ]
    assert len(changes) == 3 and changes[2][0] == empty["id"]


async def test_cancel_cancels_the_bookings_with_a_reason_the_traveller_sees(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("t")
    await world.traveller("u")
    slot, other = await make_slots(client, world, capacity=10, count=2)
    mine = (await book(client, world, "t", slot["id"], party=2)).json()
    theirs = (await book(client, world, "u", slot["id"], party=1)).json()
    kept = await book(client, world, "u", other["id"], party=1)
    assert kept.status_code in (201, 409)  # one booking per venue and day (the default)
    own_cancel = await client.post(
        f"/v1/bookings/{theirs['id']}/cancel", headers=world.auth("traveller_u")
    )
    assert own_cancel.json()["cancelled_by"] == "traveller"

    reason = "Heavy rain: the waterfall trail is closed this afternoon."
    r = await client.post(
        _path(world, slot) + "/cancel", json={"reason": reason}, headers=world.auth("operator_a")
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["cancel_reason"] == reason and out["cancelled_at"]
    assert out["cancelled_bookings"] == 1 and out["booked"] == 0

    seen = (
        await client.get(f"/v1/bookings/{mine['id']}", headers=world.auth("traveller_t"))
    ).json()
    assert (seen["status"], seen["cancelled_by"], seen["cancel_reason"]) == (
        "cancelled",
        "venue",
        reason,
    )
    listed = (await client.get("/v1/me/bookings", headers=world.auth("traveller_t"))).json()[
        "items"
    ]
    assert [(b["id"], b["cancel_reason"]) for b in listed] == [(mine["id"], reason)]
    # the traveller's own earlier cancel keeps its author and has no venue reason
    u_seen = (
        await client.get(f"/v1/bookings/{theirs['id']}", headers=world.auth("traveller_u"))
    ).json()
    assert (u_seen["cancelled_by"], u_seen["cancel_reason"]) == ("traveller", None)
    # a notification, with no personal data in the event
    r = await client.get("/v1/me/notifications", headers=world.auth("traveller_t"))
    notes = [n for n in r.json()["items"] if n["type"] == "booking.cancelled_by_venue"]
    assert len(notes) == 1 and notes[0]["payload"]["booking_id"] == mine["id"]
    assert notes[0]["payload"]["reason"] == reason
    r = await client.get("/v1/me/notifications", headers=world.auth("traveller_u"))
    assert not [n for n in r.json()["items"] if n["type"] == "booking.cancelled_by_venue"]

    # the slot is gone from the public listing and takes no booking
    day = datetime.fromisoformat(slot["starts_at"]).astimezone(SHANGHAI).date().isoformat()
    r = await client.get(f"/v1/venues/{world.ids['venue_a']}/slots", params={"date": day})
    assert slot["id"] not in [s["id"] for s in r.json()["items"]]
    await world.traveller("v")
    assert_problem(await book(client, world, "v", slot["id"]), 409, "slots.cancelled")
    # it cannot change any more; cancelling again answers the same, audited once
    assert_problem(
        await client.patch(_path(world, slot), json={"capacity": 30}, headers=ADMIN),
        409,
        "slots.cancelled",
    )
    again = await client.post(_path(world, slot) + "/cancel", json={"reason": "x"}, headers=ADMIN)
    assert again.status_code == 200 and again.json()["cancel_reason"] == reason
    r = await client.get("/v1/admin/audit", params={"action": "slot.cancelled"}, headers=ADMIN)
    (entry,) = r.json()["items"]
    assert entry["actor_kind"] == "operator"
    assert entry["after"] == {"reason": reason, "cancelled_bookings": 1}
    trail = json.dumps(entry)
    for tag in ("t", "u"):
        assert world.ids[f"traveller_{tag}"] not in trail
    assert mine["id"] not in trail
    # the counters stay exact
    row = await conn.fetchrow(
        "SELECT booked, capacity FROM slot_counters WHERE slot_id = $1", uuid.UUID(slot["id"])
    )
    assert row is not None and row["booked"] == 0
    # refusals
    for body in ({"reason": ""}, {}, {"reason": "x" * 501}, {"reason": 5}):
        assert_problem(
            await client.post(_path(world, other) + "/cancel", json=body, headers=ADMIN), 400
        )
    assert_problem(
        await client.post(_path(world, other) + "/cancel", json={"reason": "   "}, headers=ADMIN),
        422,
        "slots.no_reason",
    )
    r = await client.post(
        f"/v1/venues/{world.ids['venue_a']}/slots/{uuid.uuid4()}/cancel",
        json={"reason": "x"},
        headers=ADMIN,
    )
    assert_problem(r, 404, "slots.not_found")


def _next(weekday: int, after: date) -> date:
    d = after + timedelta(days=1)
    while d.isoweekday() != weekday:
        d += timedelta(days=1)
    return d


async def test_recurring_slots_follow_a_weekly_pattern(client: Client, world: World) -> None:
    today = datetime.now(SHANGHAI).date()
    monday = _next(1, today)
    body = {
        "from": monday.isoformat(),
        "to": (monday + timedelta(days=20)).isoformat(),  # three weeks, Monday to Sunday+
        "weekdays": [1, 3, 5],
        "times": [{"start": "09:00", "end": "10:30"}, {"start": "22:00", "end": "01:00"}],
        "capacity": 40,
    }
    path = f"/v1/venues/{world.ids['venue_a']}/slots/recurring"
    r = await client.post(path, json=body, headers=world.auth("operator_a"))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["skipped"] == 0 and len(made["slots"]) == 3 * 3 * 2
    starts = [datetime.fromisoformat(s["starts_at"]).astimezone(SHANGHAI) for s in made["slots"]]
    assert {s.isoweekday() for s in starts} == {1, 3, 5}
    assert {(s.hour, s.minute) for s in starts} == {(9, 0), (22, 0)}
    night = [
        s
        for s in made["slots"]
        if datetime.fromisoformat(s["starts_at"]).astimezone(SHANGHAI).hour == 22
    ]
    ends = datetime.fromisoformat(night[0]["ends_at"]) - datetime.fromisoformat(
        night[0]["starts_at"]
    )
    assert ends == timedelta(hours=3)  # over midnight
    assert all(s["capacity"] == 40 and s["remaining"] == 40 for s in made["slots"])
    # again, one week longer: the existing windows are skipped, the new week is made
    body["to"] = (monday + timedelta(days=27)).isoformat()
    again = (await client.post(path, json=body, headers=ADMIN)).json()
    assert (len(again["slots"]), again["skipped"]) == (6, 18)
    r = await client.get("/v1/admin/audit", params={"action": "slots.created"}, headers=ADMIN)
    first, second = reversed(r.json()["items"][:2])
    assert first["after"]["count"] == 18 and second["after"]["skipped"] == 18
    # refusals
    for change, code in (
        ({"to": (monday - timedelta(days=1)).isoformat()}, "slots.bad_range"),
        ({"to": (monday + timedelta(days=400)).isoformat()}, "slots.bad_range"),
        ({"from": "0001-01-01", "to": "0001-01-31"}, "request.date_out_of_range"),
        ({"from": "2001-01-01", "to": "2001-01-31"}, "slots.out_of_range"),
        ({"times": [{"start": "09:00", "end": "09:00"}]}, "slots.bad_window"),
        ({"times": [{"start": "09:00", "end": "10:00"}] * 2}, "slots.duplicate"),
        ({"capacity": 5000}, "slots.over_daily_capacity"),
        (
            {"weekdays": [7], "from": monday.isoformat(), "to": monday.isoformat()},
            "slots.empty_pattern",
        ),
    ):
        assert_problem(await client.post(path, json={**body, **change}, headers=ADMIN), 422, code)
    bad: list[dict[str, Any]] = [
        {"weekdays": [0]},
        {"weekdays": []},
        {"times": [{"start": "9am", "end": "10:00"}]},
        {"times": [{"start": "25:00", "end": "10:00"}]},
        {"from": "tomorrow"},
        {"every": "week"},
    ]
    for change_400 in bad:
        assert_problem(await client.post(path, json={**body, **change_400}, headers=ADMIN), 400)
    r = await client.post(path, json=body, headers=world.auth("operator_b"))
    assert_problem(r, 404)
