"""Benchmark the online gate hot path, ``POST /v1/gate/scans``, with wrk.

Starts its own embedded PostgreSQL and ``onecode serve`` (uvicorn, one worker) in a
subprocess on a free port, builds a booked venue with several gates, bulk-inserts N
travellers with credentials and bookings (direct SQL: BENCH SETUP ONLY; the API path
is too slow for 20,000 registrations), signs their codes with the server's own key
(read from the data folder's KeyStore), then loads the endpoint with wrk at
concurrency 1, 16 and 64, every request a distinct first-entry scan of a distinct
code with a fresh scan id. Prints scans/s, p50/p99 latency and the accept count.

Run from the repository root (needs ``wrk``: ``apt-get install -y wrk``):

    PYTHONPATH=. python bench/bench_gates.py [--travellers 20000] [--duration 8] [--pool-max 20]

Not a test. ``--fast`` turns off fsync/synchronous_commit (throwaway cluster only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
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

from onecode.codes import Credential, KeyStore, issue, screenshot_suffix
from onecode.pg import FAST_UNSAFE, EmbeddedPostgres

ADMIN = "oc_admin_bench-token-000000000000000000000000000000"
GATES = 64  # a gate device scans one person at a time: one gate per connection

LUA = r"""
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  codes = {}
  for line in io.lines(args[1]) do codes[#codes + 1] = line end
  lo = tonumber(args[2]); hi = tonumber(args[3]); nthreads = tonumber(args[4])
  tokens = {}
  for i = 5, #args do tokens[#tokens + 1] = "Bearer " .. args[i] end
  tok = id
  idx = lo + id
  accepts = 0; rejects = 0; errors = 0
  math.randomseed(os.time() * 1000 + id * 7919)
  headers = {}
  headers["Content-Type"] = "application/json"
end

local function uuid4()
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    math.random(0, 0xffff), math.random(0, 0xffff), math.random(0, 0xffff),
    math.random(0, 0xfff), math.random(0x8000, 0xbfff),
    math.random(0, 0xffff), math.random(0, 0xffff), math.random(0, 0xffff))
end

function request()
  local code = codes[idx]
  idx = idx + nthreads
  if idx > hi then idx = lo + id end
  -- the gates take turns, as 64 devices each scanning one person at a time would
  tok = tok % #tokens + 1
  headers["Authorization"] = tokens[tok]
  local body = '{"code":"' .. code .. '","direction":"in","scan_id":"' .. uuid4() ..
               '","scanned_at":"' .. os.date("!%Y-%m-%dT%H:%M:%SZ") .. '"}'
  return wrk.format("POST", "/v1/gate/scans", headers, body)
end

function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  elseif string.find(body, '"decision":"accept"', 1, true) then
    accepts = accepts + 1
  else
    rejects = rejects + 1
  end
end

function done(summary, latency, requests)
  local a, r, e = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepts"); r = r + t:get("rejects"); e = e + t:get("errors")
  end
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"accepts":%d,' ..
    '"rejects":%d,"errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    a, r, e, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
"""

BASELINE_LUA = r"""
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  local id = string.format("%08x-%04x-4%03x-%04x-%012x", math.random(0, 0x7fffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), math.random(0x8000, 0xbfff),
    math.random(0, 0x7fffffff) * 65536 + math.random(0, 0xffff))
  return wrk.format(nil, "/baseline", nil, '{"id":"' .. id .. '"}')
end
function done(summary, latency, requests)
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""


