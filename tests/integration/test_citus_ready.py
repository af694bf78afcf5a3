"""The migrated schema stays distributable with Citus (deploy/citus/distribute.sql).

Reads pg_catalog of a freshly migrated database and checks the rules Citus enforces:

- every table is classified below as reference, distributed (with its column and
  co-location group) or local; a NEW table that nobody classified fails the test;
- every primary key, unique constraint, unique index and exclusion constraint of a
  distributed table includes its distribution column;
- a foreign key from a distributed table points to a reference table, or to a table of
  the same co-location group through the distribution column; reference tables point
  only to reference tables; local tables only to reference or local tables;
- deploy/citus/distribute.sql distributes exactly what is classified here.

When a migration adds a table: classify it here AND in distribute.sql (see
deploy/README.md, "The Citus path").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

# the single-node schema as migrated (and changed by some tests): not a distributed one
pytestmark = pytest.mark.own_database

DISTRIBUTE_SQL = Path(__file__).resolve().parents[2] / "deploy" / "citus" / "distribute.sql"

# ---------------------------------------------------------------------------------------
# The classification. Keep it in step with deploy/citus/distribute.sql.
# ---------------------------------------------------------------------------------------

# Read-mostly catalog, copied to every node: joins with it are local everywhere.
REFERENCE: frozenset[str] = frozenset(
    {
        "regions",
        "venues",
        "gates",
        "operators",
        "operator_venues",
        "planners",
        "planner_regions",
        "slots",  # the slot catalog; what a booking writes is in slot_counters (0070)
        "place_code_keys",  # place code HMAC secrets, read once at start (migration 0006)
        "lotteries",  # a few per venue and release day, read by every booking of that day
        "webhook_hosts",  # the admin's receiver allow-list (migration 0040)
        "webhook_subscriptions",  # read by the webhook worker's fan-out and claims
        "venue_alert_levels",  # the level last announced per venue, written on a change
        "venue_forecast_alerts",  # forecast levels announced, once per venue, day, level
    }
)

# table -> (distribution column, co-location group)
DISTRIBUTED: dict[str, tuple[str, str]] = {
    # everything a traveller owns lives on their travellers shard
    "travellers": ("id", "traveller"),
    "bookings": ("traveller_id", "traveller"),
    "presence": ("traveller_id", "traveller"),
    "checkins": ("traveller_id", "traveller"),
    "reviews": ("traveller_id", "traveller"),
    "complaints": ("traveller_id", "traveller"),
    "idempotency_keys": ("traveller_id", "traveller"),
    "scans": ("traveller_id", "traveller"),  # the zero uuid for codes naming nobody
    # a traveller's credentials: issue, rotate, paper passes, erase, the traveller's code
    # and the gate pack's bookings ⋈ credentials are single-shard (or co-located) by it
    "credentials": ("traveller_id", "traveller"),
    # the only key a gate can read from a TQ1 code is its cred_id (the code names
    # nobody): the gate reads the traveller here (one shard), then the traveller's shard;
    # written once per credential, in its transaction; its key keeps cred_ids unique
    "credential_ids": ("cred_id", "credential"),
    # the (gate, scan_id) ledger: one claim per scan, looked up by both columns
    "gate_scan_ids": ("gate_id", "gate_scan"),
    # a bearer token is only ever looked up by its hash
    "api_tokens": ("token_hash", "token"),
    # occupancy: a venue's day in 16 stripes, summed per venue by the cap check
    "venue_counters": ("venue_id", "venue_counters"),
    # origin-destination rollup: recomputed per (traveller, day) from that traveller's
    # scans, so it lives on the traveller's shard; planner reads fan out (analytics)
    "flow_trips": ("traveller_id", "traveller"),
    # dwell: recomputed per touched (traveller, venue, day) from that traveller's scans by
    # a co-located INSERT ... SELECT; read aggregated by venue by planners (a fan-out)
    "flow_dwell": ("traveller_id", "traveller"),
    "traveller_notifications": ("traveller_id", "traveller"),
    # a traveller's waiting-list entries and lottery applications: their own reads and
    # an accept (entry + booking) stay on their shard; an offer round reads a slot's
    # queue across shards (the worker's, not the hot path)
    "waitlist_entries": ("traveller_id", "traveller"),
    "lottery_applications": ("traveller_id", "traveller"),
    # what every booking writes (capacity, booked, walk-in, held; migration 0070): by
    # venue, so the counter update is single-shard, not a 2PC on every node as a write
    # to the reference slots table was, and a venue's listing reads one shard
    "slot_counters": ("venue_id", "slot_counter"),
}

# Not distributed: table -> why.
LOCAL: dict[str, str] = {
    "events": "the outbox: appended in the transaction of the change and read in order by "
    "the coordinator's webhook worker; no key a reader looks up by",
    "allocation_jobs": "the allocation worker's queue (offer rounds, draws): inserted by "
    "the rules in the transaction of the change, taken with SKIP LOCKED by the workers on "
    "the coordinator; no key a reader looks up by",
    "flow_watermark": "the rollup advance's one-row horizon, read and written by the "
    "coordinator's advance only",
    "schema_migrations": "the migration runner's bookkeeping, on the coordinator only",
    "schema_functions": "the rule-file runner's bookkeeping, on the coordinator only",
    "audit_log": "every admin and operator change, appended in the change's transaction "
    "and read by admins: small, written and read on the coordinator only (a Citus local "
    "table)",
    "webhook_deliveries": "the webhook queue and delivery log: claimed with FOR UPDATE SKIP "
    "LOCKED by the workers, which talk to the coordinator; not per traveller, not per venue",
    "webhook_attempts": "each delivery attempt, written beside its webhook_deliveries row",
    "gate_heartbeats": "when each gate was last heard from: one upsert of every gate an API "
    "process heard from every few seconds, read by the alert detector on the coordinator",
}

# Rollup tables (flows, migration 0005) are named generically: a table whose name matches
# this pattern is distributed by venue_id in the "venue" group when it has that column,
# and is a (small, rarely written) reference table otherwise (watermarks, state).
ROLLUP_NAME = re.compile(r"(^|_)(rollups?|flows?|watermarks?)(_|$)")
ROLLUP_COLUMN = "venue_id"

# Constraints and indexes that are right on one PostgreSQL and that distribute.sql drops
# before distributing (the invariant moves elsewhere, see deploy/README.md): name -> why.
# None since migration 0075 put credentials on their traveller's shard: one current
# phone credential per traveller is a unique index with the distribution column, and
# credentials -> travellers is a co-located key.
SINGLE_NODE_ONLY: dict[str, str] = {}


# ---------------------------------------------------------------------------------------
# Reading the schema and judging it
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    table: str
    name: str
    columns: tuple[str | None, ...]  # None for an expression


@dataclass(frozen=True)
class ForeignKey:
    table: str
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass
class Schema:
    tables: set[str]
    columns: dict[str, dict[str, tuple[str, bool]]]  # table -> column -> (type, not null)
    keys: list[Key] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)


_TABLES = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""

# unique indexes (primary keys and unique constraints have one) and exclusion constraints
_KEYS = """
SELECT c.relname, ic.relname AS name,
       array(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord)
               LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
              ORDER BY k.ord) AS columns
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public'
   AND (i.indisunique OR EXISTS (SELECT 1 FROM pg_constraint x
                                  WHERE x.conindid = i.indexrelid AND x.contype = 'x'))
