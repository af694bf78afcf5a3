"""Every statement onecode sends is one Citus can run (a static check, see
tests/support/citus_rules.py and deploy/citus/README.md).

KNOWN lists what the check finds today that is not yet fixed, each with why; a new
finding fails, and a fixed one must leave the list (the list only shrinks)."""

from __future__ import annotations

import re

import asyncpg

from tests.integration.test_citus_ready import classify, read_schema
from tests.support.citus_rules import (
    FAN_OUT,
    ROUTED_TABLES,
    RULES,
    Finding,
    Layout,
    Statement,
    check,
    statements,
)

KNOWN: dict[tuple[str, str], str] = {}


async def layout_of(conn: asyncpg.Connection) -> Layout:
    schema = await read_schema(conn)
    cls = classify(schema)
    columns = {t: {c: v[0] for c, v in cols.items()} for t, cols in schema.columns.items()}
    volatility: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    rows = await conn.fetch(
        """SELECT proname,
                  array(SELECT format_type(t, NULL) FROM unnest(proargtypes::oid[]) t),
                  provolatile::text
             FROM pg_proc"""
    )
    for name, types, vol in rows:
        volatility.setdefault(str(name), []).append((tuple(types), str(vol)))
    return Layout(dict(cls.distributed), cls.reference, columns, volatility)


async def test_every_statement_is_one_citus_runs(conn: asyncpg.Connection) -> None:
    found = check(await layout_of(conn), statements())
    assert all(f.rule in RULES for f in found), [f for f in found if f.rule not in RULES]
    got = {(f.where, f.rule): f.detail for f in found}
    new = {k: v for k, v in got.items() if k not in KNOWN}
    fixed = sorted(k for k in KNOWN if k not in got)
    assert not new, "statements Citus would refuse:\n" + "\n".join(
        f"{w} [{r}] {d}: {RULES[r][0]} ({RULES[r][1]})" for (w, r), d in sorted(new.items())
    )
    assert not fixed, f"fixed, remove from KNOWN: {fixed}"


_CASES: list[tuple[str, str | None]] = [
    # (statement, the rule it must break, or None when Citus runs it)
    (
        "INSERT INTO bookings (id) VALUES ($1) RETURNING jsonb_build_object('id', id)",
        "returning-mutable",
    ),
    ("INSERT INTO bookings (id) VALUES ($1) RETURNING id, created_at", None),
    (
        "UPDATE complaints SET answered_at = COALESCE(answered_at, now()) WHERE traveller_id = $1",
        "case-coalesce-mutable",
    ),
    ("UPDATE complaints SET answered_at = COALESCE(answered_at, $2) WHERE traveller_id = $1", None),
    (
        "UPDATE bookings b SET status = 'no_show' WHERE b.ends_at + make_interval(mins => 5) < $1",
        "update-stable-column",
    ),
    ("UPDATE bookings b SET status = 'no_show' WHERE b.ends_at < $1", None),
    ("UPDATE bookings SET id = gen_random_uuid() WHERE traveller_id = $1", "update-volatile"),
    (
        "SELECT venue_id, count(*) FROM flow_visit_hours GROUP BY GROUPING SETS ((venue_id), ())",
        "grouping-sets",
    ),
    ("SELECT venue_id, count(*) FROM flow_visit_hours GROUP BY venue_id", None),
    (
        "SELECT 1 FROM bookings b JOIN credential_ids l ON l.traveller_id = b.traveller_id "
        "WHERE l.cred_id = $1",
        "join-not-colocated",
    ),
    # credentials sit with their traveller (migration 0075): the pack's join is co-located
    (
        "SELECT 1 FROM bookings b JOIN credentials c ON c.traveller_id = b.traveller_id "
        "WHERE b.traveller_id = $1 AND c.traveller_id = $1",
        None,
    ),
    ("SELECT 1 FROM bookings b JOIN presence p ON p.traveller_id = b.traveller_id", None),
    ("SELECT 1 FROM bookings b JOIN presence p ON p.venue_id = b.venue_id", "join-not-colocated"),
    ("SELECT 1 FROM bookings b WHERE b.id = $1 FOR UPDATE", "for-update-multi-shard"),
    ("SELECT 1 FROM bookings b WHERE b.traveller_id = $1 FOR UPDATE", None),
    (
        "SELECT 1 FROM unnest($1::uuid[]) t(id) CROSS JOIN LATERAL "
        "(SELECT * FROM scans s WHERE s.traveller_id = t.id) x",
        "lateral-function-join",
    ),
]


