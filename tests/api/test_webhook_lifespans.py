"""The webhook lifespans of the app: the delivery worker inside ``onecode serve``
(``webhooks_in_process``), and the gate heartbeats flushed from memory on the way out."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.settings import Settings
from tests.conftest import ADMIN, World
from tests.support.webhooks import (
    allow_loopback,
    fields,
    ping,
    started_receiver,
    subscribe,
    verify,
    wait_state,
    webhook_settings,
)


async def test_the_worker_runs_inside_the_app_when_asked(db_url: str, tmp_path: Path) -> None:
    base = webhook_settings(db_url, tmp_path)
    settings = Settings(**{**fields(base), "webhooks_in_process": True})
    async with started_receiver() as receiver:
        async with AsyncTestClient(app=create_app(settings)) as client:
            await allow_loopback(client)
            created = await subscribe(client, receiver.url)
            sub_id = created["subscription"]["id"]
            queued = await ping(client, sub_id)
            got = (await receiver.wait_for(1))[0]
            await wait_state(client, sub_id, queued["id"], "delivered")
        verify(created["secret"], got.body, got.headers)


async def test_gates_heard_from_are_flushed_to_the_heartbeats(
    db_url: str, tmp_path: Path, conn: asyncpg.Connection
) -> None:
    settings = webhook_settings(db_url, tmp_path)
    async with AsyncTestClient(app=create_app(settings)) as client:
        world = await World(client).build()
        r = await client.get("/v1/gate/pack", headers=world.auth("gate_a"))
        assert r.status_code == 200
        r = await client.get("/v1/venues", headers=ADMIN)  # not a gate: not a sighting
    seen = await conn.fetch("SELECT gate_id FROM gate_heartbeats")
    assert [row["gate_id"] for row in seen] == [uuid.UUID(world.ids["gate_a"])]


async def test_a_hanging_receiver_holds_nothing_the_api_needs(db_url: str, tmp_path: Path) -> None:
    """The worker inside the app, every delivery slot stuck on a receiver that never
    answers: the API's requests still get a pooled connection at once (the worker's pool
    is its own and holds no connection while it waits)."""
    import time

    base = webhook_settings(db_url, tmp_path)
    settings = Settings(
        **{
            **fields(base),
            "webhooks_in_process": True,
            "webhooks_timeout_seconds": 30.0,
            "webhooks_concurrency": 4,
            "pool_min": 1,
            "pool_max": 2,  # a worker borrowing from it would starve the API at once
            "db_acquire_timeout": 1.0,
        }
    )
    async with started_receiver() as receiver:
        receiver.default = "hang"
        async with AsyncTestClient(app=create_app(settings)) as client:
            world = await World(client).build()
            await allow_loopback(client)
            created = await subscribe(client, receiver.url)
            for _ in range(8):
                await ping(client, created["subscription"]["id"])
            await receiver.wait_for(4)  # all four delivery slots are held
            slowest = 0.0
            for _ in range(20):
                t0 = time.perf_counter()
                r = await client.get("/v1/gate/pack", headers=world.auth("gate_a"))
                slowest = max(slowest, time.perf_counter() - t0)
                assert r.status_code == 200, r.text
            assert slowest < 1.0, slowest
            assert len(receiver.received) == 4  # still stuck: no slot came free