"""

_FOREIGN_KEYS = """
SELECT c.relname, con.conname, r.relname AS ref_table,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
              ORDER BY k.ord) AS columns,
       array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
              ORDER BY k.ord) AS ref_columns
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_class r ON r.oid = con.confrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND con.contype = 'f'
"""


async def read_schema(conn: asyncpg.Connection) -> Schema:
    schema = Schema(tables=set(), columns={})
    for table, column, type_, not_null in await conn.fetch(_TABLES):
        schema.tables.add(table)
        schema.columns.setdefault(table, {})[column] = (type_, not_null)
    schema.keys = [Key(r[0], r[1], tuple(r[2])) for r in await conn.fetch(_KEYS)]
    schema.foreign_keys = [
        ForeignKey(r[0], r[1], tuple(r[3]), r[2], tuple(r[4]))
        for r in await conn.fetch(_FOREIGN_KEYS)
    ]
    return schema


@dataclass(frozen=True)
class Classification:
    reference: frozenset[str]
    distributed: dict[str, tuple[str, str]]
    local: frozenset[str]
    unclassified: frozenset[str]


def classify(schema: Schema) -> Classification:
    reference = set(REFERENCE)
    distributed = dict(DISTRIBUTED)
    local = set(LOCAL)
    for table in schema.tables - reference - set(distributed) - local:
        if ROLLUP_NAME.search(table):
            if ROLLUP_COLUMN in schema.columns[table]:
                distributed[table] = (ROLLUP_COLUMN, "venue")
            else:
                reference.add(table)
    known = reference | set(distributed) | local
    return Classification(
        frozenset(reference), distributed, frozenset(local), frozenset(schema.tables - known)
    )


def violations(
    schema: Schema, exceptions: dict[str, str] | None = None
) -> tuple[list[str], set[str]]:
    """What Citus would refuse, and which allowed exceptions were actually used."""
    allowed = SINGLE_NODE_ONLY if exceptions is None else exceptions
    used: set[str] = set()
    found: list[str] = []
    cls = classify(schema)
    kind = {t: "reference" for t in cls.reference} | {t: "local" for t in cls.local}
    kind |= {t: "distributed" for t in cls.distributed}

    for table, (column, _group) in cls.distributed.items():
        if table not in schema.tables:
            continue
        if column not in schema.columns[table]:
            found.append(f"{table}: distribution column {column} does not exist")
            continue
        if not schema.columns[table][column][1]:
            found.append(f"{table}.{column}: a distribution column must be NOT NULL")
    groups: dict[str, set[str]] = {}
    for table, (column, group) in cls.distributed.items():
        if table in schema.tables and column in schema.columns[table]:
            groups.setdefault(group, set()).add(schema.columns[table][column][0])
    for group, types in groups.items():
        if len(types) > 1:
            found.append(f"co-location group {group} mixes column types {sorted(types)}")

    for key in schema.keys:
        if key.table not in cls.distributed:
            continue
        column = cls.distributed[key.table][0]
        if column not in key.columns:
            if key.name in allowed:
                used.add(key.name)
                continue
            found.append(
                f"{key.table}: unique key {key.name} {list(key.columns)} lacks the "
                f"distribution column {column}"
            )

    for fk in schema.foreign_keys:
        src, dst = kind.get(fk.table), kind.get(fk.ref_table)
        if dst is None or src is None:
            continue  # unclassified tables are reported on their own
        ok = False
        if src == "distributed":
            if dst == "reference":
                ok = True
            elif dst == "distributed":
                scol, sgroup = cls.distributed[fk.table]
                dcol, dgroup = cls.distributed[fk.ref_table]
                pairs = set(zip(fk.columns, fk.ref_columns, strict=True))
                ok = sgroup == dgroup and (scol, dcol) in pairs
        elif src == "reference":
            ok = dst == "reference"
        else:  # local: Citus local tables may point to reference tables
            ok = dst in ("reference", "local")
        if not ok:
            if fk.name in allowed:
                used.add(fk.name)
                continue
            found.append(
                f"{fk.table} ({src}) {list(fk.columns)} -> {fk.ref_table} ({dst}) "
                f"{list(fk.ref_columns)}: foreign key {fk.name} cannot exist under Citus"
            )
    return found, used


# ---------------------------------------------------------------------------------------
# distribute.sql as written
# ---------------------------------------------------------------------------------------

_REF = re.compile(r"create_reference_table\(\s*'([a-z0-9_]+)'")
_DIST = re.compile(r"create_distributed_table\(\s*'([a-z0-9_]+)'\s*,\s*'([a-z0-9_]+)'")
_LOCAL = re.compile(r"citus_add_local_table_to_metadata\(\s*'([a-z0-9_]+)'")
_DROP = re.compile(r"DROP\s+(?:INDEX|CONSTRAINT)\s+(?:IF\s+EXISTS\s+)?([a-z0-9_]+)", re.I)


def _distribute_sql() -> str:
    # comments mention function names in prose; judge only the statements
    text = DISTRIBUTE_SQL.read_text(encoding="utf-8")
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


# ---------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------


async def test_every_table_is_classified(conn: asyncpg.Connection) -> None:
    schema = await read_schema(conn)
    cls = classify(schema)
    assert not cls.unclassified, (
        f"new tables {sorted(cls.unclassified)} are not classified for Citus: add each to "
        "REFERENCE, DISTRIBUTED or LOCAL in tests/integration/test_citus_ready.py and to "
        "deploy/citus/distribute.sql"
    )
    # the explicit lists name real tables (a rename must update them)
    named = REFERENCE | set(DISTRIBUTED) | set(LOCAL)
    assert named <= schema.tables, f"classified but missing: {sorted(named - schema.tables)}"


async def test_schema_is_distributable(conn: asyncpg.Connection) -> None:
    found, used = violations(await read_schema(conn))
    assert found == [], "\n".join(found)
    # every exception still exists and is still needed (else remove it from the list)
    assert used == set(SINGLE_NODE_ONLY), sorted(set(SINGLE_NODE_ONLY) - used)


async def test_traveller_tables_key_on_traveller_id(conn: asyncpg.Connection) -> None:
    """The brief's rule spelled out: traveller-owned keys all include the traveller."""
    schema = await read_schema(conn)
    owned = [t for t, (_, group) in DISTRIBUTED.items() if group == "traveller"]
    # the core of what a traveller owns is on their shard (more tables may join them)
    assert {"travellers", "bookings", "presence", "scans", "reviews"} <= set(owned)
    for table in owned:
        column = DISTRIBUTED[table][0]
        keys = [k for k in schema.keys if k.table == table]
        assert keys, f"{table} has no primary key"
        for key in keys:
            assert column in key.columns, (table, key)
    assert "credentials" in owned
    cred_keys = [k for k in schema.keys if k.table == "credentials"]
    assert any(
        k.name == "credentials_pkey" and k.columns == ("traveller_id", "cred_id") for k in cred_keys
    )
    # one current phone credential per traveller holds under Citus too
    assert any(k.name == "credentials_traveller_idx" for k in cred_keys)
    # a cred_id is unique across travellers through the lookup's primary key
    lookup = [k for k in schema.keys if k.table == "credential_ids"]
    assert [k.columns for k in lookup] == [("cred_id",)]


