"""Bookings through the API: book, limits, idempotency, cancel, no-shows, scope, bad input."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.bookings import service
from tests.conftest import ADMIN, World
from tests.support.db import fetch_row
from tests.support.problems import assert_problem

Client = AsyncTestClient[Litestar]


async def make_slots(
    client: Client,
    world: World,
    venue: str = "a",
    *,
    capacity: int = 10,
    count: int = 1,
    start: datetime | None = None,
) -> list[dict[str, Any]]:
    # 09:00 Asia/Shanghai the day after tomorrow: all hourly slots fall on one local day
    start = start or (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=1, minute=0, second=0, microsecond=0
    )
    body = {
        "slots": [
            {
                "starts_at": (start + timedelta(hours=i)).isoformat(),
                "ends_at": (start + timedelta(hours=i + 1)).isoformat(),
                "capacity": capacity,
            }
            for i in range(count)
        ]
    }
    r = await client.post(
        f"/v1/venues/{world.ids['venue_' + venue]}/slots",
        json=body,
        headers=world.auth(f"operator_{venue}"),
    )
    assert r.status_code == 201, r.text
    return list(r.json()["slots"])


async def remaining(client: Client, world: World, slot: dict[str, Any], venue: str = "a") -> int:
    day = datetime.fromisoformat(slot["starts_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    r = await client.get(
        f"/v1/venues/{world.ids['venue_' + venue]}/slots", params={"date": day.date().isoformat()}
    )
    assert r.status_code == 200, r.text
    (match,) = [s for s in r.json()["items"] if s["id"] == slot["id"]]
    return int(match["remaining"])


async def book(
    client: Client, world: World, who: str, slot_id: str, party: Any = 1, key: str | None = None
) -> Response:
    headers = world.auth(f"traveller_{who}")
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        "/v1/bookings", json={"slot_id": slot_id, "party_size": party}, headers=headers
    )


async def test_book_read_list_and_remaining(client: Client, world: World) -> None:
    (slot,) = await make_slots(client, world, capacity=10)
    await world.traveller("t")
    r = await book(client, world, "t", slot["id"], 3)
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["status"] == "booked"
    assert b["slot_id"] == slot["id"]
    assert b["venue_id"] == world.ids["venue_a"]
    assert b["party_size"] == 3
    assert datetime.fromisoformat(b["starts_at"]) == datetime.fromisoformat(slot["starts_at"])
    assert datetime.fromisoformat(b["ends_at"]) == datetime.fromisoformat(slot["ends_at"])
    assert await remaining(client, world, slot) == 7

    r = await client.get(f"/v1/bookings/{b['id']}", headers=world.auth("traveller_t"))
    assert r.status_code == 200
    assert r.json() == b
    r = await client.get("/v1/me/bookings", headers=world.auth("traveller_t"))
    assert [x["id"] for x in r.json()["items"]] == [b["id"]]
    r = await client.get(
        "/v1/me/bookings", params={"status": "cancelled"}, headers=world.auth("traveller_t")
    )
    assert r.json() == {"items": [], "next_cursor": None}


async def test_list_is_newest_first(client: Client, world: World) -> None:
    slots = await make_slots(client, world, capacity=10, count=3)
    await world.traveller("t")
    # one per day is venue a's rule: use venue b for a second booking, and slots on other days
    ids = []
    for venue in ("a", "b"):
        (s,) = slots[:1] if venue == "a" else await make_slots(client, world, "b")
        r = await book(client, world, "t", s["id"])
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await client.get("/v1/me/bookings", headers=world.auth("traveller_t"))
    assert [x["id"] for x in r.json()["items"]] == ids[::-1]


async def test_slot_full_writes_nothing(client: Client, world: World, conn: Any) -> None:
    (slot,) = await make_slots(client, world, capacity=4)
    await world.traveller("t")
    await world.traveller("u")
    assert (await book(client, world, "t", slot["id"], 3)).status_code == 201
    assert_problem(await book(client, world, "u", slot["id"], 2), 409, "bookings.slot_full")
    assert await conn.fetchval("SELECT count(*) FROM bookings") == 1
    assert await conn.fetchval("SELECT booked FROM slot_counters") == 3
    assert (await book(client, world, "u", slot["id"], 1)).status_code == 201
    assert await remaining(client, world, slot) == 0


async def test_party_too_large_and_unknown_slot(client: Client, world: World) -> None:
    (slot,) = await make_slots(client, world, capacity=100)
    await world.traveller("t")
    assert_problem(await book(client, world, "t", slot["id"], 11), 422, "bookings.party_too_large")
    assert_problem(await book(client, world, "t", str(uuid.uuid4()), 1), 404, "slots.not_found")


async def test_daily_limit_and_cancel_frees_it(client: Client, world: World) -> None:
    slots = await make_slots(client, world, capacity=10, count=2)
    await world.traveller("t")
    r = await book(client, world, "t", slots[0]["id"])
    assert r.status_code == 201
    assert_problem(await book(client, world, "t", slots[1]["id"]), 409, "bookings.daily_limit")
    auth = world.auth("traveller_t")
    r = await client.post(f"/v1/bookings/{r.json()['id']}/cancel", headers=auth)
    assert r.status_code == 200
    assert (await book(client, world, "t", slots[1]["id"])).status_code == 201


async def test_outside_window(client: Client, world: World) -> None:
    await world.traveller("t")
    far = (datetime.now(UTC) + timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    (late,) = await make_slots(client, world, start=far)
    assert_problem(await book(client, world, "t", late["id"]), 422, "bookings.outside_window")
    past = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    (started,) = await make_slots(client, world, start=past)
    assert_problem(await book(client, world, "t", started["id"]), 422, "bookings.outside_window")


async def test_idempotent_retry_returns_first_answer(
    client: Client, world: World, conn: Any
) -> None:
    (slot,) = await make_slots(client, world, capacity=10)
    await world.traveller("t")
    first = await book(client, world, "t", slot["id"], 2, key="k-1")
    again = await book(client, world, "t", slot["id"], 2, key="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert await conn.fetchval("SELECT count(*) FROM bookings") == 1
    assert await remaining(client, world, slot) == 8
    assert_problem(
        await book(client, world, "t", slot["id"], 3, key="k-1"), 422, "idempotency.key_reused"
    )
    # the same key of another traveller is another key
    await world.traveller("u")
    assert (await book(client, world, "u", slot["id"], 1, key="k-1")).status_code == 201


async def test_idempotent_failure_is_stored_too(client: Client, world: World) -> None:
    (slot,) = await make_slots(client, world, capacity=1)
    await world.traveller("t")
    await world.traveller("u")
    assert_problem(
        await book(client, world, "t", slot["id"], 2, key="full"), 409, "bookings.slot_full"
    )
    # room appears (capacity stays 1, but the answer under the key is the stored one)
    assert_problem(
        await book(client, world, "t", slot["id"], 2, key="full"), 409, "bookings.slot_full"
    )


async def test_expired_key_is_forgotten(client: Client, world: World, conn: Any) -> None:
    (slot,) = await make_slots(client, world, capacity=10)
    await world.traveller("t")
    first = await book(client, world, "t", slot["id"], 1, key="old")
    await client.post(
        f"/v1/bookings/{first.json()['id']}/cancel", headers=world.auth("traveller_t")
    )
    await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    second = await book(client, world, "t", slot["id"], 1, key="old")
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    assert await service.purge_idempotency_keys(conn, 24) == 1


@pytest.mark.parametrize("key", ["", "x" * 201])
async def test_bad_idempotency_key(client: Client, world: World, key: str) -> None:
    (slot,) = await make_slots(client, world)
    await world.traveller("t")
    assert_problem(await book(client, world, "t", slot["id"], 1, key=key), 400)


async def test_cancel_twice_frees_places_once(client: Client, world: World, conn: Any) -> None:
    (slot,) = await make_slots(client, world, capacity=10)
    await world.traveller("t")
    b = (await book(client, world, "t", slot["id"], 4)).json()
    assert await remaining(client, world, slot) == 6
    # one after another here; the concurrent version is in tests/concurrency
    answers = [
        await client.post(f"/v1/bookings/{b['id']}/cancel", headers=world.auth("traveller_t"))
        for _ in range(5)
    ]
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert all(x == bodies[0] for x in bodies)
    assert bodies[0]["status"] == "cancelled"
    assert await remaining(client, world, slot) == 10
    again = await client.post(f"/v1/bookings/{b['id']}/cancel", headers=world.auth("traveller_t"))
    assert again.status_code == 200
    assert again.json() == bodies[0]
    assert await conn.fetchval("SELECT booked FROM slot_counters") == 0


async def test_cancel_bumps_changed_at(client: Client, world: World, conn: Any) -> None:
    (slot,) = await make_slots(client, world)
    await world.traveller("t")
    b = (await book(client, world, "t", slot["id"])).json()
    await conn.execute("UPDATE bookings SET changed_at = now() - interval '1 hour'")
    before = await conn.fetchval("SELECT changed_at FROM bookings")
    await client.post(f"/v1/bookings/{b['id']}/cancel", headers=world.auth("traveller_t"))
    assert await conn.fetchval("SELECT changed_at FROM bookings") > before


async def test_no_cancel_after_use_or_start(client: Client, world: World, conn: Any) -> None:
    slots = await make_slots(client, world, capacity=10, count=1)
    (other,) = await make_slots(client, world, "b")
    await world.traveller("t")
    used = (await book(client, world, "t", slots[0]["id"])).json()
    started = (await book(client, world, "t", other["id"])).json()
    await conn.execute("UPDATE bookings SET status = 'used' WHERE id = $1", uuid.UUID(used["id"]))
    await conn.execute(
        "UPDATE bookings SET starts_at = now() - interval '5 minutes' WHERE id = $1",
        uuid.UUID(started["id"]),
    )
    auth = world.auth("traveller_t")
    assert_problem(
        await client.post(f"/v1/bookings/{used['id']}/cancel", headers=auth),
        409,
        "bookings.already_used",
    )
    assert_problem(
        await client.post(f"/v1/bookings/{started['id']}/cancel", headers=auth),
        409,
        "bookings.too_late_to_cancel",
    )
    assert await conn.fetchval("SELECT sum(booked) FROM slot_counters") == 2


async def test_no_shows_read_lazily_and_are_released(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """Unused at its start + the late grace, a booking is a no-show and its places go
    back to the slot (issue #18: walk-up sale of the slot under way)."""
    slots = await make_slots(client, world, capacity=10)
    (fresh,) = await make_slots(client, world, "b")
    await world.traveller("t")
    gone = (await book(client, world, "t", slots[0]["id"], 3)).json()
    kept = (await book(client, world, "t", fresh["id"])).json()
    # the slot started 31 minutes ago: past venue a's 30 minutes of late grace
    await conn.execute(
        "UPDATE bookings SET starts_at = now() - interval '31 minutes',"
        " ends_at = now() + interval '29 minutes', created_at = now() - interval '1 day',"
        " changed_at = now() - interval '2 hours' WHERE id = $1",
        uuid.UUID(gone["id"]),
    )
    auth = world.auth("traveller_t")
    r = await client.get(f"/v1/bookings/{gone['id']}", headers=auth)
    assert r.json()["status"] == "no_show"
    r = await client.get("/v1/me/bookings", params={"status": "no_show"}, headers=auth)
    assert [x["id"] for x in r.json()["items"]] == [gone["id"]]
    assert (
        await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(gone["id"]))
        == "booked"
    )

    assert await service.release_no_shows(conn) == 1
    row = await fetch_row(
        conn, "SELECT status, changed_at FROM bookings WHERE id = $1", uuid.UUID(gone["id"])
    )
    assert row["status"] == "no_show"
    assert row["changed_at"] > datetime.now(UTC) - timedelta(minutes=1)
    # the three places are back on sale
    assert (
        await conn.fetchval(
            "SELECT booked FROM slot_counters WHERE slot_id = $1", uuid.UUID(slots[0]["id"])
        )
        == 0
    )
    assert (
        await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(kept["id"]))
        == "booked"
    )
    assert await service.release_no_shows(conn) == 0
    # within the grace it is not yet a no-show
    await conn.execute(
        "UPDATE bookings SET starts_at = now() - interval '29 minutes',"
        " created_at = now() - interval '1 day' WHERE id = $1",
        uuid.UUID(kept["id"]),
    )
    assert await service.release_no_shows(conn) == 0
    # a walk-up booking made after the start has its grace from when it was made
    await conn.execute(
        "UPDATE bookings SET starts_at = now() - interval '50 minutes',"
        " created_at = now() - interval '10 minutes' WHERE id = $1",
        uuid.UUID(kept["id"]),
    )
    assert await service.release_no_shows(conn) == 0