def run_baseline(dsn: str, base: Path, conns: int, secs: int, pool_max: int) -> dict[str, int]:
    """The bare INSERT+SELECT transaction endpoint, loaded like the gate endpoint."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.baseline_app",
            "--dsn",
            dsn,
            "--port",
            str(port),
            "--pool-max",
            str(pool_max),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.post(url + "/baseline", json={"id": str(uuid.uuid4())}, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        script = base / "baseline.lua"
        script.write_text(BASELINE_LUA)
        cmd = ["wrk", "-t2", f"-c{conns}", f"-d{secs}s", "--timeout", "5s", "-s", str(script), url]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        return dict(json.loads(line[len("RESULT ") :]))
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def _gate_id(dsn: str, venue_id: str) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        gid = await conn.fetchval("SELECT id FROM gates WHERE venue_id = $1 LIMIT 1", venue_id)
        return uuid.UUID(str(gid))
    finally:
        await conn.close()


def b45(suffix: str) -> bytes:
    """The 4 raw bytes of a `*`-prefixed suffix, as the server passes them to gate_scan."""
    import base45

    raw: bytes = base45.b45decode(suffix[1:])
    return raw


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def bulk_setup(dsn: str, venue_id: uuid.UUID, n: int) -> list[tuple[bytes, datetime, bytes]]:
    """BENCH SETUP ONLY: travellers, credentials, one wide slot and a booking each."""
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        issued = now - timedelta(minutes=1)
        expires = now + timedelta(days=30)
        ids = [uuid.uuid4() for _ in range(n)]
        creds = [secrets.token_bytes(16) for _ in range(n)]
        suffix_secrets = [secrets.token_bytes(32) for _ in range(n)]
        slot_id = uuid.uuid4()
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO travellers (id) SELECT unnest($1::uuid[])",
                ids,
            )
            await conn.execute(
                "INSERT INTO credentials (cred_id, traveller_id, suffix_secret, issued_at, "
                "expires_at) SELECT c, t, k, $3, $4 "
                "FROM unnest($1::bytea[], $2::uuid[], $5::bytea[]) AS u (c, t, k)",
                creds,
                ids,
                issued,
                expires,
                suffix_secrets,
            )
            await conn.execute(
                "INSERT INTO slots (id, venue_id, starts_at, ends_at, capacity, booked) "
                "VALUES ($1, $2, $3, $4, $5, $5)",
                slot_id,
                venue_id,
                now - timedelta(minutes=20),
                now + timedelta(hours=3),
                n,
            )
            await conn.execute(
                "INSERT INTO bookings (id, traveller_id, slot_id, venue_id, party_size, "
                "starts_at, ends_at, local_day) "
                "SELECT gen_random_uuid(), t, s.id, s.venue_id, 1, s.starts_at, s.ends_at, "
                "(s.starts_at AT TIME ZONE 'Asia/Shanghai')::date "
                "FROM unnest($1::uuid[]) AS t, slots s WHERE s.id = $2",
                ids,
                slot_id,
            )
        await conn.execute("ANALYZE")
        return [(c, issued) for c in creds]
    finally:
        await conn.close()


async def db_only(
    dsn: str,
    gate_id: uuid.UUID,
    venue_id: uuid.UUID,
    creds: list[tuple[bytes, str | None, bytes | None]],
    conns: int,
    secs: float,
) -> tuple[float, float, float]:
    """gate_scan alone over asyncpg (no HTTP, no signature check): scans/s, p50, p99 ms."""
    pool = await asyncpg.create_pool(dsn, min_size=conns, max_size=conns)
    assert pool is not None
    sql = "SELECT * FROM gate_scan($1, $2, $3, 'in', now(), 'ok', $4, 1, $5, $6)"
    latencies: list[float] = []
    todo = iter(creds)
    end = time.perf_counter() + secs

    async def worker() -> None:
        async with pool.acquire() as c:
            for cred, body, suffix in todo:
                if time.perf_counter() > end:
                    return
                t = time.perf_counter()
                await c.fetchrow(sql, gate_id, venue_id, uuid.uuid4(), cred, body, suffix)
                latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    took = time.perf_counter() - start
    await pool.close()
    latencies.sort()
    return (
        len(latencies) / took,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
    )


def run_wrk(
    url: str,
    script: Path,
    codes_file: Path,
    lo: int,
    hi: int,
    conns: int,
    secs: int,
    tokens: list[str],
) -> dict[str, int]:
    threads = min(2, conns)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{secs}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
        "--",
        str(codes_file),
        str(lo),
        str(hi),
        str(threads),
        *tokens,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    raise RuntimeError(f"wrk gave no result:\n{out}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--travellers", type=int, default=20_000)
    p.add_argument("--duration", type=int, default=8)
    p.add_argument("--pool-max", type=int, default=20)
    p.add_argument("--concurrency", default="1,16,64")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--fast", action="store_true", help="fsync off (throwaway cluster)")
    p.add_argument(
        "--static",
        action="store_true",
        help="venue relaxes the live-code rule; codes without suffix (the before figure)",
    )
    args = p.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2

    base = Path(tempfile.mkdtemp(prefix="onecode-bench-gates-"))
    pg = EmbeddedPostgres(base / "pg", cleanup="delete")
    server: subprocess.Popen[bytes] | None = None
    try:
        dsn = pg.start()
        if args.fast:

            async def fast() -> None:
                c = await asyncpg.connect(dsn)
                for k, v in FAST_UNSAFE.items():
                    await c.execute(f"ALTER SYSTEM SET {k} = '{v}'")
                await c.execute("SELECT pg_reload_conf()")
                await c.close()

            asyncio.run(fast())
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "ONECODE_ADMIN_TOKEN": ADMIN,
            "ONECODE_RATE_LIMIT": "off",
            "ONECODE_POOL_MAX": str(args.pool_max),
            "ONECODE_POOL_MIN": str(args.pool_max),
            "ONECODE_LOG_LEVEL": "WARNING",
        }
        data_dir = base / "data"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "onecode",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        admin = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(200):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("server did not start")
            http.post("/v1/admin/regions", json={"code": "CN-GZ", "name": "Guizhou"}, headers=admin)
            venue = http.post(
                "/v1/admin/venues",
                json={
                    "region_code": "CN-GZ",
                    "name": "Huangguoshu",
                    "kind": "scenic_area",
                    "gated": True,
                    "requires_booking": True,
                    "entry_rule": "single",
                    "capacity_instant": 1_000_000,
                    "capacity_daily": 1_000_000,
                    "occupancy_cap_pct": 80,
                    # the product default at a gated venue: a live (30 s) code is required
                    "live_code_required": not args.static,
                },
                headers=admin,
            ).json()
            tokens = [
                http.post(
                    f"/v1/admin/venues/{venue['id']}/gates", json={"name": f"g{i}"}, headers=admin
                ).json()["token"]
                for i in range(GATES)
            ]
            t0 = time.perf_counter()
            creds = asyncio.run(bulk_setup(dsn, uuid.UUID(venue["id"]), args.travellers))
            setup_s = time.perf_counter() - t0
            key = KeyStore(data_dir=data_dir, create_if_missing=False).signing_key
            exp = int((datetime.now(UTC) + timedelta(days=30)).timestamp()) - 60
            bodies = [
                issue(Credential(key.kid, c, 1, int(at.timestamp()), exp), key)
                for c, at, _ in creds
            ]
            secrets_of = {b: k for b, (_, _, k) in zip(bodies, creds, strict=True)}

            def shown(batch: list[str]) -> list[str]:
                """What the phones show now: the live suffix of this 30 s step."""
                if args.static:
                    return batch
                now = time.time()
                return [b + screenshot_suffix(b, secrets_of[b], now) for b in batch]

            codes = shown(bodies)
            # sanity: one scan through the real endpoint
            r = http.post(
                "/v1/gate/scans",
                json={
                    "code": codes[-1],
                    "direction": "in",
                    "scan_id": str(uuid.uuid4()),
                    "scanned_at": datetime.now(UTC).isoformat(),
                },
                headers={"Authorization": f"Bearer {tokens[0]}"},
            )
            assert r.status_code == 200 and r.json()["decision"] == "accept", r.text
        codes_file = base / "codes.txt"
        reserve = min(3000, len(codes) // 5)  # fresh codes for the database-only run
        wrk_codes = bodies[: -reserve - 1]
        script = base / "scans.lua"
        script.write_text(LUA)

        levels = [int(c) for c in args.concurrency.split(",")]
        n = len(wrk_codes)
        weights = [c**0.5 for c in levels]  # more codes to busier runs
        share = [max(1, int(n * w / sum(weights))) for w in weights]
        print(f"setup: {args.travellers} travellers+credentials+bookings in {setup_s:.1f}s")
        head = ("conc", "scans/s", "p50 ms", "p99 ms", "accept", "reject", "err")
        print("{:>5} {:>9} {:>8} {:>8} {:>8} {:>7} {:>5}".format(*head))
        lo = 1
        for c, size in zip(levels, share, strict=True):
            hi = lo + size - 1
            # fresh suffixes just before each run (a run is shorter than one step either side)
            codes_file.write_text("\n".join(shown(wrk_codes)) + "\n")
            res = run_wrk(url, script, codes_file, lo, hi, c, args.duration, tokens)
            rate = res["requests"] / (res["duration_us"] / 1e6)
            print(
                f"{c:>5} {rate:>9.0f} {res['p50_us'] / 1000:>8.1f} {res['p99_us'] / 1000:>8.1f} "
                f"{res['accepts']:>8} {res['rejects']:>7} "
                f"{res['errors'] + res['socket_errors']:>5}",
                flush=True,
            )
            lo = hi + 1
        base_res = run_baseline(dsn, base, 64, args.duration, args.pool_max)
        base_rate = base_res["requests"] / (base_res["duration_us"] / 1e6)
        print(
            f"baseline INSERT+SELECT transaction endpoint, c=64: {base_rate:.0f}/s, "
            f"p50 {base_res['p50_us'] / 1000:.1f} ms, p99 {base_res['p99_us'] / 1000:.1f} ms; "
            f"gate scans at c=64 reach {100 * rate / base_rate:.0f}% of it",
            flush=True,
        )
        # the database function alone, on codes not used above (fresh first entries)
        spare: list[tuple[bytes, str | None, bytes | None]] = []
        now = time.time()
        for (cred_id, _, secret), body in zip(
            creds[-reserve - 1 : -1], bodies[-reserve - 1 : -1], strict=True
        ):
            mac = None if args.static else screenshot_suffix(body, secret, now)
            spare.append(
                (cred_id, None if mac is None else body, None if mac is None else b45(mac))
            )
        gate_id = asyncio.run(_gate_id(dsn, venue["id"]))
        rate, p50, p99 = asyncio.run(
            db_only(dsn, gate_id, uuid.UUID(venue["id"]), spare, 16, args.duration / 2)
        )
        print(
            f"gate_scan() alone over 16 asyncpg connections: {rate:.0f}/s, p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms"
        )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
