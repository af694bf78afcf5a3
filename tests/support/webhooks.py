"""Helpers of the webhook tests: settings for loopback receivers, a worker running in the
test's loop, and the API calls the tests repeat."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from standardwebhooks.webhooks import Webhook

from onecode.db import create_pool
from onecode.settings import Settings
from onecode.webhooks.signing import MessageSigner, SecretSealer
from onecode.webhooks.worker import DeliveryWorker
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.support.receiver import Receiver

Client = AsyncTestClient[Litestar]


def webhook_settings(db_url: str, tmp_path: Path) -> Settings:
    """The suite's settings with loopback receivers allowed and quick retries."""
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        admin_token=ADMIN_TOKEN,
        rate_limit=False,
        token_cache_seconds=0,
        log_json=False,
        webhooks_allow_loopback=True,
        webhooks_allow_http=True,
        webhooks_timeout_seconds=0.5,
        webhooks_connect_timeout_seconds=0.5,
        webhooks_backoff_base_seconds=0.05,
        webhooks_backoff_max_seconds=0.2,
        webhooks_lease_seconds=2.0,
        webhooks_poll_seconds=0.05,
    )


@contextlib.asynccontextmanager
async def started_receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


@contextlib.asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[DeliveryWorker]:
    assert settings.database_url
    pool = await create_pool(settings.database_url, settings)
    worker = DeliveryWorker(pool, settings, SecretSealer(settings), signer=MessageSigner(settings))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await pool.close()


async def allow_loopback(client: Client) -> None:
    r = await client.post("/v1/admin/webhook-hosts", json={"host": "127.0.0.1"}, headers=ADMIN)
    assert r.status_code == 201, r.text


async def subscribe(
    client: Client, url: str, headers: dict[str, str] = ADMIN, **body: Any
) -> dict[str, Any]:
    payload = {"url": url, "events": ["venue.level_changed"], **body}
    r = await client.post("/v1/webhooks", json=payload, headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def ping(client: Client, sub_id: str, headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    r = await client.post(f"/v1/webhooks/{sub_id}/ping", headers=headers)
    assert r.status_code == 202, r.text
    out: dict[str, Any] = r.json()
    return out


async def wait_state(
    client: Client, sub_id: str, delivery_id: str, state: str, timeout: float = 10.0
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await client.get(f"/v1/webhooks/{sub_id}/deliveries/{delivery_id}", headers=ADMIN)
        assert r.status_code == 200, r.text
        detail: dict[str, Any] = r.json()
        if detail["delivery"]["state"] == state:
            return detail
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"delivery still {detail['delivery']['state']}: {detail}")
        await asyncio.sleep(0.05)


def verify(secret: str, body: bytes, headers: dict[str, str]) -> Any:
    return Webhook(secret).verify(body, headers)


def fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__struct_fields__}
