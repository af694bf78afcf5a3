"""Benchmark the visitor-flow rollups: advance throughput (rows/s) on a backlog and on
an increment, and planner query latency on the rollups.

Run from the repository root: ``PYTHONPATH=. python bench/bench_flows.py [SCANS]``
(default 200,000 scans).
Uses ``DATABASE_URL`` (a scratch database: it is migrated and filled) or an embedded
PostgreSQL in a temporary folder. Single process; medians of 5 runs. Not a test.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from onecode.auth import ADMIN_ID, Kind, Principal
from onecode.flows import privacy, service
from onecode.flows.rollup import advance
from onecode.migrate import migrate

VENUES = 20
TRAVELLERS = 20_000
DAYS = 7
START = date(2026, 5, 4)


Gate = tuple[uuid.UUID, uuid.UUID]
Row = tuple[object, ...]


async def fill(conn: asyncpg.Connection, rng: random.Random) -> tuple[list[Gate], list[uuid.UUID]]:
    await conn.execute("INSERT INTO regions (code, name) VALUES ('CN-GZ', 'Guizhou')")
    venues = [uuid.uuid4() for _ in range(VENUES)]
    gates = [uuid.uuid4() for _ in range(VENUES)]
    await conn.executemany(
        "INSERT INTO venues (id, region_code, name, kind, gated, requires_booking, entry_rule,"
        " capacity_instant, capacity_daily, place_code) VALUES ($1, 'CN-GZ', $2, 'scenic_area',"
        " true, false, 'reentry', 5000, 20000, $3)",
        [(v, f"Venue {i}", uuid.uuid4().hex) for i, v in enumerate(venues)],
    )
    await conn.executemany(
        "INSERT INTO gates (id, venue_id, name) VALUES ($1, $2, 'gate')",
        list(zip(gates, venues, strict=True)),
    )
    travellers = [uuid.uuid4() for _ in range(TRAVELLERS)]
    await conn.copy_records_to_table(
        "travellers",
        records=[(t, rng.choice(["CN-BJ", "CN-SH", "CN-GD", None])) for t in travellers],
        columns=["id", "home_region"],
    )
    return list(zip(gates, venues, strict=True)), travellers


def scans(n: int, gates: list[Gate], travellers: list[uuid.UUID], rng: random.Random) -> list[Row]:
    out: list[Row] = []
    while len(out) < n:
        gate, venue = rng.choice(gates)
        t = rng.choice(travellers)
        day = START + timedelta(days=rng.randrange(DAYS))
        entry = datetime(day.year, day.month, day.day, 1, tzinfo=UTC) + timedelta(
            minutes=rng.randrange(600)
        )
        leave = entry + timedelta(minutes=rng.randrange(10, 300))
        for direction, when in (("in", entry), ("out", leave)):
            out.append((gate, uuid.uuid4(), venue, t, direction, "accept", "ok", 1, when))
    return out[:n]


async def copy_scans(conn: asyncpg.Connection, rows: list[Row]) -> None:
    await conn.copy_records_to_table(
        "scans",
        records=rows,
        columns=[
            "gate_id",
            "scan_id",
            "venue_id",
            "traveller_id",
            "direction",
            "decision",
            "reason",
            "party_size",
            "device_time",
        ],
    )


async def run(dsn: str, n_scans: int) -> None:
    await migrate(dsn)
    rng = random.Random(7)
    conn = await asyncpg.connect(dsn)
    try:
        gates, travellers = await fill(conn, rng)
        await copy_scans(conn, scans(n_scans, gates, travellers, rng))
        t0 = time.perf_counter()
        consumed = await advance(conn)
        took = time.perf_counter() - t0
        print(f"backlog advance: {consumed:,} rows in {took:.2f} s ({consumed / took:,.0f} rows/s)")
        await conn.execute("ANALYZE")  # what autovacuum does after a bulk load
        increments = []
        for _ in range(5):
            await copy_scans(conn, scans(10_000, gates, travellers, rng))
            t0 = time.perf_counter()
            consumed = await advance(conn)
            increments.append(time.perf_counter() - t0)
        inc = statistics.median(increments)
        print(f"increment advance: 10,000 rows in {inc * 1000:.0f} ms ({10_000 / inc:,.0f} rows/s)")
        t0 = time.perf_counter()
        await advance(conn)
        print(f"empty advance: {(time.perf_counter() - t0) * 1000:.1f} ms")
        for table in ("scans", "flow_visit_hours", "flow_dwell", "flow_trips"):
            size = await conn.fetchval("SELECT count(*) FROM " + table)
            print(f"  {table:<18} {size:>10,} rows")
        admin = Principal(kind=Kind.ADMIN, id=ADMIN_ID)
        scope = await service.resolve_scope(conn, admin, "CN-GZ", None)
        last = START + timedelta(days=DAYS - 1)
        # the differentially private release of the days (once per day, issue #16)
        t0 = time.perf_counter()
        await privacy.ensure_released(conn, START, last, privacy.DEFAULT)
        took = time.perf_counter() - t0
        cells = await conn.fetchval("SELECT count(*) FROM flow_releases")
        print(f"release {DAYS} days: {took * 1000:.0f} ms ({cells:,} noisy cells)")
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "arrivals hour": lambda: service.arrivals(conn, scope, START, last, "hour", 10),
            "arrivals day": lambda: service.arrivals(conn, scope, START, last, "day", 10),
            "od": lambda: service.od(conn, scope, START, last, 10),
            "dwell": lambda: service.dwell(conn, scope, START, last, 10),
            "origins": lambda: service.origins(conn, scope, START, last, 10),
            "heatmap": lambda: service.heatmap(conn, scope, START, last, 10),
            "occupancy": lambda: service.occupancy(conn, admin, scope.venue_ids[0], START, 10),
        }
        for name, call in calls.items():
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                await call()
                times.append(time.perf_counter() - t0)
            print(
                f"query {name:<14} {statistics.median(times) * 1000:7.1f} ms (region, {DAYS} days)"
            )
    finally:
        await conn.close()


def main() -> None:
    n_scans = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    dsn = os.environ.get("DATABASE_URL")
    if dsn:
        asyncio.run(run(dsn, n_scans))
        return
    from onecode.devdb import EmbeddedPostgres

    base = Path(tempfile.mkdtemp(prefix="onecode-bench-"))
    embedded = EmbeddedPostgres(base, cleanup="delete")
    try:
        asyncio.run(run(embedded.start(), n_scans))
    finally:
        embedded.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
