"""Benchmark the online gate hot path, ``POST /v1/gate/scans``, with wrk.

Starts its own embedded PostgreSQL (durable commits unless ``--unsafe-fast``) and
``onecode serve`` (uvicorn) on a free port, builds a booked venue with gates,
bulk-inserts travellers with credentials and bookings (direct SQL: BENCH SETUP ONLY),
signs their codes with the server's own key and adds the live suffix a phone shows,
then loads the endpoint with wrk per scenario (concurrency x gate tokens). Every
request is a first entry of a distinct code: wrk counts any code it had to re-send,
and the database's own decision mix must be all ``accept/ok`` or the run exits 3.
The bare-stack baseline (bench/baseline_app.py) runs in the same process tree before
and after; each figure is printed beside its ratio to the baseline. Writes
bench/results/gates.json.

Run from the repository root (needs ``wrk``: ``apt-get install -y wrk``):

    python -m bench.bench_gates [--duration 8] [--scenarios 1:1,16:16,64:64,64:1]
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
from typing import Any

import asyncpg
import base45
import httpx

from bench.common import Result, add_common_args, apply_durability, check_mix, durability, ratio
from onecode.codes import BODY_LEN, Credential, KeyStore, issue, screenshot_suffix
from onecode.devdb import EmbeddedPostgres

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
  accepts = 0; rejects = 0; errors = 0; reused = 0
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
  if idx > hi then
    -- out of fresh codes: what follows are re-scans, counted so the run fails its check
    idx = lo + id
    reused = reused + 1
  end
  if reused > 0 then reused = reused + 1 end
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
  local a, r, e, u = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepts"); r = r + t:get("rejects"); e = e + t:get("errors")
    u = u + t:get("reused")
  end
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"accepts":%d,' ..
    '"rejects":%d,"errors":%d,"reused":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    a, r, e, u, summary.errors.connect + summary.errors.read + summary.errors.write +
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def bulk_setup(dsn: str, venue_id: uuid.UUID, n: int) -> list[tuple[bytes, bytes, datetime]]:
    """BENCH SETUP ONLY: travellers, credentials, one wide slot and a booking each.
    Returns (cred_id, suffix secret, issued_at) per traveller."""
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
                "expires_at) SELECT c, t, k, $4, $5 "
                "FROM unnest($1::bytea[], $2::uuid[], $3::bytea[]) AS u (c, t, k)",
                creds,
                ids,
                suffix_secrets,
                issued,
                expires,
            )
            # the gate's lookup from a code's cred_id to its traveller (migration 0075)
            await conn.execute(
                "INSERT INTO credential_ids (cred_id, traveller_id) "
                "SELECT unnest($1::bytea[]), unnest($2::uuid[])",
                creds,
                ids,
            )
            await conn.execute(
                "INSERT INTO slots (id, venue_id, starts_at, ends_at) VALUES ($1, $2, $3, $4)",
                slot_id,
                venue_id,
                now - timedelta(minutes=20),
                now + timedelta(hours=3),
            )
            await conn.execute(
                "INSERT INTO slot_counters (venue_id, slot_id, capacity, booked)"
                " VALUES ($1, $2, $3, $3)",
                venue_id,
                slot_id,
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
        return [(c, k, issued) for c, k in zip(creds, suffix_secrets, strict=True)]
    finally:
        await conn.close()


async def decision_mix(dsn: str, since: datetime) -> dict[str, int]:
    """What the database recorded for the scans of one run: 'decision/reason' -> count."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT decision || '/' || reason AS d, count(*) AS n FROM scans "
            "WHERE server_time >= $1 AND NOT offline GROUP BY 1",
            since,
        )
        return {r["d"]: int(r["n"]) for r in rows}
    finally:
        await conn.close()


async def db_only(
    dsn: str,
    venue_id: uuid.UUID,
    creds: list[tuple[uuid.UUID, bytes, str, bytes | None]],
    conns: int,
    secs: float,
) -> tuple[float, float, float]:
    """gate_scan alone over asyncpg (no HTTP, no signature check; the live suffix's HMAC
    is checked, in SQL), each scan its own transaction: scans/s, p50, p99 ms.
    ``creds``: (gate_id, cred_id, body, suffix bytes)."""
    pool = await asyncpg.create_pool(dsn, min_size=conns, max_size=conns)
    assert pool is not None
    sql = "SELECT * FROM gate_scan($1, $2, $3, 'in', now(), 'ok', $4, 1, $5, $6)"
    latencies: list[float] = []
    todo = iter(creds)
    end = time.perf_counter() + secs

    async def worker() -> None:
        async with pool.acquire() as c:
            for gate_id, cred, body, suffix in todo:
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


