"""Where gate_scan() spends its time: each statement inside it, per accepted first entry.

Starts a throwaway embedded PostgreSQL with ``pg_stat_statements`` (track = all, so the
statements inside PL/pgSQL are counted), migrates it, books N travellers at one venue
with G gates, and calls ``gate_scan()`` once per traveller over asyncpg (no HTTP, no
signature check; the live suffix is checked, in SQL). Durable commits unless
``--unsafe-fast``. Prints per-call latency and, per statement, microseconds, WAL bytes
and calls per scan; writes bench/results/profile_gate_scan.json.

``python -m bench.profile_gate_scan [--travellers N] [--gates G] [--conns C]``
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import base45

from bench.bench_gates import _live_codes, bulk_setup, db_only
from bench.common import Result, add_common_args, apply_durability, check_mix, durability
from onecode.codes import BODY_LEN, KeyStore
from onecode.devdb import EmbeddedPostgres
from onecode.migrate import migrate


async def prepare(dsn: str, gates: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    await migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("INSERT INTO regions (code, name) VALUES ('CN-GZ', 'Guizhou')")
        venue = uuid.uuid4()
        await conn.execute(
            "INSERT INTO venues (id, region_code, name, kind, gated, live_code_required, "
            "requires_booking, entry_rule, capacity_instant, capacity_daily, "
            "occupancy_cap_pct, timezone, place_code) VALUES ($1, 'CN-GZ', 'Huangguoshu', "
            "'scenic_area', true, true, true, 'single', 1000000, 1000000, 80, "
            "'Asia/Shanghai', $2)",
            venue,
            uuid.uuid4().hex[:12],
        )
        ids = [uuid.uuid4() for _ in range(gates)]
        await conn.executemany(
            "INSERT INTO gates (id, venue_id, name) VALUES ($1, $2, 'g')",
            [(g, venue) for g in ids],
        )
        return venue, ids
    finally:
        await conn.close()


async def run(
    dsn: str, venue: uuid.UUID, gates: list[uuid.UUID], n: int, conns: int
) -> dict[str, Any]:
    creds = await bulk_setup(dsn, venue, n)
    # each code as a phone shows it now (bench_gates' codes): the body and the raw bytes
    # of its live suffix, signed with a throwaway key (gate_scan() gets the verdict 'ok')
    with tempfile.TemporaryDirectory(prefix="onecode-profile-keys-") as keys:
        key = KeyStore(data_dir=Path(keys)).signing_key
    expires = int(time.time()) + 86_400
    calls = [
        (gates[i % len(gates)], cred, shown[:BODY_LEN], base45.b45decode(shown[BODY_LEN + 1 :]))
        for i, ((cred, _, _), shown) in enumerate(
            zip(creds, _live_codes(key, creds, expires), strict=True)
        )
    ]
    admin = await asyncpg.connect(dsn)
    await admin.execute("SELECT pg_stat_statements_reset()")
    rate, p50, p99 = await db_only(dsn, venue, calls, conns, secs=3600.0)
    rows = await admin.fetch(
        "SELECT calls, total_exec_time, wal_bytes, regexp_replace(query, '\\s+', ' ', 'g') AS q"
        " FROM pg_stat_statements WHERE calls >= $1 ORDER BY total_exec_time DESC LIMIT 20",
        n // 2,
    )
    mix = {
        r["d"]: int(r["n"])
        for r in await admin.fetch(
            "SELECT decision || '/' || reason AS d, count(*) AS n FROM scans GROUP BY 1"
        )
    }
    await admin.close()
    return {
        "conns": conns,
        "gates": len(gates),
        "scans": len(calls),
        "scans_per_s": round(rate, 1),
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "decisions": mix,
        "statements": [
            {
                "us_per_scan": round(r["total_exec_time"] * 1000 / n, 1),
                "calls_per_scan": round(r["calls"] / n, 2),
                "wal_bytes_per_scan": round(float(r["wal_bytes"]) / n),
                "statement": r["q"][:160],
            }
            for r in rows
        ],
    }


async def start_with_statements(pg: EmbeddedPostgres) -> str:
    dsn = pg.start()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        await conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
    finally:
        await conn.close()
    pg.stop()
    return pg.start()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--travellers", type=int, default=4000)
    p.add_argument("--gates", type=int, default=64)
    p.add_argument("--conns", type=int, default=1)
    add_common_args(p, "profile_gate_scan")
    args = p.parse_args()
    print(f"gate_scan() profile: {durability(args.unsafe_fast)}")
    result = Result(
        "profile_gate_scan",
        "gate_scan() over asyncpg, one call per booked traveller (first entries), each "
        "statement inside it from pg_stat_statements (track = all)",
        {"durability": durability(args.unsafe_fast), "travellers": args.travellers},
    )
    base = Path(tempfile.mkdtemp(prefix="onecode-profile-"))
    pg = EmbeddedPostgres(base, cleanup="stop")  # kept across the restart; removed below
    try:
        dsn = asyncio.run(start_with_statements(pg))
        result.doc["settings"]["postgres"] = asyncio.run(apply_durability(dsn, args.unsafe_fast))
        venue, gates = asyncio.run(prepare(dsn, args.gates))
        got = asyncio.run(run(dsn, venue, gates, args.travellers, args.conns))
        print(
            f"{got['scans']} scans on {got['conns']} connection(s), {got['gates']} gates: "
            f"{got['scans_per_s']:.0f}/s, p50 {got['p50_ms']} ms, p99 {got['p99_ms']} ms"
        )
        if not check_mix("gate_scan()", got["decisions"], "accept/ok", got["scans"], got["scans"]):
            result.failed_check()
        print(f"{'us/scan':>8} {'calls':>5} {'WAL B':>6}  statement")
        for s in got["statements"]:
            print(
                f"{s['us_per_scan']:>8} {s['calls_per_scan']:>5} {s['wal_bytes_per_scan']:>6}  "
                f"{s['statement'][:110]}"
            )
        result.row(**got)
        result.write(args.out)
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0 if result.ok else 3


if __name__ == "__main__":
    sys.exit(main())
