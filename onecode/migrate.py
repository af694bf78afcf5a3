"""Schema changes, under one PostgreSQL advisory lock so two processes starting at once
do not race:

1. forward-only DDL migrations, ``sql/migrations/NNNN_verb_object.sql``, applied in
   order, each in its own transaction, recorded in ``schema_migrations``;
2. then the repeatable rule files, ``sql/functions/<domain>.sql`` (functions and views,
   ``CREATE OR REPLACE``), each re-applied in one transaction whenever its checksum
   changes, recorded in ``schema_functions``. A rule change is an edit of one file.

Before a changed rule file is applied, every function it names is dropped (all
overloads), so a changed signature or return type never leaves a stale overload
behind; callers see the old or the new definitions, never neither (one transaction).
Migrations must not depend on these functions: they run first on a fresh database."""

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
_RULE_FILE = re.compile(r"^[a-z][a-z0-9_]*\.sql$")
_DEFINES = re.compile(
    r"^\s*CREATE\s+OR\s+REPLACE\s+(FUNCTION|VIEW)\s+([a-z_][a-z0-9_]*)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def has_statements(self) -> bool:
        """False for a migration left as a comment (its functions moved to sql/functions/)."""
        return bool(re.sub(r"--[^\n]*", "", self.sql).strip())


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


@dataclass(frozen=True, slots=True)
class RuleFile:
    """One repeatable file of ``sql/functions/``: the functions and views it defines."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def defines(self) -> list[tuple[str, str]]:
        """``(kind, name)`` of each ``CREATE OR REPLACE FUNCTION|VIEW`` in the file."""
        return [(m.group(1).upper(), m.group(2).lower()) for m in _DEFINES.finditer(self.sql)]


def load_rule_files(folder: Path | None = None) -> list[RuleFile]:
    folder = folder or sql_root() / "functions"
    if not folder.is_dir():
        return []
    found: list[RuleFile] = []
    for path in sorted(folder.glob("*.sql")):
        if not _RULE_FILE.match(path.name):
            raise ValueError(f"rule file name not <domain>.sql: {path.name}")
        found.append(RuleFile(path.name, path.read_text(encoding="utf-8")))
    return found


async def _apply_rule_file(conn: asyncpg.Connection, rule: RuleFile) -> None:
    defined = rule.defines()
    views = [name for kind, name in defined if kind == "VIEW"]
    functions = [name for kind, name in defined if kind == "FUNCTION"]
    for view in views:
        await conn.execute(f'DROP VIEW IF EXISTS "{view}" CASCADE')
    stale = await conn.fetch(
        """SELECT p.oid::regprocedure::text AS signature
             FROM pg_proc p
            WHERE p.proname = ANY($1::text[])
              AND p.pronamespace = current_schema()::regnamespace""",
        functions,
    )
    for row in stale:
        await conn.execute(f"DROP FUNCTION IF EXISTS {row['signature']}")
    await conn.execute(rule.sql)


async def apply_rule_files(conn: asyncpg.Connection, folder: Path | None = None) -> list[str]:
    """Re-apply each rule file whose checksum changed; the caller holds the lock."""
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_functions (
               name       text PRIMARY KEY,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT * FROM schema_functions")}
    applied_now: list[str] = []
    for rule in load_rule_files(folder):
        if done.get(rule.name) == rule.checksum:
            continue
        async with conn.transaction():
            await _apply_rule_file(conn, rule)
            await conn.execute(
                """INSERT INTO schema_functions (name, checksum) VALUES ($1, $2)
                   ON CONFLICT (name) DO UPDATE
                   SET checksum = EXCLUDED.checksum, applied_at = now()""",
                rule.name,
                rule.checksum,
            )
        applied_now.append(f"functions/{rule.name}")
        log.info("applied rule file %s", rule.name)
    return applied_now


async def apply_migrations(
    conn: asyncpg.Connection,
    folder: Path | None = None,
    functions_folder: Path | None = None,
) -> list[str]:
    """Apply what is missing, then the changed rule files; return the names applied now
    (empty when up to date)."""
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
                if migration.has_statements:
                    await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration.name)
            log.info("applied migration %s", migration.name)
        if folder is None or functions_folder is not None:
            applied_now += await apply_rule_files(conn, functions_folder)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def migrate(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()