async def test_checker_catches_what_citus_would_refuse(conn: asyncpg.Connection) -> None:
    await conn.execute("CREATE TABLE surprise_table (id int PRIMARY KEY)")
    await conn.execute("CREATE TABLE venue_rollup_daily (venue_id uuid, day date)")
    await conn.execute("CREATE TABLE rollup_watermark (name text PRIMARY KEY, seq bigint)")
    await conn.execute("CREATE UNIQUE INDEX bad_booking_id_uq ON bookings (id)")
    await conn.execute("ALTER TABLE venues ADD COLUMN owner uuid REFERENCES travellers (id)")
    await conn.execute("ALTER TABLE bookings ADD COLUMN cred bytea REFERENCES credential_ids")
    await conn.execute("ALTER TABLE reviews ADD COLUMN booking uuid")
    # co-located through the distribution column: allowed
    await conn.execute(
        "ALTER TABLE reviews ADD CONSTRAINT good_fk FOREIGN KEY (traveller_id, booking) "
        "REFERENCES bookings (traveller_id, id)"
    )
    # same group but the traveller column points at the booking id: refused
    await conn.execute(
        "ALTER TABLE reviews ADD CONSTRAINT crossed_fk FOREIGN KEY (booking, traveller_id) "
        "REFERENCES bookings (traveller_id, id)"
    )
    await conn.execute("ALTER TABLE complaints DROP CONSTRAINT complaints_pkey")
    await conn.execute("ALTER TABLE complaints ADD PRIMARY KEY (id)")

    schema = await read_schema(conn)
    cls = classify(schema)
    assert cls.unclassified == {"surprise_table"}
    assert cls.distributed["venue_rollup_daily"] == ("venue_id", "venue")
    assert "rollup_watermark" in cls.reference

    found, _ = violations(schema)
    text = "\n".join(found)
    assert "bad_booking_id_uq" in text
    assert "venues_owner_fkey" in text  # reference -> distributed
    assert "bookings_cred_fkey" in text  # not co-located
    assert "crossed_fk" in text
    assert "good_fk" not in text
    assert "venue_rollup_daily.venue_id: a distribution column must be NOT NULL" in text
    assert "complaints_pkey" in text
    assert len(found) == 6, text

    # without its allowed exceptions the shipped schema is not distributable as it stands
    await conn.execute("DROP TABLE surprise_table, venue_rollup_daily, rollup_watermark")
    plain, _ = violations(await read_schema(conn), exceptions={})
    plain_text = "\n".join(plain)
    for name in SINGLE_NODE_ONLY:
        assert name in plain_text


