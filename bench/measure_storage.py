"""Storage per million rows: fill a fresh migrated database with representative scans,
bookings and travellers, then read ``pg_total_relation_size`` (heap + indexes + TOAST).

    python bench/measure_storage.py [--rows 100000] [--dsn postgresql://…]

Without ``--dsn`` an embedded PostgreSQL is started in a temporary folder. The figures
feed the sizing table of deploy/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import secrets
import shutil
import tempfile
import uuid
from pathlib import Path

import asyncpg

from onecode.devdb import EmbeddedPostgres
from onecode.gates.models import NO_TRAVELLER
from onecode.migrate import migrate

REASONS_REJECT = ["no_booking", "already_used", "too_early", "invalid_code", "expired_code"]


async def _catalog(conn: asyncpg.Connection, venues: int, gates_per_venue: int) -> list[tuple]:
    await conn.execute(
        "INSERT INTO regions (code, name) VALUES ('CN-GZ', 'Guizhou') ON CONFLICT DO NOTHING"
    )
    gates: list[tuple] = []
    for v in range(venues):
        vid = uuid.uuid4()
        await conn.execute(
            """INSERT INTO venues (id, region_code, name, kind, gated, requires_booking,
                   entry_rule, capacity_instant, capacity_daily, place_code)
               VALUES ($1, 'CN-GZ', $2, 'scenic_area', true, true, 'single', 5000, 40000, $3)""",
            vid,
            f"venue {v}",
            secrets.token_urlsafe(16),
        )
        for g in range(gates_per_venue):
            gid = uuid.uuid4()
            await conn.execute(
                "INSERT INTO gates (id, venue_id, name) VALUES ($1, $2, $3)", gid, vid, f"g{g}"
            )
            gates.append((gid, vid))
    return gates


async def _sizes(conn: asyncpg.Connection, tables: list[str]) -> dict[str, tuple[int, int, int]]:
    await conn.execute("VACUUM ANALYZE")
    out: dict[str, tuple[int, int, int]] = {}
    for t in tables:
        row = await conn.fetchrow(
            "SELECT pg_total_relation_size($1::regclass), pg_table_size($1::regclass),"
            " pg_indexes_size($1::regclass)",
            t,
        )
        assert row is not None
        out[t] = (row[0], row[1], row[2])
    return out


async def measure(dsn: str, rows: int, travellers: int) -> None:
    conn = await asyncpg.connect(dsn)
    rnd = random.Random(42)
    try:
        gates = await _catalog(conn, venues=20, gates_per_venue=4)
        day0 = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
        # travellers with their credential and token, as registration writes them
        tids = [uuid.uuid4() for _ in range(travellers)]
        await conn.copy_records_to_table(
            "travellers",
            columns=["id", "display_name", "home_region", "created_at"],
            records=[(t, f"Traveller {i}", "CN-GZ", day0) for i, t in enumerate(tids)],
        )
        await conn.copy_records_to_table(
            "credentials",
            columns=["cred_id", "traveller_id", "suffix_secret", "expires_at"],
            records=[
                (os.urandom(16), t, os.urandom(32), day0 + dt.timedelta(days=365)) for t in tids
            ],
        )
        await conn.copy_records_to_table(
            "api_tokens",
            columns=["token_hash", "kind", "principal_id"],
            records=[(os.urandom(32), "traveller", t) for t in tids],
        )
        # slots: 20 venues x 10 days x 12 hourly slots
        venue_ids = sorted({v for _, v in gates})
        slots: list[tuple[uuid.UUID, uuid.UUID, dt.datetime]] = []
        for v in venue_ids:
            for d in range(10):
                for h in range(12):
                    start = day0 + dt.timedelta(days=d, hours=h)
                    slots.append((uuid.uuid4(), v, start))
        await conn.copy_records_to_table(
            "slots",
            columns=["id", "venue_id", "starts_at", "ends_at"],
            records=[(s, v, st, st + dt.timedelta(hours=1)) for s, v, st in slots],
        )
        await conn.copy_records_to_table(
            "slot_counters",
            columns=["venue_id", "slot_id", "capacity"],
            records=[(v, s, 500) for s, v, _ in slots],
        )
        booking_records = []
        for _ in range(rows):
            sid, vid, st = rnd.choice(slots)
            booking_records.append(
                (
                    uuid.uuid4(),
                    rnd.choice(tids),
                    sid,
                    vid,
                    rnd.choice((1, 1, 2, 2, 3, 4)),
                    rnd.choice(("booked", "used", "used", "used", "cancelled", "no_show")),
                    st,
                    st + dt.timedelta(hours=1),
                    st.date(),
                    st - dt.timedelta(days=rnd.randint(0, 10)),
                )
            )
        await conn.copy_records_to_table(
            "bookings",
            columns=[
                "id",
                "traveller_id",
                "slot_id",
                "venue_id",
                "party_size",
                "status",
                "starts_at",
                "ends_at",
                "local_day",
                "created_at",
            ],
            records=booking_records,
        )
        scan_records = []
        for _ in range(rows):
            gid, vid = rnd.choice(gates)
            accepted = rnd.random() < 0.9
            known = accepted or rnd.random() < 0.7
            at = day0 + dt.timedelta(seconds=rnd.randint(0, 10 * 86400))
            scan_records.append(
                (
                    gid,
                    uuid.uuid4(),
                    vid,
                    rnd.choice(tids) if known else NO_TRAVELLER,
                    uuid.uuid4() if accepted and rnd.random() < 0.8 else None,
                    "in" if rnd.random() < 0.55 else "out",
                    "accept" if accepted else "reject",
                    "ok" if accepted else rnd.choice(REASONS_REJECT),
                    rnd.choice((1, 1, 2, 3)) if accepted else 0,
                    at,
                    at + dt.timedelta(milliseconds=rnd.randint(20, 900)),
                    rnd.random() < 0.05,
                )
            )
        await conn.copy_records_to_table(
            "scans",
            columns=[
                "gate_id",
                "scan_id",
                "venue_id",
                "traveller_id",
                "booking_id",
                "direction",
                "decision",
                "reason",
                "party_size",
                "device_time",
                "server_time",
                "offline",
            ],
            records=scan_records,
        )
        sizes = await _sizes(conn, ["scans", "bookings", "travellers", "credentials", "api_tokens"])
    finally:
        await conn.close()
    print(f"rows: scans={rows} bookings={rows} travellers={travellers}")
    print("table         total MB  heap MB  index MB   per 1M rows (total MB)")
    for t, (total, heap, idx) in sizes.items():
        n = travellers if t in ("travellers", "credentials", "api_tokens") else rows
        per_m = total / n * 1_000_000 / 2**20
        print(
            f"{t:<12} {total / 2**20:9.1f} {heap / 2**20:8.1f} {idx / 2**20:9.1f}   {per_m:10.0f}"
            f"   ({total / n:.0f} B/row)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--travellers", type=int, default=20_000)
    p.add_argument("--dsn")
    a = p.parse_args()
    if a.dsn:
        asyncio.run(migrate(a.dsn))
        asyncio.run(measure(a.dsn, a.rows, a.travellers))
        return
    base = Path(tempfile.mkdtemp(prefix="onecode-storage-"))
    try:
        with EmbeddedPostgres(base, cleanup="delete") as dsn:
            asyncio.run(migrate(dsn))
            asyncio.run(measure(dsn, a.rows, a.travellers))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