async def test_periodic_loop_survives_errors() -> None:
    calls: list[int] = []

    async def job() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise asyncpg.exceptions.CannotConnectNowError("database is starting up")

    task = asyncio.create_task(service.run_periodically(job, 0.01, first_delay=0))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if len(calls) >= 3:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 3


async def test_sweep_runs_against_a_pool(db_url: str, conn: asyncpg.Connection) -> None:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        await conn.execute(
            "INSERT INTO idempotency_keys (traveller_id, key, request_hash, created_at)"
            " VALUES (gen_random_uuid(), 'k', '\\x00', now() - interval '2 days')"
        )
        assert await service.sweep(pool, 24) == (0, 1)
        assert await service.sweep(pool, 24) == (0, 0)
    finally:
        await pool.close()


async def test_another_traveller_sees_404(client: Client, world: World, conn: Any) -> None:
    (slot,) = await make_slots(client, world)
    await world.traveller("a")
    await world.traveller("b")
    mine = (await book(client, world, "a", slot["id"], 2)).json()
    other = world.auth("traveller_b")
    assert_problem(
        await client.get(f"/v1/bookings/{mine['id']}", headers=other), 404, "bookings.not_found"
    )
    assert_problem(
        await client.post(f"/v1/bookings/{mine['id']}/cancel", headers=other),
        404,
        "bookings.not_found",
    )
    assert (await client.get("/v1/me/bookings", headers=other)).json()["items"] == []
    assert await conn.fetchval("SELECT status FROM bookings") == "booked"
    assert await conn.fetchval("SELECT booked FROM slot_counters") == 2