def test_distribute_sql_matches_the_classification() -> None:
    sql = _distribute_sql()
    assert set(_REF.findall(sql)) == REFERENCE
    distributed = dict(_DIST.findall(sql))
    # rollups are distributed by a loop over their names (see the file)
    assert distributed == {t: c for t, (c, _) in DISTRIBUTED.items()}
    assert set(_LOCAL.findall(sql)) == set(LOCAL) - {"schema_migrations", "schema_functions"}
    # co-location of the traveller group is declared, never left to chance
    for table, (_, group) in DISTRIBUTED.items():
        if group == "traveller" and table != "travellers":
            assert re.search(
                rf"create_distributed_table\(\s*'{table}'[^;]*colocate_with\s*=>\s*'travellers'",
                sql,
            ), table
    # each single-node-only constraint is dropped before distribution
    dropped = set(_DROP.findall(sql))
    assert set(SINGLE_NODE_ONLY) <= dropped, set(SINGLE_NODE_ONLY) - dropped
    # the rollup loop uses the same pattern idea and column
    assert "venue_id" in sql and "rollup" in sql


_CITUS_STUBS = """
CREATE TABLE citus_calls (n serial, fn text, rel text, col text, colocate text);
-- what Citus's catalog says it holds: distribute.sql skips those on a re-run
CREATE TABLE pg_dist_partition (logicalrelid regclass PRIMARY KEY, partkey text);
CREATE FUNCTION column_to_column_name(rel regclass, partkey text) RETURNS text
  LANGUAGE sql AS $$ SELECT partkey $$;
CREATE FUNCTION create_reference_table(rel regclass) RETURNS void LANGUAGE sql AS
  $$ INSERT INTO citus_calls (fn, rel) VALUES ('reference', rel::text);
     INSERT INTO pg_dist_partition VALUES (rel) $$;
CREATE FUNCTION create_distributed_table(rel regclass, col text,
                                         colocate_with text DEFAULT 'default')
  RETURNS void LANGUAGE sql AS
  $$ INSERT INTO citus_calls (fn, rel, col, colocate)
     VALUES ('distributed', rel::text, col, colocate_with);
     INSERT INTO pg_dist_partition VALUES (rel, col) $$;
CREATE FUNCTION alter_distributed_table(table_name regclass,
                                        distribution_column text DEFAULT NULL,
                                        shard_count integer DEFAULT NULL,
                                        colocate_with text DEFAULT 'default',
                                        cascade_to_colocated boolean DEFAULT NULL)
  RETURNS void LANGUAGE sql AS
  $$ INSERT INTO citus_calls (fn, rel, col, colocate)
     VALUES ('altered', table_name::text, distribution_column, colocate_with);
     UPDATE pg_dist_partition SET partkey = distribution_column
      WHERE logicalrelid = table_name $$;
CREATE FUNCTION citus_add_local_table_to_metadata(rel regclass) RETURNS void LANGUAGE sql AS
  $$ INSERT INTO citus_calls (fn, rel) VALUES ('local', rel::text);
     INSERT INTO pg_dist_partition VALUES (rel) $$;
"""


