"""Benchmark: offline batch upload of 100,000 scans in batches of 1,000 on loopback.

Starts its own embedded PostgreSQL (durable commits unless ``--unsafe-fast``; or uses
DATABASE_URL) and `onecode serve` in a subprocess, bulk-creates travellers with
credentials (bench setup only), signs their codes with the server's own key, then
uploads. Prints scans/s for the first upload (every item must come back ``recorded``)
and for a second, all-duplicate upload of the same scans (every item ``duplicate``),
beside the same-run baseline: raw asyncpg ``executemany`` of the same rows into a copy
of the scans table (same indexes), one transaction per batch, the same durability.
Writes bench/results/offline.json; exits 3 if a status mix is not what it claims.

    python -m bench.bench_offline [--scans 100000] [--batch 1000] [--travellers 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import msgspec

from bench.common import Result, add_common_args, apply_durability, check_mix, durability, ratio
from onecode.codes import Credential, KeyStore, issue
from onecode.devdb import EmbeddedPostgres
from onecode.migrate import migrate

ADMIN = "oc_admin_bench-" + secrets.token_urlsafe(24)
VENUE_TZ = "Asia/Shanghai"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def setup(dsn: str, n_travellers: int, data_dir: Path) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        ids = [uuid.uuid4() for _ in range(n_travellers)]
        creds = [secrets.token_bytes(16) for _ in ids]
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "travellers",
            records=[(i, None, "CN-44", now) for i in ids],
            columns=["id", "display_name", "home_region", "created_at"],
        )
        await conn.copy_records_to_table(
            "credentials",
            records=[
                (
                    c,
                    i,
                    1,
                    secrets.token_bytes(32),
                    now - timedelta(minutes=5),
                    now + timedelta(days=30),
                )
                for c, i in zip(creds, ids, strict=True)
            ],
            columns=[
                "cred_id",
                "traveller_id",
                "generation",
                "suffix_secret",
                "issued_at",
                "expires_at",
            ],
        )
        # the gate's lookup from a code's cred_id to its traveller (migration 0075)
        await conn.copy_records_to_table(
            "credential_ids",
            records=list(zip(creds, ids, strict=True)),
            columns=["cred_id", "traveller_id"],
        )
    finally:
        await conn.close()
    key = KeyStore(data_dir=data_dir).signing_key
    nb, exp = int(now.timestamp()) - 300, int((now + timedelta(days=30)).timestamp())
    return [issue(Credential(key.kid, c, 1, nb, exp), key) for c in creds]


async def scan_clock(n: int) -> tuple[datetime, timedelta]:
    """The end of the scans' times and the step between them: a second apart, but all
    within the venue's current local day. An entry and its exit on either side of local
    midnight are two days' presence, and the exit is rightly refused (``not_inside``):
    one such pair failed the mix check whenever the run's window crossed midnight."""
    while True:
        now = datetime.now(UTC)
        midnight = datetime.now(ZoneInfo(VENUE_TZ)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        step = min(timedelta(seconds=1), (now - midnight.astimezone(UTC)) / (n + 1))
        if step >= timedelta(milliseconds=1):
            return now, step
        await asyncio.sleep(1)  # just past midnight: wait for room in the day


async def raw_baseline(
    dsn: str, gate_id: uuid.UUID, venue_id: uuid.UUID, scans: list[dict[str, Any]], batch: int
) -> float:
    """The same rows, raw: executemany into a copy of scans, one transaction per batch."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "DROP TABLE IF EXISTS bench_raw_scans; "
            "CREATE TABLE bench_raw_scans (LIKE scans INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        rows = [
            (
                gate_id,
                uuid.UUID(x["scan_id"]),
                venue_id,
                x["direction"],
                x["decision"],
                x["reason"],
                x["party_size"],
                datetime.fromisoformat(x["scanned_at"]),
                i,
            )
            for i, x in enumerate(scans)
        ]
        sql = (
            "INSERT INTO bench_raw_scans (gate_id, scan_id, venue_id, direction, decision, "
            "reason, party_size, device_time, offline, seq) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, $9)"
        )
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            async with conn.transaction():
                await conn.executemany(sql, rows[i : i + batch])
        return len(rows) / (time.perf_counter() - t0)
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="onecode-bench-"))
    embedded = None
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        embedded = EmbeddedPostgres(tmp / "db", cleanup="delete")
        dsn = embedded.start()
    print(f"onecode offline upload benchmark: {durability(args.unsafe_fast)}")
    result = Result(
        "offline",
        f"POST /v1/gate/scans/batch, {args.scans} scans in batches of {args.batch} over "
        "loopback HTTP; baseline: raw asyncpg executemany of the same rows into a copy of "
        "the scans table, same run",
        {
            "durability": durability(args.unsafe_fast),
            "scans": args.scans,
            "batch": args.batch,
            "travellers": args.travellers,
            "postgres": await apply_durability(dsn, args.unsafe_fast),
        },
    )
    await migrate(dsn)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "ONECODE_ADMIN_TOKEN": ADMIN,
        "ONECODE_RATE_LIMIT": "off",
        "ONECODE_LOG_LEVEL": "WARNING",
        "ONECODE_DATA_DIR": str(tmp / "data"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "onecode", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            for _ in range(200):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            h = {"Authorization": f"Bearer {ADMIN}"}
            await http.post(
                "/v1/admin/regions", json={"code": "CN-GZ", "name": "Guizhou"}, headers=h
            )
            venue = (
                await http.post(
                    "/v1/admin/venues",
                    headers=h,
                    json={
                        "region_code": "CN-GZ",
                        "name": "Huangguoshu",
                        "kind": "scenic_area",
                        "gated": True,
                        "requires_booking": False,
                        "entry_rule": "reentry",
                        "capacity_instant": 1_000_000,
                        "capacity_daily": 10_000_000,
                        "timezone": VENUE_TZ,
                    },
                )
            ).json()
            gate = (
                await http.post(
                    f"/v1/admin/venues/{venue['id']}/gates", json={"name": "g"}, headers=h
                )
            ).json()
            codes = await setup(dsn, args.travellers, tmp / "data")
            now, step = await scan_clock(args.scans)
            scans = []
            for i in range(args.scans):
                code = codes[(i // 2) % len(codes)]
                scans.append(
                    {
                        "scan_id": str(uuid.uuid4()),
                        "code": code,
                        "direction": "in" if i % 2 == 0 else "out",
                        "scanned_at": (now - step * (args.scans - i)).isoformat(),
                        "decision": "accept",
                        "reason": "ok",
                        "party_size": 1,
                    }
                )
            gh = {"Authorization": f"Bearer {gate['token']}"}
            # bodies are encoded before the clock starts: a gate's queue has them ready,
            # and the client's encoding is not the server's work
            bodies = [
                msgspec.json.encode({"scans": scans[i : i + args.batch]})
                for i in range(0, len(scans), args.batch)
            ]
            gh["Content-Type"] = "application/json"
            raw = await raw_baseline(
                dsn, uuid.UUID(gate["id"]), uuid.UUID(venue["id"]), scans, args.batch
            )
            print(f"{'baseline: raw executemany':32s} {len(scans):7d} rows  {raw:9.0f} rows/s")
            for label, claimed in (
                ("first upload", "recorded"),
                ("second upload (all duplicate)", "duplicate"),
            ):
                counts: dict[str, int] = {}
                t0 = time.perf_counter()
                for body in bodies:
                    r = await http.post("/v1/gate/scans/batch", content=body, headers=gh)
                    r.raise_for_status()
                    for x in msgspec.json.decode(r.content)["results"]:
                        counts[x["status"]] = counts.get(x["status"], 0) + 1
                dt = time.perf_counter() - t0
                rate = len(scans) / dt
                print(
                    f"{label:32s} {len(scans):7d} scans  {dt:6.2f} s  "
                    f"{rate:9.0f} scans/s = {ratio(rate, raw)} of raw executemany"
                )
                if not check_mix(label, counts, claimed, len(scans), len(scans)):
                    result.failed_check()
                result.row(
                    scenario=label,
                    scans_per_s=round(rate, 1),
                    seconds=round(dt, 2),
                    statuses=counts,
                    baseline_per_s=round(raw, 1),
                    ratio_to_baseline=ratio(rate, raw),
                )
            result.write(args.out)
    finally:
        server.terminate()
        server.wait(timeout=20)
        if embedded is not None:
            embedded.stop()

    return 0 if result.ok else 3


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--scans", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=1_000)
    p.add_argument("--travellers", type=int, default=20_000)
    add_common_args(p, "offline")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
