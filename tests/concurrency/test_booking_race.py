"""Hundreds of bookings race for one slot: never oversold, the counter stays exact.

Litestar's AsyncTestClient runs one request at a time (its transport blocks on a
portal), so the races here go through a real uvicorn server on a loopback socket, in
this test's event loop, with httpx: requests really overlap on the pool's connections.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import uvicorn
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.settings import Settings
from onecode.sql import Q
from tests.api.test_bookings import make_slots, remaining
from tests.conftest import World
from tests.support.db import fetch_row

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client against the app served by uvicorn (pool of 20 connections)."""
    # production-like: tokens cached; a generous acquire timeout because 300 requests
    # queue for 20 connections on a shared 2-core machine (the 2 s default is for outages)
    app = create_app(
        msgspec.structs.replace(
            settings, pool_max=20, pool_min=10, token_cache_seconds=10, db_acquire_timeout=30
        )
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
        ) as c:
            yield c
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _book(
    live: httpx.AsyncClient,
    world: World,
    tag: str,
    slot_id: str,
    party: int = 1,
    key: str | None = None,
) -> httpx.Response:
    headers = world.auth(f"traveller_{tag}")
    if key is not None:
        headers["Idempotency-Key"] = key
    return await live.post(
        "/v1/bookings", json={"slot_id": slot_id, "party_size": party}, headers=headers
    )


async def test_three_hundred_travellers_race_for_fifty_places(
    client: Client, world: World, conn: asyncpg.Connection, live: httpx.AsyncClient
) -> None:
    (slot,) = await make_slots(client, world, capacity=50)
    tags = [f"r{i}" for i in range(300)]
    for chunk in range(0, len(tags), 50):
        await asyncio.gather(*(world.traveller(t) for t in tags[chunk : chunk + 50]))
    rng = random.Random(7)
    parties = {t: rng.randint(1, 4) for t in tags}

    async def attempt(tag: str) -> tuple[str, Any]:
        return tag, await _book(live, world, tag, slot["id"], parties[tag])

    t0 = time.perf_counter()
    answers = await asyncio.gather(*(attempt(t) for t in tags))
    print(f"300 racing bookings in {time.perf_counter() - t0:.2f} s")
    accepted = [t for t, r in answers if r.status_code == 201]
    refused = [(t, r) for t, r in answers if r.status_code != 201]
    server_errors = [r.text for _, r in answers if r.status_code >= 500]
    assert not server_errors, server_errors[:3]
    for _, r in refused:
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "bookings.slot_full", r.text
    taken = sum(parties[t] for t in accepted)
    assert 0 < taken <= 50
    # with 300 parties of 1..4 asking, the slot must end (nearly) full: every refusal
    # is a party bigger than what was left
    left = await remaining(client, world, slot)
    assert taken == 50 - left
    assert all(parties[t] > left for t, _ in refused)
    assert (
        await conn.fetchval(
            "SELECT booked FROM slot_counters WHERE slot_id = $1", uuid.UUID(slot["id"])
        )
        == taken
    )
    assert await conn.fetchval("SELECT sum(party_size) FROM bookings") == taken
    assert await conn.fetchval("SELECT count(*) FROM bookings") == len(accepted)


async def test_many_connections_race_in_the_database(
    client: Client, world: World, db_url: str, conn: asyncpg.Connection
) -> None:
    """30 real connections, 600 calls of the booking function, bookings and cancels mixed."""
    (slot,) = await make_slots(client, world, capacity=100)
    slot_id = uuid.UUID(slot["id"])
    travellers = [uuid.uuid4() for _ in range(600)]
    await conn.executemany("INSERT INTO travellers (id) VALUES ($1)", [(t,) for t in travellers])
    rng = random.Random(11)
    parties = {t: rng.randint(1, 4) for t in travellers}
    conns = [await asyncpg.connect(db_url) for _ in range(30)]
    queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
    for t in travellers:
        queue.put_nowait(t)
    outcomes: dict[uuid.UUID, str] = {}
    start = asyncio.Event()

    async def worker(c: asyncpg.Connection) -> None:
        await start.wait()
        while not queue.empty():
            t = queue.get_nowait()
            key = f"race-{t}"
            h = hashlib.sha256(f"{slot_id}|{parties[t]}".encode()).digest()
            row = await fetch_row(
                c, Q()["bookings_insert_booking"], t, slot_id, parties[t], key, h, 24
            )
            assert row is not None
            outcomes[t] = row["outcome"]
            # a third of the winners cancel at once: their places go back to the pool
            if row["outcome"] == "booked" and rng.random() < 0.33:
                booking_id = uuid.UUID(json.loads(row["body"])["id"])  # no jsonb codec here
                assert await fetch_row(c, Q()["bookings_cancel_booking"], t, booking_id)

    try:
        tasks = [asyncio.create_task(worker(c)) for c in conns]
        start.set()
        await asyncio.gather(*tasks)
    finally:
        for c in conns:
            await c.close()

    assert set(outcomes.values()) <= {"booked", "slot_full"}
    live = await conn.fetchval(
        "SELECT coalesce(sum(party_size), 0) FROM bookings WHERE status = 'booked'"
    )
    booked, capacity = await fetch_row(
        conn, "SELECT booked, capacity FROM slot_counters WHERE slot_id = $1", slot_id
    )
    assert booked == live <= capacity
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 600
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE outcome IS NULL") == 0


