"""Fair allocation through the API (issue #18): the waiting list and its offers, the
walk-in quota and the staffed window, no-show release to the waiting list, lotteries
with an auditable draw, notifications, and the durable worker."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from httpx import Response

from onecode.allocation import worker
from tests.api.test_bookings import Client, book, make_slots, remaining
from tests.conftest import World
from tests.support.problems import assert_problem


async def join(client: Client, world: World, who: str, slot_id: str, party: int = 1) -> Response:
    return await client.post(
        f"/v1/slots/{slot_id}/waitlist",
        json={"party_size": party},
        headers=world.auth(f"traveller_{who}"),
    )


async def entries(client: Client, world: World, who: str) -> list[dict[str, Any]]:
    r = await client.get("/v1/me/waitlist", headers=world.auth(f"traveller_{who}"))
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return list(r.json()["items"])


async def notifications(client: Client, world: World, who: str) -> list[dict[str, Any]]:
    r = await client.get("/v1/me/notifications", headers=world.auth(f"traveller_{who}"))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def accept(client: Client, world: World, who: str, entry_id: str) -> Response:
    return await client.post(
        f"/v1/me/waitlist/{entry_id}/accept", headers=world.auth(f"traveller_{who}")
    )


async def full_slot(client: Client, world: World, capacity: int = 2) -> dict[str, Any]:
    """A slot whose places are all booked, by travellers h0..h{capacity-1}."""
    (slot,) = await make_slots(client, world, capacity=capacity)
    for i in range(capacity):
        await world.traveller(f"h{i}")
        assert (await book(client, world, f"h{i}", slot["id"])).status_code == 201
    return slot


async def test_join_list_leave(client: Client, world: World) -> None:
    (open_slot,) = await make_slots(client, world, "b", capacity=5)
    slot = await full_slot(client, world)
    for who in ("w1", "w2"):
        await world.traveller(who)
    assert_problem(await join(client, world, "w1", open_slot["id"]), 409, "waitlist.slot_not_full")
    assert_problem(await join(client, world, "w1", str(uuid.uuid4())), 404, "slots.not_found")
    assert_problem(await join(client, world, "w1", slot["id"], 11), 422, "bookings.party_too_large")
    r = await join(client, world, "w1", slot["id"], 2)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["state"] == "waiting" and first["ahead"] == 0 and first["party_size"] == 2
    r = await join(client, world, "w2", slot["id"])
    assert r.status_code == 201 and r.json()["ahead"] == 1
    assert_problem(await join(client, world, "w1", slot["id"]), 409, "waitlist.already_waiting")
    assert [e["id"] for e in await entries(client, world, "w1")] == [first["id"]]
    # leaving twice answers the same; the next one moves up
    for _ in range(2):
        r = await client.delete(
            f"/v1/me/waitlist/{first['id']}", headers=world.auth("traveller_w1")
        )
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "left"
    assert (await entries(client, world, "w2"))[0]["ahead"] == 0
    # someone else's entry is not found
    r = await client.delete(f"/v1/me/waitlist/{first['id']}", headers=world.auth("traveller_w2"))
    assert_problem(r, 404, "waitlist.not_found")


async def test_real_name_limit_applies_to_entries(client: Client, world: World) -> None:
    """Venue a allows one booking per traveller and day: a live entry counts as one."""
    slot = await full_slot(client, world, capacity=1)
    (other,) = await make_slots(
        client,
        world,
        capacity=1,
        start=datetime.fromisoformat(slot["starts_at"]) + timedelta(hours=1),
    )
    await world.traveller("x")
    assert (await book(client, world, "x", other["id"])).status_code == 201
    assert_problem(await join(client, world, "x", slot["id"]), 409, "bookings.daily_limit")
    await world.traveller("y")
    assert (await join(client, world, "y", slot["id"])).status_code == 201
    await world.traveller("z")
    assert (await book(client, world, "z", other["id"])).status_code == 409  # full


async def test_freed_places_go_to_the_waiting_list_in_order(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    slot = await full_slot(client, world, capacity=2)
    for who in ("w1", "w2", "w3", "walkup"):
        await world.traveller(who)
    e1 = (await join(client, world, "w1", slot["id"], 2)).json()
    e2 = (await join(client, world, "w2", slot["id"], 1)).json()
    e3 = (await join(client, world, "w3", slot["id"], 1)).json()
    booking = (await client.get("/v1/me/bookings", headers=world.auth("traveller_h0"))).json()[
        "items"
    ][0]
    r = await client.post(
        f"/v1/bookings/{booking['id']}/cancel", headers=world.auth("traveller_h0")
    )
    assert r.status_code == 200
    # the freed place is held for the waiting list at once: general sale cannot take it
    assert_problem(await book(client, world, "walkup", slot["id"]), 409, "bookings.slot_full")
    assert await remaining(client, world, slot) == 0
    assert await worker.drain(conn) == 1
    # one place: w1 (party of 2) does not fit, w2 is the first that fits
    states = {e["id"]: e for w in ("w1", "w2", "w3") for e in await entries(client, world, w)}
    assert states[e1["id"]]["state"] == "waiting"
    assert states[e2["id"]]["state"] == "offer"
    assert states[e3["id"]]["state"] == "waiting"
    expires = datetime.fromisoformat(states[e2["id"]]["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    (note,) = await notifications(client, world, "w2")
    assert note["type"] == "waitlist.offer_made"
    assert note["payload"]["entry_id"] == e2["id"]
    assert await notifications(client, world, "w1") == []

    first = await accept(client, world, "w2", e2["id"])
    assert first.status_code == 201, first.text
    assert first.json()["channel"] == "waitlist" and first.json()["status"] == "booked"
    again = await accept(client, world, "w2", e2["id"])
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert (await entries(client, world, "w2"))[0]["state"] == "booked"
    row = await conn.fetchrow("SELECT booked, held, capacity FROM slot_counters")
    assert row is not None and (row["booked"], row["held"]) == (2, 0)
    assert await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'booked'") == 2
    # nothing else to offer: w3 still waits; w1 accepting nothing is told so
    assert_problem(await accept(client, world, "w1", e1["id"]), 409, "waitlist.no_offer")


async def test_an_unanswered_offer_passes_on(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    slot = await full_slot(client, world, capacity=1)
    for who in ("w1", "w2"):
        await world.traveller(who)
    e1 = (await join(client, world, "w1", slot["id"])).json()
    e2 = (await join(client, world, "w2", slot["id"])).json()
    booking = (await client.get("/v1/me/bookings", headers=world.auth("traveller_h0"))).json()[
        "items"
    ][0]
    await client.post(f"/v1/bookings/{booking['id']}/cancel", headers=world.auth("traveller_h0"))
    await worker.drain(conn)
    assert (await entries(client, world, "w1"))[0]["state"] == "offer"
    # the next round is queued for the expiry
    assert await conn.fetchval("SELECT count(*) FROM allocation_jobs WHERE run_at > now()") == 1
    # time passes: the offer is due
    await conn.execute(
        "UPDATE waitlist_entries SET expires_at = now() - interval '1 second' WHERE state = 'offer'"
    )
    await conn.execute("UPDATE allocation_jobs SET run_at = now()")
    assert (await entries(client, world, "w1"))[0]["state"] == "expired"  # read lazily
    assert_problem(await accept(client, world, "w1", e1["id"]), 409, "waitlist.offer_expired")
    await worker.drain(conn)
    assert (await entries(client, world, "w1"))[0]["state"] == "expired"
    assert (await entries(client, world, "w2"))[0]["state"] == "offer"
    assert_problem(await accept(client, world, "w1", e1["id"]), 409, "waitlist.no_offer")
    assert (await accept(client, world, "w2", e2["id"])).status_code == 201
    assert await conn.fetchval("SELECT booked FROM slot_counters") == 1


async def test_declining_an_offer_passes_it_on(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    slot = await full_slot(client, world, capacity=1)
    for who in ("w1", "w2"):
        await world.traveller(who)
    e1 = (await join(client, world, "w1", slot["id"])).json()
    await join(client, world, "w2", slot["id"])
    booking = (await client.get("/v1/me/bookings", headers=world.auth("traveller_h0"))).json()[
        "items"
    ][0]
    await client.post(f"/v1/bookings/{booking['id']}/cancel", headers=world.auth("traveller_h0"))
    await worker.drain(conn)
    r = await client.delete(f"/v1/me/waitlist/{e1['id']}", headers=world.auth("traveller_w1"))
    assert r.json()["state"] == "left"
    await worker.drain(conn)
    assert (await entries(client, world, "w2"))[0]["state"] == "offer"
    assert await conn.fetchval("SELECT held FROM slot_counters") == 1


async def test_no_show_release_offers_to_the_waiting_list(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    from onecode.bookings import service

    now = datetime.now(UTC).replace(microsecond=0)
    (slot,) = await make_slots(client, world, capacity=1, start=now - timedelta(minutes=10))
    await world.traveller("late")
    await world.traveller("here")
    assert (await book(client, world, "late", slot["id"])).status_code == 201
    assert (await join(client, world, "here", slot["id"])).status_code == 201
    # unused 31 minutes after the start (the booking made a day before)
    await conn.execute(
        "UPDATE bookings SET starts_at = starts_at - interval '21 minutes',"
        " created_at = now() - interval '1 day'"
    )
    assert await service.release_no_shows(conn) == 1
    assert await worker.drain(conn) == 1
    (entry,) = await entries(client, world, "here")
    assert entry["state"] == "offer"
    assert (await accept(client, world, "here", entry["id"])).status_code == 201
    r = await client.get("/v1/me/bookings", headers=world.auth("traveller_late"))
    assert r.json()["items"][0]["status"] == "no_show"
    assert await conn.fetchval("SELECT booked FROM slot_counters") == 1


async def test_walkin_quota_and_the_staffed_window(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue = await world.venue(
        "CN-GZ-AS", "Walk-in", walkin_quota_pct=50, walkin_release_min=60, max_party_size=4
    )
    op = await world.post("/v1/admin/operators", {"name": "window", "venue_ids": [venue["id"]]})
    assert venue["walkin_quota_pct"] == 50
    r = await client.patch(
        f"/v1/admin/venues/{venue['id']}", json={"offer_expiry_min": 5}, headers=world.auth("admin")
    )
    assert r.status_code == 200, r.text
    assert (r.json()["offer_expiry_min"], r.json()["walkin_quota_pct"]) == (5, 50)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=2, minute=0, second=0, microsecond=0
    )
    slots = await world.post(
        f"/v1/venues/{venue['id']}/slots",
        {
            "slots": [
                {
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(hours=1)).isoformat(),
                    "capacity": 4,
                }
            ]
        },
    )
    slot = slots["slots"][0]
    assert slot["remaining"] == 2  # two of four held for the staffed window
    await world.traveller("app")
    assert (await book(client, world, "app", slot["id"], 2)).status_code == 201
    await world.traveller("more")
    assert_problem(await book(client, world, "more", slot["id"], 1), 409, "bookings.slot_full")

    window = {"Authorization": f"Bearer {op['token']}"}
    r = await client.post(
        f"/v1/venues/{venue['id']}/walkins",
        json={"slot_id": slot["id"], "party_size": 1, "display_name": "Mr. Li"},
        headers=window,
    )
    assert r.status_code == 201, r.text
    walkin = r.json()
    assert walkin["booking"]["channel"] == "walkin" and walkin["code"].startswith("TQ1")
    assert walkin["code_kind"] == "paper"
    assert await conn.fetchval("SELECT walkin_booked FROM slot_counters") == 1
    # another operator's venue is not found; a slot of another venue neither
    r = await client.post(
        f"/v1/venues/{world.ids['venue_a']}/walkins",
        json={"slot_id": slot["id"], "party_size": 1},
        headers=window,
    )
    assert_problem(r, 404, "venues.not_found")
    r = await client.post(
        f"/v1/venues/{world.ids['venue_a']}/walkins",
        json={"slot_id": slot["id"], "party_size": 1},
        headers=world.auth("operator_a"),
    )
    assert_problem(r, 404, "slots.not_found")
    # the quota frees into general sale an hour before the start
    await conn.execute(
        "UPDATE slots SET starts_at = now() + interval '59 minutes',"
        " ends_at = now() + interval '119 minutes'"
    )
    assert (await book(client, world, "more", slot["id"], 1)).status_code == 201
    travellers = await conn.fetchval("SELECT count(*) FROM travellers")
    r = await client.post(
        f"/v1/venues/{venue['id']}/walkins",
        json={"slot_id": slot["id"], "party_size": 1},
        headers=window,
    )
    assert_problem(r, 409, "bookings.slot_full")
    # the refused walk-in registered nobody
    assert await conn.fetchval("SELECT count(*) FROM travellers") == travellers


async def test_lottery_draw_is_seeded_auditable_and_capped(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    day = datetime.now(UTC).date() + timedelta(days=5)
    start = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)  # 10:00 in Shanghai
    (slot,) = await make_slots(client, world, capacity=3, start=start)
    op = world.auth("operator_a")
    r = await client.post(
        f"/v1/venues/{world.ids['venue_a']}/lotteries",
        json={
            "local_day": day.isoformat(),
            "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
        headers=op,
    )
    assert r.status_code == 201, r.text
    lottery = r.json()
    assert lottery["state"] == "open" and lottery["seed"] is None
    again = await client.post(
        f"/v1/venues/{world.ids['venue_a']}/lotteries",
        json={
            "local_day": day.isoformat(),
            "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
        headers=op,
    )
    assert_problem(again, 409, "lotteries.exists")
    # general sale of that day waits for the draw
    await world.traveller("eager")
    assert_problem(await book(client, world, "eager", slot["id"]), 409, "bookings.lottery_open")
    tags = [f"a{i}" for i in range(8)]
    for tag in tags:
        await world.traveller(tag)
        r = await client.post(
            f"/v1/lotteries/{lottery['id']}/applications",
            json={"slot_id": slot["id"], "party_size": 1},
            headers=world.auth(f"traveller_{tag}"),
        )
        assert r.status_code == 201, r.text
    r = await client.post(
        f"/v1/lotteries/{lottery['id']}/applications",
        json={"slot_id": slot["id"], "party_size": 1},
        headers=world.auth("traveller_a0"),
    )
    assert_problem(r, 409, "lotteries.already_applied")
    (other_day,) = await make_slots(client, world)
    r = await client.post(
        f"/v1/lotteries/{lottery['id']}/applications",
        json={"slot_id": other_day["id"], "party_size": 1},
        headers=world.auth("traveller_eager"),
    )
    assert_problem(r, 422, "lotteries.slot_not_in_lottery")
    assert await worker.drain(conn) == 0  # not yet due
    # the deadline passes
    await conn.execute("UPDATE lotteries SET closes_at = now() - interval '1 second'")
    await conn.execute("UPDATE allocation_jobs SET run_at = now()")
    r = await client.post(
        f"/v1/lotteries/{lottery['id']}/applications",
        json={"slot_id": slot["id"], "party_size": 1},
        headers=world.auth("traveller_eager"),
    )
    assert_problem(r, 409, "lotteries.closed")
    assert await worker.drain(conn) == 1

    r = await client.get(
        f"/v1/venues/{world.ids['venue_a']}/lotteries/{lottery['id']}/draw", headers=op
    )
    assert r.status_code == 200, r.text
    draw = r.json()
    assert draw["lottery"]["state"] == "drawn" and draw["lottery"]["winners"] == 3
    seed = bytes.fromhex(draw["lottery"]["seed"])
    assert hashlib.sha256(seed).hexdigest() == lottery["seed_sha256"]
    # anyone can redo the order: SHA-256(seed || application id bytes), ascending
    rows = draw["items"]
    tickets = {
        a["application_id"]: hashlib.sha256(seed + uuid.UUID(a["application_id"]).bytes).digest()
        for a in rows
    }
    order = sorted(tickets, key=lambda a: (tickets[a], a))
    assert [a["application_id"] for a in rows] == order
    assert [a["ticket"] for a in rows] == [tickets[a].hex() for a in order]
    assert [a["result"] for a in rows] == ["won"] * 3 + ["waitlisted"] * 5
    assert (
        await conn.fetchval(
            "SELECT booked FROM slot_counters WHERE slot_id = $1", uuid.UUID(slot["id"])
        )
        == 3
    )
    # every applicant is told; losers wait in draw order
    results = {}
    for tag in tags:
        (note,) = await notifications(client, world, tag)
        assert note["type"] == "lottery.drawn"
        results[tag] = note["payload"]["result"]
        r = await client.get("/v1/me/applications", headers=world.auth(f"traveller_{tag}"))
        assert r.json()["items"][0]["result"] == results[tag]
    losers = [t for t in tags if results[t] == "waitlisted"]
    positions = {t: (await entries(client, world, t))[0]["position"] for t in losers}
    ranks = {}
    for t in losers:
        r = await client.get("/v1/me/applications", headers=world.auth(f"traveller_{t}"))
        ranks[t] = r.json()["items"][0]["rank"]
    assert sorted(losers, key=positions.__getitem__) == sorted(losers, key=ranks.__getitem__)
    # the public list shows the lottery, the seed once drawn
    r = await client.get(f"/v1/venues/{world.ids['venue_a']}/lotteries")
    assert r.json()["items"][0]["seed"] == draw["lottery"]["seed"]
    assert await worker.drain(conn) == 0


async def test_a_job_survives_a_crashed_worker(
    client: Client, world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    """A worker dies in the middle of an offer round: the job is still there, and the
    next worker does it (a job is taken and deleted in one transaction)."""
    slot = await full_slot(client, world, capacity=1)
    await world.traveller("w")
    await join(client, world, "w", slot["id"])
    booking = (await client.get("/v1/me/bookings", headers=world.auth("traveller_h0"))).json()[
        "items"
    ][0]
    await client.post(f"/v1/bookings/{booking['id']}/cancel", headers=world.auth("traveller_h0"))
    doomed = await asyncpg.connect(db_url)
    tx = doomed.transaction()
    await tx.start()
    job = await doomed.fetchrow("SELECT id FROM allocation_jobs FOR UPDATE SKIP LOCKED")
    assert job is not None
    await doomed.fetchrow(
        "SELECT * FROM onecode_offer_round("
        "(SELECT slot_id FROM allocation_jobs WHERE id = $1), now())",
        job["id"],
    )
    # the worker's process is killed before it commits
    pid = doomed.get_server_pid()
    await conn.execute("SELECT pg_terminate_backend($1)", pid)
    doomed.terminate()
    # the backend is gone only once its locks are (SKIP LOCKED would skip the job till then)
    for _ in range(200):
        if not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
            break
        await asyncio.sleep(0.05)
    assert await conn.fetchval("SELECT count(*) FROM allocation_jobs") == 1
    assert (await entries(client, world, "w"))[0]["state"] == "waiting"
    assert await worker.drain(conn) == 1
    assert (await entries(client, world, "w"))[0]["state"] == "offer"


async def test_a_failing_job_is_retried_later(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO allocation_jobs (kind, lottery_id) VALUES ('draw', gen_random_uuid())"
    )
    # an unknown lottery draws nothing and the job is done
    assert await worker.drain(conn) == 1
    await conn.execute(
        "INSERT INTO allocation_jobs (kind, slot_id) VALUES ('offer', gen_random_uuid())"
    )
    await conn.execute("ALTER FUNCTION onecode_offer_round(uuid, timestamptz) RENAME TO broken")
    try:
        with pytest.raises(asyncpg.PostgresError, match="onecode_offer_round"):
            await worker.run_one(conn)
        row = await conn.fetchrow(
            "SELECT attempts, last_error, run_at > now() AS later FROM allocation_jobs"
        )
        assert (
            row is not None
            and row["attempts"] == 1
            and row["later"]
            and "onecode_offer_round" in row["last_error"]
        )
    finally:
        await conn.execute("ALTER FUNCTION broken(uuid, timestamptz) RENAME TO onecode_offer_round")


async def test_a_cancelled_slot_ends_its_waiting_list(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """The operator cancels a full slot: its waiting entries read expired at once, the
    queued round writes it, and nobody can join any more."""
    slot = await full_slot(client, world, capacity=1)
    for who in ("w1", "w2"):
        await world.traveller(who)
    assert (await join(client, world, "w1", slot["id"])).status_code == 201
    r = await client.post(
        f"/v1/venues/{world.ids['venue_a']}/slots/{slot['id']}/cancel",
        json={"reason": "Flooded path"},
        headers=world.auth("operator_a"),
    )
    assert r.status_code == 200, r.text
    assert (await entries(client, world, "w1"))[0]["state"] == "expired"
    assert_problem(await join(client, world, "w2", slot["id"]), 409, "slots.cancelled")
    assert await worker.drain(conn) == 1
    assert await conn.fetchval("SELECT state FROM waitlist_entries") == "expired"
    assert await conn.fetchval("SELECT held FROM slot_counters") == 0
