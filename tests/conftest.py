"""The test harness: a real PostgreSQL, and a fresh database per test.

With ``ONECODE_TEST_DATABASE_URL`` (or ``DATABASE_URL``) the tests use that server;
otherwise one embedded PostgreSQL is started for the session. A template database is
migrated once; every test gets ``CREATE DATABASE … TEMPLATE`` of it (tens of ms).

``ONECODE_TEST_LAYOUT`` chooses another mode, for servers where a template cannot carry
the schema (a Citus cluster: the citus extension and the shard metadata live in one
database, and workers know nothing of a cloned one):

- ``shared``: the database named in the URL is migrated once and used by every test,
  emptied between tests (every table truncated, then the rows the migrations seeded
  put back);
- ``citus``: the same, and ``deploy/citus/distribute.sql`` is run once after migrating,
  as deploy/README.md tells an operator. Point the URL at the coordinator.

Tests that change the schema itself are marked ``own_database`` and skipped there.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.codes import screenshot_suffix
from onecode.devdb import EmbeddedPostgres
from onecode.migrate import migrate
from onecode.settings import Settings
from tests.support.postgres import FAST_UNSAFE

ADMIN_TOKEN = "oc_admin_test-token-for-the-suite-only-000000000000"
TEMPLATE = "onecode_template"
LAYOUT = os.environ.get("ONECODE_TEST_LAYOUT", "template")
if LAYOUT not in ("template", "shared", "citus"):
    raise RuntimeError(f"ONECODE_TEST_LAYOUT must be template, shared or citus, not {LAYOUT}")
SHARED = LAYOUT != "template"
_SEED_SCHEMA = "onecode_test_seed"
_KEEP = ("schema_migrations", "schema_functions")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not SHARED:
        return
    skip = pytest.mark.skip(reason=f"changes the schema: not run in the {LAYOUT} layout")
    for item in items:
        if item.get_closest_marker("own_database"):
            item.add_marker(skip)


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


class Cluster:
    """The PostgreSQL server of this test session."""

    def __init__(self, admin_dsn: str, embedded: EmbeddedPostgres | None) -> None:
        self.admin_dsn = admin_dsn
        self.embedded = embedded

    def dsn(self, database: str) -> str:
        return _with_database(self.admin_dsn, database)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    url = os.environ.get("ONECODE_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if SHARED and not url:
        raise RuntimeError(f"ONECODE_TEST_LAYOUT={LAYOUT} needs ONECODE_TEST_DATABASE_URL")
    if url:
        yield Cluster(url, None)
        return
    base = Path(tempfile.mkdtemp(prefix="onecode-test-"))
    embedded = EmbeddedPostgres(base, cleanup="delete")
    dsn = embedded.start()
    try:
        yield Cluster(dsn, embedded)
    finally:
        embedded.stop()
        shutil.rmtree(base, ignore_errors=True)


async def _prepare_shared(dsn: str) -> None:
    """Migrate the shared database, distribute it (citus), and keep the seeded rows."""
    await migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        if LAYOUT == "citus":
            distributed = await conn.fetchval(
                "SELECT to_regclass('pg_dist_partition') IS NOT NULL AND EXISTS "
                "(SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'travellers'::regclass)"
            )
            if not distributed:
                script = (
                    Path(__file__).parents[1] / "deploy" / "citus" / "distribute.sql"
                ).read_text(encoding="utf-8")
                await conn.execute(
                    "\n".join(ln for ln in script.splitlines() if not ln.startswith("\\"))
                )
        await conn.execute(f"DROP SCHEMA IF EXISTS {_SEED_SCHEMA} CASCADE")
        await conn.execute(f"CREATE SCHEMA {_SEED_SCHEMA}")
        for table in await _tables(conn):
            if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
                await conn.execute(
                    f'CREATE TABLE {_SEED_SCHEMA}."{table}" AS SELECT * FROM "{table}"'
                )
    finally:
        await conn.close()


async def _tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> ALL($1::text[])",
        list(_KEEP),
    )
    return sorted(r[0] for r in rows)


async def _reset_shared(dsn: str) -> None:
    """Empty every table, then put back what the migrations seeded."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await _tables(conn)
        await conn.execute(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
        seeded = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1", _SEED_SCHEMA
        )
        for (table,) in seeded:
            await conn.execute(f'INSERT INTO "{table}" SELECT * FROM {_SEED_SCHEMA}."{table}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def template(cluster: Cluster) -> str:
    if SHARED:
        await _prepare_shared(cluster.admin_dsn)
        return urlsplit(cluster.admin_dsn).path.lstrip("/")
    conn = await asyncpg.connect(cluster.admin_dsn)
    try:
        if cluster.embedded is not None:
            for name, value in FAST_UNSAFE.items():
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            await conn.execute("SELECT pg_reload_conf()")
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await conn.close()
    await migrate(cluster.dsn(TEMPLATE))
    return TEMPLATE


@pytest.fixture
async def db_url(cluster: Cluster, template: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test (in a shared layout: the shared one,
    emptied)."""
    if SHARED:
        await _reset_shared(cluster.admin_dsn)
        yield cluster.admin_dsn
        return
    name = "t_" + uuid.uuid4().hex[:16]
    conn = await asyncpg.connect(cluster.admin_dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await conn.close()
    yield cluster.dsn(name)
    conn = await asyncpg.connect(cluster.admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(db_url)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        admin_token=ADMIN_TOKEN,
        rate_limit=False,
        token_cache_seconds=0,
        log_json=False,
        # tests run allocation jobs themselves (onecode.allocation.worker.drain)
        allocation_idle_seconds=0,
    )


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)


class World:
    """A small catalog every API test can stand on: two regions, two venues, their
    gates, operators and planners. Built through the API, like a real admin would."""

    def __init__(self, client: AsyncTestClient[Litestar]) -> None:
        self.client = client
        self.ids: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}
        self.code_secrets: dict[str, bytes] = {}

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        r = await self.client.post(path, json=body, headers=headers or ADMIN)
        assert r.status_code == 201, (path, r.status_code, r.text)
        return r.json()

    async def venue(self, region: str, name: str, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "region_code": region,
            "name": name,
            "kind": "scenic_area",
            "gated": True,
            "requires_booking": True,
            "entry_rule": "single",
            "capacity_instant": 100,
            "capacity_daily": 1000,
        }
        body.update(overrides)
        return dict(await self.post("/v1/admin/venues", body))

    async def build(self) -> World:
        await self.post("/v1/admin/regions", {"code": "CN-GZ", "name": "Guizhou"})
        await self.post(
            "/v1/admin/regions", {"code": "CN-GZ-AS", "name": "Anshun", "parent_code": "CN-GZ"}
        )
        await self.post("/v1/admin/regions", {"code": "CN-YN", "name": "Yunnan"})
        a = await self.venue("CN-GZ-AS", "Huangguoshu Waterfall")
        b = await self.venue("CN-YN", "Stone Forest")
        self.ids.update(venue_a=a["id"], venue_b=b["id"], place_a=a["place_code"])
        for tag, venue in (("a", a), ("b", b)):
            gate = await self.post(f"/v1/admin/venues/{venue['id']}/gates", {"name": f"gate {tag}"})
            self.ids[f"gate_{tag}"] = gate["id"]
            self.tokens[f"gate_{tag}"] = gate["token"]
            op = await self.post(
                "/v1/admin/operators", {"name": f"operator {tag}", "venue_ids": [venue["id"]]}
            )
            self.tokens[f"operator_{tag}"] = op["token"]
            self.ids[f"operator_{tag}"] = op["id"]
        for tag, region in (("x", "CN-GZ"), ("y", "CN-YN")):
            pl = await self.post(
                "/v1/admin/planners", {"name": f"planner {tag}", "region_codes": [region]}
            )
            self.tokens[f"planner_{tag}"] = pl["token"]
            self.ids[f"planner_{tag}"] = pl["id"]
        self.tokens["admin"] = ADMIN_TOKEN
        return self

    async def traveller(
        self, tag: str, display_name: str | None = None, home_region: str | None = None
    ) -> dict[str, Any]:
        """Register a traveller through the API; its token is kept as ``traveller_<tag>``."""
        body = {
            k: v for k, v in (("display_name", display_name), ("home_region", home_region)) if v
        }
        r = await self.client.post("/v1/travellers", json=body)
        assert r.status_code == 201, r.text
        out = dict(r.json())
        self.tokens[f"traveller_{tag}"] = out["access_token"]
        self.ids[f"traveller_{tag}"] = out["traveller_id"]
        secret = out["code_secret"]
        self.code_secrets[tag] = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        return out

    async def code(self, tag: str) -> str:
        """The traveller's current TQ1 text."""
        r = await self.client.get("/v1/me/code", headers=self.auth(f"traveller_{tag}"))
        assert r.status_code == 200, r.text
        return str(r.json()["code"])

    async def live_code(self, tag: str) -> str:
        """What the phone shows now: the code text and this 30 s step's suffix."""
        text = await self.code(tag)
        return text + screenshot_suffix(text, self.code_secrets[tag], time.time())

    def auth(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])


@pytest.fixture
async def world(client: AsyncTestClient[Litestar]) -> World:
    return await World(client).build()