# flows_advance's rollup statements (issue #22): set-based, co-located, pushed down
_ROLLUP_CASES: list[tuple[str, str | None]] = [
    # the dwell step's DELETE: its keys are a subquery of scans, tied by traveller_id
    (
        "DELETE FROM flow_dwell f USING (SELECT DISTINCT k.traveller_id, k.venue_id "
        "FROM scans k WHERE k.ingest_xid >= $1) t "
        "WHERE f.traveller_id = t.traveller_id AND f.venue_id = t.venue_id",
        None,
    ),
    # ... which a table of the venue group cannot do (flow_dwell before this change)
    (
        "DELETE FROM flow_visit_hours f USING (SELECT k.traveller_id, k.venue_id "
        "FROM scans k WHERE k.ingest_xid >= $1) t "
        "WHERE f.traveller_id = t.traveller_id AND f.venue_id = t.venue_id",
        "modify-join-not-colocated",
    ),
    # co-located, but tied by a venue, not by the traveller
    (
        "DELETE FROM flow_trips f USING (SELECT k.venue_id FROM scans k) t "
        "WHERE f.from_venue = t.venue_id",
        "modify-join-not-colocated",
    ),
    (
        "DELETE FROM flow_trips f WHERE EXISTS (SELECT 1 FROM scans k "
        "WHERE k.traveller_id = f.traveller_id AND k.ingest_xid >= $1)",
        None,
    ),
    # a window over a traveller's scans, partitioned by the traveller: pushed down
    (
        "INSERT INTO flow_dwell (traveller_id, venue_id, local_day, entry_at, minutes) "
        "SELECT x.traveller_id, x.venue_id, $1, x.device_time, 0 FROM (SELECT s.*, "
        "lead(s.direction) OVER w AS next_dir FROM scans s "
        "WINDOW c AS (PARTITION BY s.traveller_id, s.venue_id), w AS (c ORDER BY s.seq)) x",
        None,
    ),
    (
        "INSERT INTO flow_dwell (traveller_id, venue_id, local_day, entry_at, minutes) "
        "SELECT x.traveller_id, x.venue_id, $1, x.device_time, 0 FROM (SELECT s.*, "
        "lead(s.direction) OVER (PARTITION BY s.venue_id ORDER BY s.seq) AS n FROM scans s) x",
        "insert-select-window",
    ),
    # no partition at all: fine on one shard (the per-key loop), not across many
    (
        "INSERT INTO flow_trips (traveller_id, local_day, from_venue, to_venue, trips) "
        "SELECT $1, $2, x.p, x.venue_id, 1 FROM (SELECT s.venue_id, lag(s.venue_id) "
        "OVER (ORDER BY s.device_time) AS p FROM scans s WHERE s.traveller_id = $1) x",
        None,
    ),
    (
        "INSERT INTO flow_trips (traveller_id, local_day, from_venue, to_venue, trips) "
        "SELECT x.traveller_id, $2, x.p, x.venue_id, 1 FROM (SELECT s.traveller_id, "
        "s.venue_id, lag(s.venue_id) OVER (ORDER BY s.device_time) AS p FROM scans s "
        "WHERE s.traveller_id = ANY ($1)) x",
        "insert-select-window",
    ),
]


async def test_the_rollup_statements_stay_colocated(conn: asyncpg.Connection) -> None:
    """flows_advance's dwell and trips steps are one DELETE and one INSERT … SELECT each,
    co-located with scans (issue #22). The cases show the two rules that hold them to it;
    and with flow_dwell back in the venue group (its place before), the check refuses
    the dwell step."""
    layout = await layout_of(conn)
    for sql, rule in _ROLLUP_CASES:
        found = {f.rule for f in check(layout, [Statement("case", sql, hot=False)])}
        assert found == ({rule} if rule else set()), (sql, found)
    advance = [s for s in statements() if s.where.startswith("functions/flows.sql:flows_advance#")]
    assert sum("INSERT INTO flow_dwell" in s.sql for s in advance) == 1
    assert sum("INSERT INTO flow_trips" in s.sql for s in advance) == 1
    assert check(layout, advance) == []
    assert layout.distributed["flow_dwell"] == ("traveller_id", "traveller")
    before = Layout(
        layout.distributed | {"flow_dwell": ("venue_id", "venue")},
        layout.reference,
        layout.columns,
        layout.volatility,
    )
    assert {f.rule for f in check(before, advance)} == {"modify-join-not-colocated"}


