"""Benchmark: offline batch upload of 100,000 scans in batches of 1,000 on loopback.

Starts its own embedded PostgreSQL (or uses DATABASE_URL) and `onecode serve` in a
subprocess, bulk-creates travellers with credentials (bench setup only), signs their
codes with the server's own key, then uploads. Prints scans/s for the first upload
and for a second, all-duplicate upload of the same scans.

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

import asyncpg
import httpx
import msgspec

from onecode.codes import Credential, KeyStore, issue
from onecode.devdb import EmbeddedPostgres
from onecode.migrate import migrate
from tests.support.postgres import FAST_UNSAFE

ADMIN = "oc_admin_bench-" + secrets.token_urlsafe(24)


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
    finally:
        await conn.close()
    key = KeyStore(data_dir=data_dir).signing_key
    nb, exp = int(now.timestamp()) - 300, int((now + timedelta(days=30)).timestamp())
    return [issue(Credential(key.kid, c, 1, nb, exp), key) for c in creds]


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="onecode-bench-"))
    embedded = None
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        embedded = EmbeddedPostgres(tmp / "db", cleanup="delete")
        dsn = embedded.start()
        c = await asyncpg.connect(dsn)
        for k, v in FAST_UNSAFE.items():
            await c.execute(f"ALTER SYSTEM SET {k} = '{v}'")
        await c.execute("SELECT pg_reload_conf()")
        await c.close()
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
                    },
                )
            ).json()
            gate = (
                await http.post(
                    f"/v1/admin/venues/{venue['id']}/gates", json={"name": "g"}, headers=h
                )
            ).json()
            codes = await setup(dsn, args.travellers, tmp / "data")
            now = datetime.now(UTC)
            scans = []
            for i in range(args.scans):
                code = codes[(i // 2) % len(codes)]
                scans.append(
                    {
                        "scan_id": str(uuid.uuid4()),
                        "code": code,
                        "direction": "in" if i % 2 == 0 else "out",
                        "scanned_at": (now - timedelta(seconds=args.scans - i)).isoformat(),
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
            for label in ("first upload", "second upload (all duplicate)"):
                counts: dict[str, int] = {}
                t0 = time.perf_counter()
                for body in bodies:
                    r = await http.post("/v1/gate/scans/batch", content=body, headers=gh)
                    r.raise_for_status()
                    for x in msgspec.json.decode(r.content)["results"]:
                        counts[x["status"]] = counts.get(x["status"], 0) + 1
                dt = time.perf_counter() - t0
                print(
                    f"{label:32s} {len(scans):7d} scans  {dt:6.2f} s  "
                    f"{len(scans) / dt:9.0f} scans/s  {counts}"
                )
    finally:
        server.terminate()
        server.wait(timeout=20)
        if embedded is not None:
            embedded.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--scans", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=1_000)
    p.add_argument("--travellers", type=int, default=20_000)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