def _scenarios(text: str) -> list[tuple[int, int]]:
    """``"1:1,64:64,64:1"`` -> [(concurrency, gates), ...]."""
    out = []
    for part in text.split(","):
        conc, _, gates = part.partition(":")
        out.append((int(conc), int(gates or conc)))
    return out


def _live_codes(
    key: Any, creds: list[tuple[bytes, bytes, datetime]], expires_unix: int
) -> list[str]:
    """Each traveller's code as the phone shows it now: TQ1 body + the live suffix
    (``--static``: the body alone, at a venue that relaxes the live-code rule)."""
    now = time.time()
    out = []
    for cred, secret, at in creds:
        body = issue(Credential(key.kid, cred, 1, int(at.timestamp()), expires_unix), key)
        out.append(body if STATIC else body + screenshot_suffix(body, secret, now))
    return out


#: --static: codes without suffix at a venue with live_code_required false (the figure
#: without the suffix check, to compare against)
STATIC = False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--travellers", type=int, help="codes to make (default: enough for the run)")
    p.add_argument("--duration", type=int, default=8, help="seconds per scenario")
    p.add_argument("--pool-max", type=int, default=20)
    p.add_argument(
        "--scenarios",
        default="1:1,16:16,64:64,64:1",
        help="concurrency:gates pairs (64:1 = 64 connections sharing one gate token)",
    )
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    add_common_args(p, "gates")
    p.add_argument(
        "--static",
        action="store_true",
        help="codes without suffix, venue live_code_required=false (no suffix check)",
    )
    args = p.parse_args()
    global STATIC
    STATIC = args.static
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    scenarios = _scenarios(args.scenarios)
    # fresh codes for every request: a generous ceiling per scenario (the check below
    # fails the run if wrk ever had to re-send a code)
    need = [(900 if c == 1 else 3000) * args.duration for c, _ in scenarios]
    reserve = 3000  # for the database-only run
    # + 1: the last traveller is the probe scanned before the runs
    travellers = args.travellers or sum(need) + reserve + 1
    print(f"onecode gate benchmark: {durability(args.unsafe_fast)}")
    result = Result(
        "gates",
        "POST /v1/gate/scans over HTTP (wrk), every request a first entry of a distinct "
        "booked traveller with a live code; baseline: bare Litestar+asyncpg INSERT+SELECT "
        "transaction endpoint at c=64, same run",
        {
            "durability": durability(args.unsafe_fast),
            "duration_s": args.duration,
            "pool_max": args.pool_max,
            "workers": args.workers,
            "travellers": travellers,
        },
    )

    base = Path(tempfile.mkdtemp(prefix="onecode-bench-gates-"))
    pg = EmbeddedPostgres(base / "pg", cleanup="delete")
    server: subprocess.Popen[bytes] | None = None
    try:
        dsn = pg.start()
        result.doc["settings"]["postgres"] = asyncio.run(apply_durability(dsn, args.unsafe_fast))
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
                    "live_code_required": not args.static,
                    "requires_booking": True,
                    "entry_rule": "single",
                    "capacity_instant": 1_000_000,
                    "capacity_daily": 1_000_000,
                    "occupancy_cap_pct": 80,
                },
                headers=admin,
            ).json()
            tokens = [
                http.post(
                    f"/v1/admin/venues/{venue['id']}/gates", json={"name": f"g{i}"}, headers=admin
                ).json()["token"]
                for i in range(max(g for _, g in scenarios))
            ]
            t0 = time.perf_counter()
            creds = asyncio.run(bulk_setup(dsn, uuid.UUID(venue["id"]), travellers))
            setup_s = time.perf_counter() - t0
            key = KeyStore(data_dir=data_dir, create_if_missing=False).signing_key
            exp = int((datetime.now(UTC) + timedelta(days=30)).timestamp()) - 60
            # sanity: one scan through the real endpoint
            probe = _live_codes(key, creds[-1:], exp)[0]
            r = http.post(
                "/v1/gate/scans",
                json={
                    "code": probe,
                    "direction": "in",
                    "scan_id": str(uuid.uuid4()),
                    "scanned_at": datetime.now(UTC).isoformat(),
                },
                headers={"Authorization": f"Bearer {tokens[0]}"},
            )
            assert r.status_code == 200 and r.json()["decision"] == "accept", r.text
        script = base / "scans.lua"
        script.write_text(LUA)
        print(f"setup: {travellers} travellers+credentials+bookings in {setup_s:.1f}s")

        baselines = [run_baseline(dsn, base, 64, args.duration, args.pool_max)]
        head = ("conc", "gates", "scans/s", "p50 ms", "p99 ms", "accept", "reject", "err")
        print("{:>5} {:>5} {:>9} {:>8} {:>8} {:>8} {:>7} {:>5}".format(*head))
        measured = []
        lo = 0
        for (conc, gates), size in zip(scenarios, need, strict=True):
            chunk = creds[lo : lo + size]
            lo += size
            codes_file = base / "codes.txt"
            codes_file.write_text("\n".join(_live_codes(key, chunk, exp)) + "\n")
            since = datetime.now(UTC)
            res = run_wrk(
                url, script, codes_file, 1, len(chunk), conc, args.duration, tokens[:gates]
            )
            rate = res["requests"] / (res["duration_us"] / 1e6)
            print(
                f"{conc:>5} {gates:>5} {rate:>9.0f} {res['p50_us'] / 1000:>8.1f} "
                f"{res['p99_us'] / 1000:>8.1f} {res['accepts']:>8} {res['rejects']:>7} "
                f"{res['errors'] + res['socket_errors']:>5}",
                flush=True,
            )
            mix = asyncio.run(decision_mix(dsn, since))
            if res["reused"]:
                mix["re-sent code (not a first entry)"] = res["reused"]
            if res["errors"] or res["socket_errors"]:
                mix["http error"] = res["errors"] + res["socket_errors"]
            in_flight = conc  # completed by the server after wrk's deadline
            label = f"c={conc} gates={gates}"
            if not check_mix(label, mix, "accept/ok", res["requests"], res["requests"] + in_flight):
                result.failed_check()
            measured.append((conc, gates, rate, res, mix))
        baselines.append(run_baseline(dsn, base, 64, args.duration, args.pool_max))
        base_rates = [b["requests"] / (b["duration_us"] / 1e6) for b in baselines]
        base_rate = sum(base_rates) / len(base_rates)
        print(
            "baseline INSERT+SELECT transaction endpoint, c=64, before/after: "
            + " / ".join(f"{b:.0f}/s" for b in base_rates)
        )
        for conc, gates, rate, res, mix in measured:
            rel = ratio(rate, base_rate)
            print(f"  c={conc} gates={gates}: {rate:.0f} scans/s = {rel} of the baseline")
            result.row(
                scenario=f"c={conc}, {gates} gate{'s' if gates > 1 else ''}",
                concurrency=conc,
                gates=gates,
                scans_per_s=round(rate, 1),
                p50_ms=round(res["p50_us"] / 1000, 1),
                p99_ms=round(res["p99_us"] / 1000, 1),
                decisions=mix,
                baseline_per_s=round(base_rate, 1),
                ratio_to_baseline=rel,
            )
        result.doc["baseline"] = [
            {
                "per_s": round(r, 1),
                "p50_ms": round(b["p50_us"] / 1000, 1),
                "p99_ms": round(b["p99_us"] / 1000, 1),
            }
            for r, b in zip(base_rates, baselines, strict=True)
        ]
        # the database function alone, on codes not used above (fresh first entries)
        # each as a phone shows it now: the body and the raw bytes of the live suffix
        gate_id = asyncio.run(_gate_id(dsn, venue["id"]))
        spare = [
            (
                gate_id,
                c,
                shown[:BODY_LEN],
                base45.b45decode(shown[BODY_LEN + 1 :]) if not STATIC else None,
            )
            for (c, _, _), shown in zip(
                creds[lo : lo + reserve],
                _live_codes(key, creds[lo : lo + reserve], exp),
                strict=True,
            )
        ]
        since = datetime.now(UTC)
        rate, p50, p99 = asyncio.run(
            db_only(dsn, uuid.UUID(venue["id"]), spare, 16, args.duration / 2)
        )
        mix = asyncio.run(decision_mix(dsn, since))
        print(
            f"gate_scan() alone over 16 asyncpg connections: {rate:.0f}/s, p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms"
        )
        if not check_mix("gate_scan() alone", mix, "accept/ok", 1, len(spare)):
            result.failed_check()
        result.row(
            scenario="gate_scan() alone, 16 asyncpg connections (no HTTP)",
            concurrency=16,
            scans_per_s=round(rate, 1),
            p50_ms=round(p50, 1),
            p99_ms=round(p99, 1),
            decisions=mix,
        )
        result.write(args.out)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0 if result.ok else 3


if __name__ == "__main__":
    raise SystemExit(main())