async def test_the_check_catches_each_rule(conn: asyncpg.Connection) -> None:
    """Each rule fires on a statement that breaks it, and not on its repaired form."""
    layout = await layout_of(conn)
    for sql, rule in _CASES:
        found = {f.rule for f in check(layout, [Statement("case", sql, hot=False)])}
        assert found == ({rule} if rule else set()), (sql, found)
    hot = Statement("hot", "SELECT 1 FROM scans s WHERE s.gate_id = $1", hot=True)
    assert {f.rule for f in check(layout, [hot])} == {"hot-multi-shard"}
    routed = Statement("hot", "SELECT 1 FROM scans s WHERE s.traveller_id = $1", hot=True)
    assert check(layout, [routed]) == []
    many = Statement("hot", "SELECT 1 FROM scans s WHERE s.traveller_id = ANY ($1)", hot=True)
    assert check(layout, [many]) == []
    joined = Statement(
        "hot",
        "SELECT 1 FROM bookings b JOIN presence p ON p.traveller_id = b.traveller_id "
        "WHERE b.traveller_id = $1",
        hot=True,
    )
    assert {f.detail for f in check(layout, [joined])} == {"SELECT presence"}
    assert {r for _, r in _CASES + _ROLLUP_CASES if r} | {"hot-multi-shard"} <= set(RULES)
    assert isinstance(Finding("a", "b"), Finding)


_ROUTED: list[tuple[str, bool]] = [
    # (a statement on credentials, off the hot path; whether it reaches one shard)
    ("SELECT kind FROM credentials c WHERE c.cred_id = $1", False),
    ("SELECT kind FROM credentials c WHERE c.traveller_id = $1 AND c.cred_id = $2", True),
    ("SELECT traveller_id FROM credential_ids WHERE cred_id = $1", True),
    ("SELECT cred_id FROM credential_ids WHERE traveller_id = $1", False),
    ("UPDATE credentials SET revoked_all = true WHERE traveller_id = $1", True),
    # the erase statement before migration 0075's change: IN (a CTE) routes nothing
    (
        "WITH e AS (SELECT id FROM travellers WHERE id = $1) UPDATE credentials "
        "SET revoked_all = true WHERE traveller_id IN (SELECT id FROM e)",
        False,
    ),
    ("DELETE FROM credentials WHERE cred_id = $1", False),
]


async def test_every_statement_on_credentials_reaches_one_shard(conn: asyncpg.Connection) -> None:
    """Credentials are reached through their distribution column by every statement, hot
    path or not (issue #22): a traveller's by traveller_id, a code's by the lookup's
    cred_id. The fan-outs by design are named, and each names a real statement."""
    layout = await layout_of(conn)
    assert layout.distributed["credentials"] == ("traveller_id", "traveller")
    assert layout.distributed["credential_ids"][0] == "cred_id"
    for sql, routed in _ROUTED:
        found = {f.rule for f in check(layout, [Statement("case", sql, hot=False)])}
        assert found == (set() if routed else {"hot-multi-shard"}), (sql, found)
    every = statements()
    touching = {s.where for s in every if any(re.search(rf"\b{t}\b", s.sql) for t in ROUTED_TABLES)}
    assert set(FAN_OUT) <= touching, sorted(set(FAN_OUT) - touching)
    # the gate's read, the traveller's reads and writes, the upload's: all judged
    assert {
        "queries/identity.sql:identity_select_credential",
        "queries/identity.sql:identity_erase_traveller",
        "queries/offline.sql:offline_select_credentials",
        "queries/offline.sql:offline_select_credential_travellers",
    } <= touching
    assert any(w.startswith("functions/gates.sql:gate_scan#") for w in touching)
    routed_findings = [
        f
        for f in check(layout, [s for s in every if s.where in touching])
        if f.rule == "hot-multi-shard"
    ]
    assert routed_findings == [], routed_findings
