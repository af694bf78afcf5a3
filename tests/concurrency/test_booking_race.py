"""Hundreds of bookings race for one slot: never oversold, the counter stays exact."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.sql import Q
from tests.api.test_bookings import make_slots, remaining
from tests.conftest import World

Client = AsyncTestClient[Litestar]


async def test_three_hundred_travellers_race_for_fifty_places(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    (slot,) = await make_slots(client, world, capacity=50)
    tags = [f"r{i}" for i in range(300)]
    for chunk in range(0, len(tags), 50):
        await asyncio.gather(*(world.traveller(t) for t in tags[chunk : chunk + 50]))
    rng = random.Random(7)
    parties = {t: rng.randint(1, 4) for t in tags}

    async def attempt(tag: str) -> tuple[str, Any]:
        r = await client.post(
            "/v1/bookings",
            json={"slot_id": slot["id"], "party_size": parties[tag]},
            headers=world.auth(f"traveller_{tag}"),
        )
        return tag, r

    answers = await asyncio.gather(*(attempt(t) for t in tags))
    accepted = [t for t, r in answers if r.status_code == 201]
    refused = [(t, r) for t, r in answers if r.status_code != 201]
    assert all(r.status_code < 500 for _, r in answers)
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
        await conn.fetchval("SELECT booked FROM slots WHERE id = $1", uuid.UUID(slot["id"]))
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
    outcomes: dict[uuid.UUID, int] = {}
    start = asyncio.Event()

    async def worker(c: asyncpg.Connection) -> None:
        await start.wait()
        while not queue.empty():
            t = queue.get_nowait()
            key = f"race-{t}"
            h = hashlib.sha256(f"{slot_id}|{parties[t]}".encode()).digest()
            row = await c.fetchrow(
                Q()["bookings_insert_booking"], t, slot_id, parties[t], key, h, 24
            )
            assert row is not None
            outcomes[t] = row["status_code"]
            # a third of the winners cancel at once: their places go back to the pool
            if row["status_code"] == 201 and rng.random() < 0.33:
                booking_id = uuid.UUID(json.loads(row["body"])["id"])  # no jsonb codec here
                assert await c.fetchrow(Q()["bookings_cancel_booking"], t, booking_id)

    try:
        tasks = [asyncio.create_task(worker(c)) for c in conns]
        start.set()
        await asyncio.gather(*tasks)
    finally:
        for c in conns:
            await c.close()

    assert set(outcomes.values()) <= {201, 409}
    live = await conn.fetchval(
        "SELECT coalesce(sum(party_size), 0) FROM bookings WHERE status = 'booked'"
    )
    booked, capacity = await conn.fetchrow(
        "SELECT booked, capacity FROM slots WHERE id = $1", slot_id
    )
    assert booked == live <= capacity
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 600
    assert (
        await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE status_code IS NULL") == 0
    )


async def test_concurrent_cancels_and_bookings_keep_counter_exact(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """Cancel storms racing new bookings: the counter always equals the live bookings."""
    (slot,) = await make_slots(client, world, capacity=20)
    tags = [f"c{i}" for i in range(60)]
    await asyncio.gather(*(world.traveller(t) for t in tags))

    async def book(tag: str) -> Any:
        return await client.post(
            "/v1/bookings",
            json={"slot_id": slot["id"], "party_size": 1},
            headers=world.auth(f"traveller_{tag}"),
        )

    first = await asyncio.gather(*(book(t) for t in tags[:20]))
    assert all(r.status_code == 201 for r in first)

    async def cancel(tag: str, booking_id: str) -> Any:
        return await client.post(
            f"/v1/bookings/{booking_id}/cancel", headers=world.auth(f"traveller_{tag}")
        )

    mixed = await asyncio.gather(
        *(cancel(t, r.json()["id"]) for t, r in zip(tags[:20], first, strict=True)),
        *(cancel(t, r.json()["id"]) for t, r in zip(tags[:20], first, strict=True)),
        *(book(t) for t in tags[20:]),
    )
    assert all(r.status_code < 500 for r in mixed)
    live = await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'booked'")
    assert await conn.fetchval("SELECT booked FROM slots") == live
    assert await remaining(client, world, slot) == 20 - live