async def test_only_travellers_book(client: Client, world: World) -> None:
    (slot,) = await make_slots(client, world)
    body = {"slot_id": slot["id"], "party_size": 1}
    assert_problem(await client.post("/v1/bookings", json=body), 401)
    assert_problem(await client.post("/v1/bookings", json=body, headers=ADMIN), 403)
    assert_problem(
        await client.post("/v1/bookings", json=body, headers=world.auth("operator_a")), 403
    )
    assert_problem(await client.get("/v1/me/bookings", headers=world.auth("gate_a")), 403)


@pytest.mark.parametrize(
    "body",
    [
        {"party_size": 0},
        {"party_size": -1},
        {"party_size": 10_000},
        {"party_size": "2"},
        {"party_size": 1.5},
        {"party_size": None},
        {"slot_id": "not-a-uuid"},
        {"slot_id": 42},
        {"extra": True},
        {"party_size": 1, "slot_id": None},
    ],
)
async def test_bad_bodies_are_400(client: Client, world: World, body: dict[str, Any]) -> None:
    (slot,) = await make_slots(client, world)
    await world.traveller("t")
    full: dict[str, Any] = {"slot_id": slot["id"], "party_size": 1}
    full.update(body)
    r = await client.post("/v1/bookings", json=full, headers=world.auth("traveller_t"))
    assert_problem(r, 400, "request.invalid")


