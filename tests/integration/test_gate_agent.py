"""The gate agent, killed at random moments, loses no scan and uploads none twice."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn

from onecode.app import create_app
from onecode.settings import Settings
from tests.conftest import ADMIN, World
from tests.support.servers import free_port


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    """A real uvicorn serving the test database, in a thread of its own."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
async def live(live_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_url, timeout=30) as c:
        yield c


def _agent(url: str, token: str, state: Path, **extra: str) -> subprocess.Popen[str]:
    args = [
        sys.executable,
        "-m",
        "onecode",
        "gate-agent",
        "--url",
        url,
        "--token",
        token,
        "--state-dir",
        str(state),
        "--upload-interval",
        "0.1",
        "--sync-interval",
        "0.5",
        "--timeout",
        "0.3",
        "--drain-seconds",
        "20",
    ]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", v]
    env = {**os.environ, "ONECODE_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


@pytest.mark.slow
async def test_agent_survives_kill_9_without_losing_or_doubling_scans(
    live: httpx.AsyncClient, live_url: str, db_url: str, tmp_path: Path
) -> None:
    world = await World(live).build()  # type: ignore[arg-type]
    venue = await world.venue(
        "CN-GZ", "Qingyan Ancient Town", requires_booking=False, entry_rule="reentry"
    )
    gate = await world.post(f"/v1/admin/venues/{venue['id']}/gates", {"name": "north"})
    codes = []
    for i in range(6):
        await world.traveller(str(i))
        codes.append(await world.code(str(i)))
    state = tmp_path / "agent"
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens: offline mode
    rng = random.Random(7)
    printed = 0

    # first a clean start online, so the pack is synced for later offline runs
    warm = _agent(live_url, gate["token"], state)
    await asyncio.sleep(2.0)
    warm.send_signal(signal.SIGKILL)
    warm.wait()

    kills = 0
    for round_no in range(12):
        url = live_url if round_no % 3 else dead_url
        proc = _agent(url, gate["token"], state)
        assert proc.stdin is not None
        for _ in range(rng.randint(3, 15)):
            proc.stdin.write(rng.choice(codes) + "\n")
        proc.stdin.flush()
        await asyncio.sleep(rng.uniform(0.05, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        assert proc.stdout is not None
        printed += sum(1 for line in proc.stdout.read().splitlines() if line.startswith("{"))
    assert kills >= 10

    # a last run online with no input drains the queue and exits
    final = _agent(live_url, gate["token"], state)
    final.communicate("", timeout=60)
    assert final.returncode == 0

    made = {
        row[0]: row[1]
        for row in sqlite3.connect(state / "queue.sqlite3").execute(
            "SELECT scan_id, state FROM scans"
        )
    }
    assert made, "the agent made no scans"
    assert printed <= len(made)
    assert set(made.values()) <= {"online", "uploaded"}, set(made.values())
    conn = await asyncpg.connect(db_url)
    try:
        stored = [
            str(r["scan_id"])
            for r in await conn.fetch(
                "SELECT scan_id FROM scans WHERE gate_id = $1", __import__("uuid").UUID(gate["id"])
            )
        ]
    finally:
        await conn.close()
    assert len(stored) == len(set(stored))
    assert set(stored) == set(made)


async def test_agent_decides_offline_from_the_pack(
    live: httpx.AsyncClient, live_url: str, tmp_path: Path
) -> None:
    world = await World(live).build()  # type: ignore[arg-type]
    venue = await world.venue(
        "CN-GZ", "Zhenyuan Ancient Town", requires_booking=False, entry_rule="single"
    )
    gate = await world.post(f"/v1/admin/venues/{venue['id']}/gates", {"name": "west"})
    await world.traveller("a")
    code = await world.code("a")
    state = tmp_path / "agent"
    sync = _agent(live_url, gate["token"], state)
    sync.communicate("", timeout=60)  # syncs the pack, nothing to scan
    dead = f"http://127.0.0.1:{free_port()}"
    proc = _agent(dead, gate["token"], state, drain_seconds="0.5")
    out, _ = proc.communicate(f"{code}\n{code}\nTQ1:GARBAGE\n", timeout=60)
    lines = [json.loads(x) for x in out.splitlines()]
    assert [(x["decision"], x["reason"], x["mode"]) for x in lines] == [
        ("accept", "ok", "offline"),
        ("reject", "already_used", "offline"),
        ("reject", "invalid_code", "offline"),
    ]
    # the gate screen's label, in the gate's language: zh-CN unless told (issue 19)
    assert [x["label"] for x in lines] == ["请通行", "已使用", "无效码"]
    assert "请通行" in out  # printed as text, not as \u escapes
    proc = _agent(dead, gate["token"], state, drain_seconds="0.5", lang="en")
    out, _ = proc.communicate("TQ1:GARBAGE\n", timeout=60)
    assert json.loads(out.splitlines()[0])["label"] == "Invalid code"
    assert ADMIN
