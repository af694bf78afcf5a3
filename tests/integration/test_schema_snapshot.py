"""Migrations + rule files produce exactly the committed ``sql/schema.sql``."""

from __future__ import annotations

import difflib
import os

import asyncpg
import pytest

from tests.support.schema import SNAPSHOT, dump_schema


@pytest.mark.own_database  # a distributed schema dumps differently
async def test_schema_matches_the_committed_snapshot(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        server = conn.get_server_version()
    finally:
        await conn.close()
    if server.major != 18:
        pytest.skip(f"the snapshot is taken on PostgreSQL 18; this server is {server.major}")
    actual = dump_schema(db_url)
    if os.environ.get("ONECODE_WRITE_SCHEMA") == "1":
        SNAPSHOT.write_text(actual, encoding="utf-8")
    expected = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                "sql/schema.sql (committed)",
                "migrations + functions",
                n=2,
            )
        )
        raise AssertionError(
            "the schema drifted from sql/schema.sql; regenerate it with "
            "ONECODE_WRITE_SCHEMA=1 (see tests/support/schema.py):\n" + diff[:6000]
        )