async def test_missing_and_malformed_bodies(client: Client, world: World) -> None:
    await world.traveller("t")
    auth = world.auth("traveller_t")
    for content in (b"", b"{", b"[]", b"null", b'{"slot_id": "x"}', b"\xff\xfe"):
        r = await client.post(
            "/v1/bookings", content=content, headers={**auth, "Content-Type": "application/json"}
        )
        assert 400 <= r.status_code < 500, (content, r.status_code, r.text)
        assert_problem(r, r.status_code)


async def test_bad_ids_and_queries(client: Client, world: World) -> None:
    await world.traveller("t")
    auth = world.auth("traveller_t")
    assert (await client.get("/v1/bookings/not-a-uuid", headers=auth)).status_code == 404
    assert (await client.post("/v1/bookings/123/cancel", headers=auth)).status_code == 404
    assert_problem(
        await client.get(f"/v1/bookings/{uuid.uuid4()}", headers=auth), 404, "bookings.not_found"
    )
    assert_problem(
        await client.post(f"/v1/bookings/{uuid.uuid4()}/cancel", headers=auth),
        404,
        "bookings.not_found",
    )
    assert_problem(
        await client.get("/v1/me/bookings", params={"status": "bogus"}, headers=auth), 400
    )
    assert_problem(await client.get("/v1/me/bookings", params={"limit": "0"}, headers=auth), 400)
    assert_problem(await client.get("/v1/me/bookings", params={"limit": "x"}, headers=auth), 400)


