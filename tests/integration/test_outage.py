"""A database outage: requests fail fast with 503, /readyz says so, and the service
recovers by itself when PostgreSQL is back. Runs its own embedded PostgreSQL, because
it stops it."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from httpx import Response
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.devdb import EmbeddedPostgres
from onecode.migrate import migrate
from onecode.settings import Settings
from tests.conftest import ADMIN, ADMIN_TOKEN, bearer
from tests.support.apps import Client
from tests.support.postgres import pg_ctl
from tests.support.problems import assert_problem


@pytest.fixture
def own_postgres() -> Iterator[tuple[EmbeddedPostgres, str]]:
    base = Path(tempfile.mkdtemp(prefix="onecode-outage-"))
    embedded = EmbeddedPostgres(base, cleanup="delete")
    dsn = embedded.start()
    try:
        yield embedded, dsn
    finally:
        embedded.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def outage_client(
    own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path
) -> AsyncIterator[Client]:
    _, dsn = own_postgres
    await migrate(dsn)
    settings = Settings(
        database_url=dsn,
        data_dir=tmp_path / "data",
        admin_token=ADMIN_TOKEN,
        rate_limit=False,
        token_cache_seconds=0,  # every request asks the database who is calling
        log_json=False,
    )
    async with AsyncTestClient(app=create_app(settings), raise_server_exceptions=False) as c:
        yield c


async def _timed(c: Client, method: str, path: str, **kw: Any) -> tuple[float, Response]:
    started = time.perf_counter()
    r = await asyncio.wait_for(c.request(method, path, **kw), timeout=10)
    return time.perf_counter() - started, r


async def test_outage_fails_fast_then_recovers_without_restart(
    own_postgres: tuple[EmbeddedPostgres, str], outage_client: Client
) -> None:
    embedded, _ = own_postgres
    c = outage_client
    r = await c.post("/v1/admin/regions", json={"code": "CN-GZ", "name": "Guizhou"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    traveller = (await c.post("/v1/travellers", json={})).json()["access_token"]
    # warm the pool: several connections are open when the server goes away
    await asyncio.gather(*(c.get("/v1/venues") for _ in range(8)))
    assert (await c.get("/readyz")).status_code == 200

    await asyncio.to_thread(pg_ctl, embedded, "-m", "fast", "-w", "stop")
    try:
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/v1/venues", {}),
            ("GET", "/v1/venues", {}),  # a second round hits other pooled connections
            ("GET", "/v1/me", {"headers": bearer(traveller)}),  # the token lookup needs it
            ("POST", "/v1/travellers", {"json": {}}),
            (
                "POST",
                "/v1/admin/regions",
                {"json": {"code": "CN-YN", "name": "Y"}, "headers": ADMIN},
            ),
        ]
        for method, path, kw in calls:
            elapsed, r = await _timed(c, method, path, **kw)
            assert elapsed < 2.5, (method, path, elapsed)
            body = assert_problem(r, 503, "service.unavailable")
            assert "Retry-After" in r.headers
            assert "asyncpg" not in str(body) and "socket" not in str(body)
        # many at once: none hangs, all 503
        started = time.perf_counter()
        results = await asyncio.gather(*(c.get("/v1/venues") for _ in range(20)))
        assert time.perf_counter() - started < 5
        assert {r.status_code for r in results} == {503}
        elapsed, ready = await _timed(c, "GET", "/readyz")
        assert elapsed < 2.5
        assert_problem(ready, 503, "service.not_ready")
        assert (await c.get("/healthz")).status_code == 200  # the process itself is alive
    finally:
        # postmaster.opts remembers the socket-only options: restart starts it the same way
        await asyncio.to_thread(pg_ctl, embedded, "-w", "restart")

    deadline = time.monotonic() + 10
    while True:
        r = await c.get("/readyz")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert r.status_code == 200, r.text
    # every pooled connection was broken; all of them come back
    results = await asyncio.gather(*(c.get("/v1/venues") for _ in range(12)))
    assert [x.status_code for x in results] == [200] * 12
    assert (await c.get("/v1/me", headers=bearer(traveller))).status_code == 200
    r = await c.post("/v1/admin/regions", json={"code": "CN-YN", "name": "Yunnan"}, headers=ADMIN)
    assert r.status_code == 201, r.text