async def test_concurrent_cancels_and_bookings_keep_counter_exact(
    client: Client, world: World, conn: asyncpg.Connection, live: httpx.AsyncClient
) -> None:
    """Cancel storms racing new bookings: the counter always equals the live bookings."""
    (slot,) = await make_slots(client, world, capacity=20)
    tags = [f"c{i}" for i in range(60)]
    await asyncio.gather(*(world.traveller(t) for t in tags))

    async def book(tag: str) -> Any:
        return await _book(live, world, tag, slot["id"])

    first = await asyncio.gather(*(book(t) for t in tags[:20]))
    assert all(r.status_code == 201 for r in first)

    async def cancel(tag: str, booking_id: str) -> Any:
        return await live.post(
            f"/v1/bookings/{booking_id}/cancel", headers=world.auth(f"traveller_{tag}")
        )

    mixed = await asyncio.gather(
        *(cancel(t, r.json()["id"]) for t, r in zip(tags[:20], first, strict=True)),
        *(cancel(t, r.json()["id"]) for t, r in zip(tags[:20], first, strict=True)),
        *(book(t) for t in tags[20:]),
    )
    assert all(r.status_code < 500 for r in mixed)
    booked = await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'booked'")
    assert await conn.fetchval("SELECT booked FROM slot_counters") == booked
    assert await remaining(client, world, slot) == 20 - booked


async def test_daily_limit_holds_under_concurrency(
    client: Client, world: World, conn: asyncpg.Connection, live: httpx.AsyncClient
) -> None:
    """One traveller, limit 1 a day, 12 slots of one day at once: exactly one booking."""
    base = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=1, minute=0, second=0, microsecond=0
    )
    for day in range(3):
        start = base + timedelta(days=day)
        slots = await make_slots(client, world, capacity=10, count=12, start=start)
        await world.traveller(f"t{day}")
        answers = await asyncio.gather(*(_book(live, world, f"t{day}", s["id"]) for s in slots))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * 11, [a.text for a in answers]
        assert {a.json()["code"] for a in answers if a.status_code == 409} == {
            "bookings.daily_limit"
        }
        booked = await conn.fetchval(
            "SELECT sum(booked) FROM slot_counters WHERE slot_id = ANY($1::uuid[])",
            [s["id"] for s in slots],
        )
        assert booked == 1


async def test_concurrent_same_key_makes_one_booking(
    client: Client, world: World, conn: asyncpg.Connection, live: httpx.AsyncClient
) -> None:
    (slot,) = await make_slots(client, world, capacity=50)
    await world.traveller("t")
    answers = await asyncio.gather(
        *(_book(live, world, "t", slot["id"], 2, key="same") for _ in range(10))
    )
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert all(a.json() == answers[0].json() for a in answers)
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 9
    assert await conn.fetchval("SELECT count(*) FROM bookings") == 1
    assert await remaining(client, world, slot) == 48


async def test_concurrent_cancels_free_places_once(
    client: Client, world: World, conn: asyncpg.Connection, live: httpx.AsyncClient
) -> None:
    (slot,) = await make_slots(client, world, capacity=10)
    await world.traveller("t")
    b = (await _book(live, world, "t", slot["id"], 4)).json()
    answers = await asyncio.gather(
        *(
            live.post(f"/v1/bookings/{b['id']}/cancel", headers=world.auth("traveller_t"))
            for _ in range(10)
        )
    )
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    assert all(a.json() == answers[0].json() for a in answers)
    assert answers[0].json()["status"] == "cancelled"
    assert await conn.fetchval("SELECT booked FROM slot_counters") == 0
    assert await remaining(client, world, slot) == 10
