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
