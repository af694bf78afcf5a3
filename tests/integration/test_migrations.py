"""Migrations apply in order, twice is a no-op, and concurrent runners do not race."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from onecode.migrate import (
    apply_migrations,
    apply_rule_files,
    load_migrations,
    load_rule_files,
    migrate,
)
from onecode.sql import Q
from tests.conftest import Cluster

pytestmark = pytest.mark.own_database


async def test_second_run_is_a_no_op(db_url: str) -> None:
    # the template was migrated already: nothing left to apply
    assert await migrate(db_url) == []
    conn = await asyncpg.connect(db_url)
    try:
        versions = [
            r[0] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        ]
    finally:
        await conn.close()
    assert versions == [m.version for m in load_migrations()]


async def test_concurrent_runners_apply_each_migration_once(cluster: Cluster) -> None:
    name = "m_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(cluster.admin_dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        dsn = cluster.dsn(name)
        results = await asyncio.gather(*(migrate(dsn) for _ in range(6)))
        applied = [names for names in results if names]
        # exactly one runner did the work; the others found it done
        assert len(applied) == 1
        assert applied[0] == [m.name for m in load_migrations()] + [
            f"functions/{r.name}" for r in load_rule_files()
        ]
        conn = await asyncpg.connect(dsn)
        try:
            count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        finally:
            await conn.close()
        assert count == len(load_migrations())
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def test_failed_migration_rolls_back(conn: asyncpg.Connection, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_create_a.sql").write_text("CREATE TABLE mig_a (x int);")
    (folder / "0002_break_things.sql").write_text("CREATE TABLE mig_b (x int); SELECT 1/0;")
    await conn.execute("DROP TABLE schema_migrations")
    try:
        await apply_migrations(conn, folder)
    except asyncpg.DivisionByZeroError:
        pass
    else:
        raise AssertionError("the broken migration must fail")
    assert await conn.fetchval("SELECT to_regclass('mig_a') IS NOT NULL")
    assert not await conn.fetchval("SELECT to_regclass('mig_b') IS NOT NULL")
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1


async def test_every_named_query_prepares(conn: asyncpg.Connection) -> None:
    queries = Q()
    assert queries.names(), "no named queries found"
    for name in queries.names():
        try:
            await conn.prepare(queries[name])
        except asyncpg.PostgresError as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"query {name} does not prepare: {exc}") from exc


async def test_a_changed_rule_file_is_reapplied_and_drops_stale_overloads(
    conn: asyncpg.Connection, tmp_path: object
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    folder = tmp_path / "functions"
    folder.mkdir()
    rule = folder / "demo.sql"
    rule.write_text(
        "CREATE OR REPLACE FUNCTION rule_demo(a integer) RETURNS integer "
        "LANGUAGE sql AS $$ SELECT a + 1 $$;"
    )
    assert await apply_rule_files(conn, folder) == ["functions/demo.sql"]
    assert await apply_rule_files(conn, folder) == []  # unchanged: not applied again
    assert await conn.fetchval("SELECT rule_demo(1)") == 2
    # a new signature and return type: the old overload must not survive
    rule.write_text(
        "CREATE OR REPLACE FUNCTION rule_demo(a integer, b integer) RETURNS text "
        "LANGUAGE sql AS $$ SELECT (a + b)::text $$;"
    )
    assert await apply_rule_files(conn, folder) == ["functions/demo.sql"]
    assert await conn.fetchval("SELECT rule_demo(1, 2)") == "3"
    overloads = await conn.fetchval("SELECT count(*) FROM pg_proc WHERE proname = 'rule_demo'")
    assert overloads == 1


async def test_migrations_hold_no_functions() -> None:
    """Rules live in sql/functions/ (repeatable); migrations keep DDL only."""
    import re

    for migration in load_migrations():
        body = re.sub(r"--[^\n]*", "", migration.sql)
        assert not re.search(r"CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|VIEW)", body, re.I), (
            migration.name
        )


async def test_slot_counters_take_over_the_counters_of_existing_slots(
    cluster: Cluster, tmp_path: object
) -> None:
    """Migration 0070 moves capacity and the counters of every slot (a cancelled one
    too) out of slots into slot_counters, and the rules go on from those values."""
    import shutil
    from pathlib import Path

    from onecode.sql import sql_root

    assert isinstance(tmp_path, Path)
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted((sql_root() / "migrations").glob("*.sql")):
        if int(path.name[:4]) < 70:
            shutil.copy(path, before / path.name)
    name = "m_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(cluster.admin_dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        conn = await asyncpg.connect(cluster.dsn(name))
        try:
            await apply_migrations(conn, before)
            venue, open_slot, cancelled = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            await conn.execute("INSERT INTO regions (code, name) VALUES ('GZ', 'Guizhou')")
            await conn.execute(
                """INSERT INTO venues (id, region_code, name, kind, gated, requires_booking,
                                       entry_rule, capacity_instant, capacity_daily,
                                       place_code, walkin_quota_pct)
                   VALUES ($1, 'GZ', 'V', 'park', true, true, 'single', 100, 1000, 'p', 20)""",
                venue,
            )
            await conn.execute(
                """INSERT INTO slots (id, venue_id, starts_at, ends_at, capacity, booked,
                                      walkin_booked, held, cancelled_at, cancel_reason)
                   VALUES ($1, $3, now() + interval '1 day', now() + interval '25 hours',
                           10, 6, 2, 3, NULL, NULL),
                          ($2, $3, now() + interval '2 days', now() + interval '49 hours',
                           8, 0, 0, 0, now(), 'storm')""",
                open_slot,
                cancelled,
                venue,
            )
            await apply_migrations(conn)
            rows = {
                r["slot_id"]: tuple(r)[1:]
                for r in await conn.fetch(
                    "SELECT slot_id, venue_id, capacity, booked, walkin_booked, held, cancelled"
                    "  FROM slot_counters"
                )
            }
            assert rows == {
                open_slot: (venue, 10, 6, 2, 3, False),
                cancelled: (venue, 8, 0, 0, 0, True),
            }
            left = await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'slots'"
                " AND column_name IN ('capacity', 'booked', 'walkin_booked', 'held')"
            )
            assert left == 0
            # the rules count from the moved values: 10 - 6 booked - 3 held leaves 1
            traveller = uuid.uuid4()
            await conn.execute("INSERT INTO travellers (id) VALUES ($1)", traveller)
            book = "SELECT outcome FROM onecode_book_slot($1, $2, $3, NULL, NULL, NULL)"
            assert await conn.fetchval(book, traveller, open_slot, 2) == "slot_full"
            assert await conn.fetchval(book, traveller, open_slot, 1) == "booked"
            assert (
                await conn.fetchval(
                    "SELECT booked FROM slot_counters WHERE slot_id = $1", open_slot
                )
                == 7
            )
            assert await conn.fetchval(book, traveller, cancelled, 1) == "slot_cancelled"
        finally:
            await conn.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
