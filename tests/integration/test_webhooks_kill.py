"""``kill -9`` of the webhook worker mid-delivery loses nothing: ``onecode
webhooks-worker`` as a real process, a real receiver on loopback, SIGKILL while the
receiver holds requests, then a new worker delivers every message with its webhook-id."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.settings import Settings
from tests.support.receiver import Receiver
from tests.support.webhooks import (
    allow_loopback,
    ping,
    started_receiver,
    subscribe,
    verify,
    webhook_settings,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return webhook_settings(db_url, tmp_path)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with started_receiver() as r:
        yield r


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings)) as c:
        yield c


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    assert settings.database_url
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "ONECODE_DATA_DIR": str(settings.data_dir),  # the same webhook key as the API
        "ONECODE_WEBHOOKS_ALLOW_LOOPBACK": "on",
        "ONECODE_WEBHOOKS_ALLOW_HTTP": "on",
        "ONECODE_WEBHOOKS_LEASE_SECONDS": "2",
        "ONECODE_WEBHOOKS_TIMEOUT_SECONDS": "30",  # a hung receiver holds the worker
        "ONECODE_WEBHOOKS_POLL_SECONDS": "0.05",
        "ONECODE_WEBHOOKS_BACKOFF_BASE_SECONDS": "0.05",
        "ONECODE_WEBHOOKS_BACKOFF_MAX_SECONDS": "0.2",
        "ONECODE_WEBHOOKS_CONCURRENCY": "4",
        "ONECODE_LOG_JSON": "off",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "onecode", "webhooks-worker"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


async def wait_delivered(conn: asyncpg.Connection, count: int, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        n = await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'")
        if n == count:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{n} of {count} delivered")
        await asyncio.sleep(0.1)


async def test_kill_9_mid_delivery_loses_nothing(
    api: AsyncTestClient[Litestar],
    receiver: Receiver,
    settings: Settings,
    conn: asyncpg.Connection,
) -> None:
    await allow_loopback(api)
    created = await subscribe(api, receiver.url)
    sub_id = created["subscription"]["id"]
    receiver.script.extend(["hang"] * 4)  # the first worker's requests never get answers
    queued = [await ping(api, sub_id) for _ in range(12)]
    first = start_worker(settings)
    try:
        await receiver.wait_for(4, timeout=30)  # four in flight, held by the receiver
        kill_9(first)
    finally:
        if first.poll() is None:
            first.kill()
    # nothing was recorded for the killed attempts: still pending, leased
    states = await conn.fetch("SELECT state, attempts FROM webhook_deliveries")
    assert {r["state"] for r in states} == {"pending"}
    assert await conn.fetchval("SELECT count(*) FROM webhook_attempts") == 0
    receiver.default = "slow"  # the second worker's receiver answers, slowly
    second = start_worker(settings)
    try:
        await wait_delivered(conn, len(queued))
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert second.returncode == 0, (second.stderr.read() if second.stderr else b"")[-2000:]
    by_id: dict[str, list[bytes]] = {}
    for got in receiver.received:
        verify(created["secret"], got.body, got.headers)
        by_id.setdefault(got.headers["webhook-id"], []).append(got.body)
    assert set(by_id) == {q["webhook_id"] for q in queued}
    # at least once, the same bytes each time; the four held ones went twice
    assert all(len(set(bodies)) == 1 for bodies in by_id.values())
    assert sorted(len(b) for b in by_id.values()).count(2) == 4
    log = await conn.fetch("SELECT outcome, n FROM webhook_attempts")
    assert {r["outcome"] for r in log} == {"delivered"} and len(log) == len(queued)
