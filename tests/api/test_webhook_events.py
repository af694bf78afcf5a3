"""Events to webhooks: the fan-out from the outbox honours each owner's scope and loses no
event that commits late; complaint.answered is emitted with the answer; the detectors
announce level changes with hysteresis, forecasts once per level, and silent gates."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar

from onecode.settings import Settings
from onecode.webhooks.detectors import detect, flush_sightings, settled_level
from tests.conftest import ADMIN, World
from tests.support.receiver import Receiver
from tests.support.webhooks import (
    Client,
    allow_loopback,
    running_worker,
    started_receiver,
    subscribe,
    verify,
    webhook_settings,
)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return webhook_settings(db_url, tmp_path)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with started_receiver() as r:
        yield r


async def emit(
    conn: asyncpg.Connection, type_: str, venue: str | None, region: str | None = None
) -> uuid.UUID:
    event_id: uuid.UUID = await conn.fetchval(
        "SELECT onecode_emit_event($1, $2, $3, $4::jsonb)",
        type_,
        region,
        uuid.UUID(venue) if venue else None,
        json.dumps({"note": type_}),
    )
    return event_id


async def delivered_to(conn: asyncpg.Connection) -> dict[str, set[uuid.UUID]]:
    """subscription description -> the event ids queued for it"""
    rows = await conn.fetch(
        "SELECT s.description, d.event_id FROM webhook_deliveries d "
        "JOIN webhook_subscriptions s ON s.id = d.subscription_id"
    )
    out: dict[str, set[uuid.UUID]] = {}
    for row in rows:
        out.setdefault(row["description"], set()).add(row["event_id"])
    return out


async def test_fan_out_follows_each_owners_scope(
    client: Client, world: World, receiver: Receiver, conn: asyncpg.Connection, settings: Settings
) -> None:
    await allow_loopback(client)
    url = receiver.url
    a, b = world.ids["venue_a"], world.ids["venue_b"]
    events = ["venue.level_changed", "gate.offline"]
    # planner x holds CN-GZ (venue A is in CN-GZ-AS, below it); planner y CN-YN (venue B)
    for who in ("admin", "operator_a", "operator_b", "planner_x", "planner_y"):
        await subscribe(client, url, world.auth(who), events=events, description=who)
    await subscribe(client, url, description="admin_b_only", events=events, venue_ids=[b])
    await subscribe(
        client,
        url,
        world.auth("operator_a"),
        description="operator_a_offline",
        events=["gate.offline"],
    )
    off = await subscribe(client, url, description="disabled", events=events, enabled=False)
    assert off["subscription"]["enabled"] is False
    at_a = await emit(conn, "venue.level_changed", a)  # region from the venue
    at_b = await emit(conn, "venue.level_changed", b, "CN-YN")
    regional = await emit(conn, "venue.level_changed", None, "CN-GZ-AS")
    other_type = await emit(conn, "lottery.drawn", a)
    async with running_worker(settings) as worker:
        await worker.fan_out()
    got = await delivered_to(conn)
    assert got == {
        "admin": {at_a, at_b, regional},
        "operator_a": {at_a},
        "operator_b": {at_b},
        "planner_x": {at_a, regional},
        "planner_y": {at_b},
        "admin_b_only": {at_b},
    }
    assert other_type not in set().union(*got.values())
    # every event is marked once, whether or not anyone wanted it
    assert await conn.fetchval("SELECT count(*) FROM events WHERE fanned_out_at IS NULL") == 0


async def test_an_event_that_commits_late_is_not_skipped(
    client: Client, receiver: Receiver, db_url: str, conn: asyncpg.Connection, settings: Settings
) -> None:
    """Event ids are random and transactions commit out of order: a position cursor
    ("after the newest seen") would skip the late one. Fails with such a cursor."""
    await allow_loopback(client)
    await subscribe(client, receiver.url, description="all", events=["gate.offline"])
    slow = await asyncpg.connect(db_url)
    try:
        tx = slow.transaction()
        await tx.start()
        late = await emit(slow, "gate.offline", None, "CN-GZ")  # older, not committed
        early = await emit(conn, "gate.offline", None, "CN-GZ")
        async with running_worker(settings) as worker:
            await worker.fan_out()
            assert (await delivered_to(conn))["all"] == {early}
            await tx.commit()
            await worker.fan_out()
        assert (await delivered_to(conn))["all"] == {early, late}
    finally:
        await slow.close()


async def test_complaint_answer_reaches_the_operator_and_the_traveller(
    client: Client, world: World, receiver: Receiver, conn: asyncpg.Connection, settings: Settings
) -> None:
    await allow_loopback(client)
    created = await subscribe(
        client, receiver.url, world.auth("operator_a"), events=["complaint.answered"]
    )
    await subscribe(client, receiver.url, world.auth("operator_b"), events=["complaint.answered"])
    await world.traveller("a")
    r = await client.post(
        "/v1/complaints",
        json={"venue_id": world.ids["venue_a"], "category": "crowding", "text": "Too full."},
        headers=world.auth("traveller_a"),
    )
    complaint = r.json()
    r = await client.post(
        f"/v1/complaints/{complaint['id']}/answer",
        json={"text": "We opened the east gate."},
        headers=world.auth("operator_a"),
    )
    assert r.status_code == 200, r.text
    event_id = await conn.fetchval("SELECT id FROM events WHERE type = 'complaint.answered'")
    async with running_worker(settings):
        got = (await receiver.wait_for(1))[0]
    payload = verify(created["secret"], got.body, got.headers)
    assert got.headers["webhook-id"] == "msg_" + event_id.hex
    assert payload["type"] == "complaint.answered"
    assert payload["data"]["complaint_id"] == complaint["id"]
    assert payload["data"]["venue_id"] == world.ids["venue_a"]
    assert payload["data"]["first_answer"] is True
    assert "traveller" not in got.body.decode()  # nobody's id leaves in a webhook
    assert len(receiver.received) == 1  # operator B's venue was not concerned
    r = await client.get("/v1/me/notifications", headers=world.auth("traveller_a"))
    assert [n["type"] for n in r.json()["items"]] == ["complaint.answered"]


async def test_one_event_has_one_webhook_id_for_every_subscription(
    client: Client, receiver: Receiver, conn: asyncpg.Connection, settings: Settings
) -> None:
    await allow_loopback(client)
    one = await subscribe(client, receiver.url, events=["gate.offline"])
    two = await subscribe(client, receiver.url, events=["gate.offline"])
    event_id = await emit(conn, "gate.offline", None, "CN-GZ")
    async with running_worker(settings):
        got = await receiver.wait_for(2)
    assert {g.headers["webhook-id"] for g in got} == {"msg_" + event_id.hex}
    secrets = {one["secret"], two["secret"]}
    verified = 0
    for g in got:
        for secret in secrets:
            try:
                verify(secret, g.body, g.headers)
                verified += 1
            except Exception:  # noqa: S112 (the other subscription's secret)
                continue
    assert verified == 2


# --- detectors ---------------------------------------------------------------------


def test_hysteresis_keeps_a_level_until_the_load_falls_clearly_below() -> None:
    assert settled_level("green", 80, 100, 5) == "yellow"
    assert settled_level("yellow", 79, 100, 5) == "yellow"
    assert settled_level("yellow", 76, 100, 5) == "yellow"
    assert settled_level("yellow", 74, 100, 5) == "green"
    assert settled_level("green", 96, 100, 5) == "red"
    assert settled_level("red", 92, 100, 5) == "red"
    assert settled_level("red", 89, 100, 5) == "orange"
    assert settled_level("red", 10, 100, 5) == "green"
    assert settled_level("red", 94, 100, 0) == "orange"


async def _set_counters(conn: asyncpg.Connection, venue: str, ins: int, outs: int) -> None:
    await conn.execute(
        "INSERT INTO venue_counters (venue_id, local_day, stripe, ins, outs) "
        "SELECT $1, (now() AT TIME ZONE v.timezone)::date, 0, $2, $3 FROM venues v "
        "WHERE v.id = $1 ON CONFLICT (venue_id, local_day, stripe) DO UPDATE "
        "SET ins = EXCLUDED.ins, outs = EXCLUDED.outs",
        uuid.UUID(venue),
        ins,
        outs,
    )


async def _events(conn: asyncpg.Connection, type_: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT payload, venue_id, region_code FROM events WHERE type = $1 ORDER BY created_at",
        type_,
    )
    return [
        {**r["payload"], "_venue": str(r["venue_id"]), "_region": r["region_code"]} for r in rows
    ]


async def test_level_changes_are_announced_once_with_hysteresis(
    world: World, conn: asyncpg.Connection, settings: Settings
) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    venue = world.ids["venue_a"]  # capacity_instant 100
    seen: list[str] = []
    for inside in (50, 80, 85, 78, 76, 74, 96, 99, 89):
        await _set_counters(conn, venue, inside, 0)
        assert await detect(conn, settings)
        instant = [e for e in await _events(conn, "venue.level_changed") if e["kind"] == "instant"]
        seen.append(instant[-1]["level"] if instant else "-")
    assert seen == ["-", "yellow", "yellow", "yellow", "yellow", "green", "red", "red", "orange"]
    changes = [e for e in await _events(conn, "venue.level_changed") if e["kind"] == "instant"]
    assert [(e["previous_level"], e["level"]) for e in changes] == [
        ("green", "yellow"),
        ("yellow", "green"),
        ("green", "red"),
        ("red", "orange"),
    ]
    assert changes[0]["_venue"] == venue and changes[0]["_region"] == "CN-GZ-AS"
    assert changes[0]["threshold_pct"] == 80 and changes[0]["capacity"] == 100
    assert "count" not in changes[0] and "load_pct" not in changes[0]  # no head count leaves


async def test_bookings_reaching_a_level_are_announced_ahead_once(
    client: Client, world: World, conn: asyncpg.Connection, settings: Settings
) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    venue = world.ids["venue_a"]  # capacity_daily 1000
    start = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=4, minute=0, second=0, microsecond=0
    )
    r = await client.post(
        f"/v1/venues/{venue}/slots",
        json={
            "slots": [
                {
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(hours=1)).isoformat(),
                    "capacity": 1000,
                }
            ]
        },
        headers=ADMIN,
    )
    slot = r.json()["slots"][0]["id"]
    for booked, expected in (
        (700, []),
        (850, ["yellow"]),
        (860, ["yellow"]),
        (960, ["yellow", "red"]),
    ):
        await conn.execute(
            "UPDATE slot_counters SET booked = $2 WHERE slot_id = $1", uuid.UUID(slot), booked
        )
        await detect(conn, settings)
        got = await _events(conn, "venue.capacity_forecast_reached")
        assert [e["level"] for e in got] == expected, booked
    assert got[-1]["booked"] == 960 and got[-1]["local_day"] == start.date().isoformat()


async def test_a_silent_gate_is_announced_once_until_heard_again(
    client: Client, world: World, conn: asyncpg.Connection, settings: Settings, app: Litestar
) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    r = await client.get("/v1/gate/pack", headers=world.auth("gate_a"))
    assert r.status_code == 200
    await flush_sightings(conn, app.state.gate_sightings.take())
    now = datetime.now(UTC)
    await detect(conn, settings, now)
    assert await _events(conn, "gate.offline") == []
    later = now + timedelta(minutes=settings.gate_offline_minutes + 1)
    await detect(conn, settings, later)
    await detect(conn, settings, later + timedelta(minutes=1))
    got = await _events(conn, "gate.offline")
    assert [e["gate_id"] for e in got] == [world.ids["gate_a"]]  # gate B never spoke
    assert got[0]["_venue"] == world.ids["venue_a"]
    # heard again, then silent again: a second announcement
    await flush_sightings(conn, {uuid.UUID(world.ids["gate_a"]): later.timestamp() + 60})
    await detect(conn, settings, later + timedelta(minutes=2 * settings.gate_offline_minutes + 5))
    assert len(await _events(conn, "gate.offline")) == 2


async def test_a_revoked_operator_hears_nothing_more(
    client: Client, world: World, receiver: Receiver, conn: asyncpg.Connection, settings: Settings
) -> None:
    await allow_loopback(client)
    url = receiver.url
    await subscribe(
        client, url, world.auth("operator_a"), events=["gate.offline"], description="op"
    )
    first = await emit(conn, "gate.offline", world.ids["venue_a"])
    async with running_worker(settings) as worker:
        await worker.fan_out()
        r = await client.post(
            f"/v1/admin/operators/{world.ids['operator_a']}/revoke", headers=ADMIN
        )
        assert r.status_code == 204, r.text
        await emit(conn, "gate.offline", world.ids["venue_a"])
        await worker.fan_out()
    assert (await delivered_to(conn))["op"] == {first}


async def test_the_dashboard_reads_levels_and_recent_alerts_in_scope(
    client: Client, world: World, conn: asyncpg.Connection, settings: Settings
) -> None:
    await _set_counters(conn, world.ids["venue_a"], 91, 0)
    await _set_counters(conn, world.ids["venue_b"], 97, 0)
    await detect(conn, settings)
    r = await client.get("/v1/alerts", headers=world.auth("planner_x"))  # its one region
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["region"] == "CN-GZ"
    levels = {(lv["venue_name"], lv["kind"]): lv["level"] for lv in body["levels"]}
    assert levels[("Huangguoshu Waterfall", "instant")] == "orange"
    assert {lv["venue_id"] for lv in body["levels"]} == {world.ids["venue_a"]}
    assert [a["type"] for a in body["recent"]] == ["venue.level_changed"]
    assert body["recent"][0]["data"]["level"] == "orange"
    r = await client.get("/v1/alerts?region=CN-YN", headers=world.auth("planner_x"))
    assert r.status_code == 404
    r = await client.get("/v1/alerts?region=CN-YN", headers=ADMIN)
    assert [a["data"]["level"] for a in r.json()["recent"]] == ["red"]
    r = await client.get("/v1/alerts", headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "alerts.bad_scope"
    # an operator asking for a region sees only its own venues in it
    r = await client.get("/v1/alerts?region=CN-YN", headers=world.auth("operator_a"))
    assert r.json()["levels"] == [] and r.json()["recent"] == []


async def test_a_double_entry_from_offline_gates_reaches_the_venues_operator(
    client: Client, world: World, receiver: Receiver, settings: Settings
) -> None:
    await allow_loopback(client)
    created = await subscribe(
        client, receiver.url, world.auth("operator_a"), events=["gate.conflict_found"]
    )
    await world.traveller("a")
    code = await world.code("a")
    for gate in ("gate_a", "gate_a"):  # two offline admissions of one single-entry code
        scan = {
            "scan_id": str(uuid.uuid4()),
            "code": code,
            "direction": "in",
            "scanned_at": datetime.now(UTC).isoformat(),
            "decision": "accept",
            "reason": "ok",
        }
        r = await client.post(
            "/v1/gate/scans/batch", json={"scans": [scan]}, headers=world.auth(gate)
        )
        assert r.status_code == 200, r.text
    async with running_worker(settings):
        got = (await receiver.wait_for(1))[0]
    message = verify(created["secret"], got.body, got.headers)
    assert message["type"] == "gate.conflict_found"
    assert message["data"]["venue_id"] == world.ids["venue_a"]
    assert world.ids["traveller_a"] not in got.body.decode()