def _script() -> str:
    script = DISTRIBUTE_SQL.read_text(encoding="utf-8")
    return "\n".join(ln for ln in script.splitlines() if not ln.startswith("\\"))


async def test_distribute_sql_runs_and_restores_the_foreign_keys(conn: asyncpg.Connection) -> None:
    """Without Citus here, run the script against stand-ins of its functions: the SQL
    is valid, the calls match the classification, every foreign key comes back except
    the single-node-only ones."""
    await conn.execute(
        "CREATE TABLE venue_rollup_hourly (venue_id uuid NOT NULL REFERENCES venues, "
        "hour timestamptz NOT NULL, visits bigint NOT NULL, PRIMARY KEY (venue_id, hour));"
        "CREATE TABLE venue_rollup_daily (venue_id uuid NOT NULL, day date NOT NULL, "
        "PRIMARY KEY (venue_id, day));"
        "CREATE TABLE rollup_watermark (name text PRIMARY KEY, seq bigint NOT NULL)"
    )
    fks_before = {
        r[0]
        for r in await conn.fetch(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' "
            "AND connamespace = 'public'::regnamespace"
        )
    }
    await conn.execute(_CITUS_STUBS)
    script = _script()
    await conn.execute(script)
    calls = await conn.fetch("SELECT fn, rel, col, colocate FROM citus_calls ORDER BY n")
    # a re-run (after a later migration, say) distributes nothing twice and still commits
    await conn.execute(script)
    assert await conn.fetchval("SELECT count(*) FROM citus_calls") == len(calls)
    reference = {r["rel"] for r in calls if r["fn"] == "reference"}
    distributed = {r["rel"]: (r["col"], r["colocate"]) for r in calls if r["fn"] == "distributed"}
    local = {r["rel"] for r in calls if r["fn"] == "local"}
    # rollup-named tables without a venue_id: the DP release days (0030) and a test stub
    assert reference == REFERENCE | {"rollup_watermark", "flow_release_days"}
    assert local == set(LOCAL) - {"schema_migrations", "schema_functions"}
    rollups = sorted(t for t in distributed if t not in DISTRIBUTED and ROLLUP_NAME.search(t))
    assert {"venue_rollup_daily", "venue_rollup_hourly", "flow_releases"} <= set(rollups)
    assert distributed[rollups[0]] == ("venue_id", "none")
    assert all(distributed[t] == ("venue_id", rollups[0]) for t in rollups[1:])
    assert {
        t: c for t, (c, _) in distributed.items() if t in DISTRIBUTED or not ROLLUP_NAME.search(t)
    } == {t: c for t, (c, _) in DISTRIBUTED.items()}

    fks_after = {
        r[0]
        for r in await conn.fetch(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' "
            "AND connamespace = 'public'::regnamespace"
        )
    }
    assert fks_after == fks_before - set(SINGLE_NODE_ONLY)
    # one current phone credential per traveller stays a unique index under Citus
    unique = await conn.fetchval(
        "SELECT indisunique FROM pg_index WHERE indexrelid = 'credentials_traveller_idx'::regclass"
    )
    assert unique is True
    # and the schema as Citus would hold it has no violation left, with no exceptions
    found, _ = violations(await read_schema(conn), exceptions={})
    assert found == [], found


