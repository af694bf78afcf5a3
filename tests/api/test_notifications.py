"""Events and a traveller's notifications: recorded with the change, seen by their owner."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.events import service
from onecode.events.models import EventType
from tests.conftest import World

Client = AsyncTestClient[Litestar]


async def test_an_event_exists_only_if_its_change_commits(
    conn: asyncpg.Connection, world: World
) -> None:
    await world.traveller("a")
    who = uuid.UUID(world.ids["traveller_a"])
    venue = uuid.UUID(world.ids["venue_a"])

    class Abort(Exception):
        pass

    async def change_then_fail() -> None:
        async with conn.transaction():
            await service.emit(
                conn, EventType.COMPLAINT_ANSWERED, {"n": 1}, venue=venue, traveller=who
            )
            raise Abort

    with pytest.raises(Abort):
        await change_then_fail()
    assert await conn.fetchval("SELECT count(*) FROM events") == 0
    assert await conn.fetchval("SELECT count(*) FROM traveller_notifications") == 0

    async with conn.transaction():
        event_id = await service.emit(
            conn,
            EventType.COMPLAINT_ANSWERED,
            {"n": 2},
            region="CN-GZ-AS",
            venue=venue,
            traveller=who,
        )
    row = await conn.fetchrow("SELECT type, region_code, venue_id, payload::text FROM events")
    assert row is not None
    assert (row["type"], row["region_code"], row["venue_id"], json.loads(row["payload"])) == (
        "complaint.answered",
        "CN-GZ-AS",
        venue,
        {"n": 2},
    )
    assert await conn.fetchval("SELECT event_id FROM traveller_notifications") == event_id


@pytest.mark.parametrize(
    ("type_", "payload"),
    [("Venue.Level", {}), ("nodot", {}), ("venue.level_changed", [1, 2])],
)
async def test_the_outbox_refuses_malformed_events(
    conn: asyncpg.Connection, type_: str, payload: object
) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.fetchval(
            "SELECT onecode_emit_event($1, NULL, NULL, $2::jsonb)", type_, json.dumps(payload)
        )


async def test_notifications_are_the_travellers_own_and_page(
    client: Client, conn: asyncpg.Connection, world: World
) -> None:
    await world.traveller("a")
    await world.traveller("b")
    who = uuid.UUID(world.ids["traveller_a"])
    for n in range(5):
        await service.emit(conn, EventType.WAITLIST_OFFER_MADE, {"n": n}, traveller=who)
    await service.emit(conn, EventType.VENUE_LEVEL_CHANGED, {"level": "red"})  # nobody's

    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(
            "/v1/me/notifications", params=params, headers=world.auth("traveller_a")
        )
        assert r.status_code == 200, r.text
        page = r.json()
        assert all(item["type"] == "waitlist.offer_made" for item in page["items"])
        seen += [item["payload"]["n"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [4, 3, 2, 1, 0]

    theirs = await client.get("/v1/me/notifications", headers=world.auth("traveller_b"))
    assert theirs.json() == {"items": [], "next_cursor": None}
    for who_else in ("operator_a", "planner_x", "gate_a"):
        r = await client.get("/v1/me/notifications", headers=world.auth(who_else))
        assert r.status_code == 403, (who_else, r.text)
    assert (await client.get("/v1/me/notifications")).status_code == 401


async def test_erasure_takes_the_notifications(
    client: Client, conn: asyncpg.Connection, world: World
) -> None:
    await world.traveller("a")
    who = uuid.UUID(world.ids["traveller_a"])
    await service.emit(conn, EventType.BOOKING_CANCELLED_BY_VENUE, {"n": 1}, traveller=who)
    r = await client.delete("/v1/me", headers=world.auth("traveller_a"))
    assert r.status_code == 204, r.text
    assert await conn.fetchval("SELECT count(*) FROM traveller_notifications") == 0
    assert await conn.fetchval("SELECT count(*) FROM events") == 1  # the event itself stays
