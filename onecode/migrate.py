"""Forward-only migrations: ``sql/migrations/NNNN_verb_object.sql`` applied in order,
each in its own transaction, under a PostgreSQL advisory lock so that two processes
starting at once do not race. Applied versions are recorded in ``schema_migrations``."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from onecode.sql import sql_root

log = logging.getLogger("onecode.migrate")

_LOCK_KEY = 0x6F6E65636F6465  # "onecode"
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or sql_root() / "migrations"
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise ValueError(f"migration file name not NNNN_verb_object.sql: {path.name}")
        found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError("two migrations share a version number")
    return found


async def apply_migrations(conn: asyncpg.Connection, folder: Path | None = None) -> list[str]:
    """Apply what is missing; return the names applied now (empty when up to date)."""
    migrations = load_migrations(folder)
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT version, checksum, name FROM schema_migrations")
        done = {r["version"]: r for r in rows}
        for migration in migrations:
            if migration.version in done:
                if done[migration.version]["checksum"] != migration.checksum:
                    log.warning("migration %s changed after it was applied", migration.name)
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration.name)
            log.info("applied migration %s", migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def migrate(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()