async def test_distribute_sql_moves_credentials_of_an_earlier_layout(
    conn: asyncpg.Connection,
) -> None:
    """A cluster distributed before migration 0075 holds credentials by cred_id, without
    their key to travellers and with a plain index where the one-current-phone-credential
    rule was: a re-run moves them to the traveller's shard and gives both back."""
    await conn.execute(_CITUS_STUBS)
    await conn.execute(
        "ALTER TABLE credentials DROP CONSTRAINT credentials_traveller_id_fkey;"
        "DROP INDEX credentials_traveller_idx;"
        "CREATE INDEX credentials_traveller_idx ON credentials (traveller_id);"
        "INSERT INTO pg_dist_partition VALUES ('credentials', 'cred_id')"
    )
    await conn.execute(_script())
    calls = await conn.fetch(
        "SELECT fn, rel, col, colocate FROM citus_calls WHERE rel = 'credentials'"
    )
    assert [tuple(c) for c in calls] == [("altered", "credentials", "traveller_id", "travellers")]
    assert await conn.fetchval(
        "SELECT indisunique FROM pg_index WHERE indexrelid = 'credentials_traveller_idx'::regclass"
    )
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'credentials_traveller_id_fkey'"
        )
        == 1
    )
    # and a further re-run changes nothing
    before = await conn.fetchval("SELECT count(*) FROM citus_calls")
    await conn.execute(_script())
    assert await conn.fetchval("SELECT count(*) FROM citus_calls") == before


async def test_distribute_sql_moves_flow_dwell_to_its_travellers(conn: asyncpg.Connection) -> None:
    """A cluster distributed before flow_dwell joined the traveller group holds it by
    venue_id, with the venue rollups: a re-run moves it to the travellers' shards (so
    flows_advance's INSERT ... SELECT from scans is co-located) and leaves the venue
    rollups alone."""
    await conn.execute(_CITUS_STUBS)
    await conn.execute(
        "INSERT INTO pg_dist_partition VALUES ('flow_dwell', 'venue_id'), "
        "('flow_occupancy_hours', 'venue_id')"
    )
    await conn.execute(_script())
    calls = await conn.fetch(
        "SELECT fn, rel, col, colocate FROM citus_calls "
        "WHERE rel IN ('flow_dwell', 'flow_occupancy_hours')"
    )
    assert [tuple(c) for c in calls] == [("altered", "flow_dwell", "traveller_id", "travellers")]
    # the venue rollups new to this cluster join flow_occupancy_hours's group, not flow_dwell's
    venue = await conn.fetch(
        "SELECT rel, colocate FROM citus_calls WHERE fn = 'distributed' AND col = 'venue_id' "
        "AND rel LIKE 'flow%'"
    )
    assert venue and all(r["colocate"] == "flow_occupancy_hours" for r in venue), venue
    before = await conn.fetchval("SELECT count(*) FROM citus_calls")
    await conn.execute(_script())
    assert await conn.fetchval("SELECT count(*) FROM citus_calls") == before