async def test_openapi_lists_booking_routes(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "/v1/bookings" in paths
    assert "/v1/me/bookings" in paths
    assert "/v1/bookings/{booking_id}/cancel" in paths


async def test_walk_up_until_end_minus_late_grace(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """A slot under way stays on sale until its end less the venue's late grace (30 min)."""
    await world.traveller("t")
    await world.traveller("u")
    now = datetime.now(UTC).replace(microsecond=0)
    (under_way,) = await make_slots(client, world, start=now - timedelta(minutes=20))
    r = await book(client, world, "t", under_way["id"])
    assert r.status_code == 201, r.text
    # the same slot 11 minutes later: its end (in 40 - 11 = 29 minutes) is within the grace
    await conn.execute(
        "UPDATE slots SET starts_at = starts_at - interval '11 minutes',"
        " ends_at = ends_at - interval '11 minutes'"
    )
    assert_problem(await book(client, world, "u", under_way["id"]), 422, "bookings.outside_window")


async def test_a_booking_is_one_hot_update_of_one_narrow_counter_row(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """The place counter is its own row (slot_counters, migration 0070): a booking
    updates that one row, as a HOT update (no index on a counter column), and writes
    nothing to the slot catalog (a reference table under Citus)."""
    (slot,) = await make_slots(client, world, capacity=50)
    people = [uuid.uuid4() for _ in range(5)]
    await conn.executemany("INSERT INTO travellers (id) VALUES ($1)", [(t,) for t in people])
    async with conn.transaction():
        for t in people:
            outcome = await conn.fetchval(
                "SELECT outcome FROM onecode_book_slot($1, $2, 1, NULL, NULL, interval '0')",
                t,
                uuid.UUID(slot["id"]),
            )
            assert outcome == "booked"
        stats = await conn.fetchrow(
            """SELECT pg_stat_get_xact_tuples_updated('slot_counters'::regclass) AS counters,
                      pg_stat_get_xact_tuples_hot_updated('slot_counters'::regclass) AS hot,
                      pg_stat_get_xact_tuples_updated('slots'::regclass) AS catalog"""
        )
    assert stats is not None
    assert (stats["counters"], stats["hot"], stats["catalog"]) == (5, 5, 0)
