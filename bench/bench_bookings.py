"""Benchmark bookings over HTTP: one hot slot, then many slots; checks zero oversell.

Starts ``onecode serve`` (embedded PostgreSQL, or ``DATABASE_URL``) in a subprocess on a
free loopback port with ONECODE_RATE_LIMIT=off, builds a venue, slots and travellers
through the API, then fires ``POST /v1/bookings`` at concurrency 64 with ``wrk`` (a Lua
script rotating tokens, slots and party sizes 1..4), or with httpx when wrk is missing.
Prints bookings/s, p50/p99 ms, and compares the places taken (sum of every traveller's
own bookings) with each slot's ``capacity - remaining``.

Run from the repository root: ``python -m bench.bench_bookings [seconds]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bench.common import Result, add_common_args, durability

ADMIN_TOKEN = "oc_admin_bench-" + "0" * 40
CONCURRENCY = 64
TRAVELLERS = 1500

LUA = r"""
local lines = {}
for line in io.lines(os.getenv("BENCH_PLAN")) do lines[#lines + 1] = line end
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  ok, full, other = 0, 0, 0
  counter = tonumber(wrk.thread:get("id")) * 7919
end
function request()
  counter = counter + 1
  local token, slot, party = lines[(counter % #lines) + 1]:match("(%S+) (%S+) (%S+)")
  return wrk.format("POST", "/v1/bookings",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"},
    '{"slot_id":"' .. slot .. '","party_size":' .. party .. '}')
end
function response(status, headers, body)
  if status == 201 then ok = ok + 1
  elseif status == 409 then full = full + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("ok"); b = b + t:get("full"); c = c + t:get("other")
  end
  io.write(string.format("STATUS ok=%d conflict=%d other=%d\n", a, b, c))
  io.write(string.format("LAT p50=%.2f p99=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


# `onecode serve`
_SERVE = """
import sys
from onecode import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(
        os.environ,
        ONECODE_RATE_LIMIT="off",
        ONECODE_ADMIN_TOKEN=ADMIN_TOKEN,
        ONECODE_LOG_LEVEL="WARNING",
        ONECODE_POOL_MAX="10",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, "serve", "--port", str(port), "--data-dir", str(tmp)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "server.log", "wb"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("server exited: " + (tmp / "server.log").read_text()[-2000:])
        time.sleep(0.3)
    raise SystemExit("server did not become ready")


async def build(base: str) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        await c.post("/v1/admin/regions", json={"code": "CN-GZ", "name": "Guizhou"}, headers=admin)
        venue = (
            await c.post(
                "/v1/admin/venues",
                headers=admin,
                json={
                    "region_code": "CN-GZ",
                    "name": "Bench Falls",
                    "kind": "scenic_area",
                    "gated": True,
                    "requires_booking": True,
                    "entry_rule": "single",
                    "capacity_instant": 1_000_000,
                    "capacity_daily": 10_000_000,
                    "bookings_per_day": 100,
                    "max_party_size": 10,
                },
            )
        ).json()
        op = (
            await c.post(
                "/v1/admin/operators",
                headers=admin,
                json={"name": "bench", "venue_ids": [venue["id"]]},
            )
        ).json()
        # 09:00 Asia/Shanghai, the day after tomorrow: the hot slot, then 5-minute slots
        start = (datetime.now(UTC) + timedelta(days=2)).replace(
            hour=1, minute=0, second=0, microsecond=0
        )
        slots = [
            {
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=8)).isoformat(),
                "capacity": 1_000_000,
            }
        ]
        slots += [
            {
                "starts_at": (start + timedelta(minutes=5 * i)).isoformat(),
                "ends_at": (start + timedelta(minutes=5 * i + 5)).isoformat(),
                "capacity": 400,
            }
            for i in range(1, 97)
        ]
        r = await c.post(
            f"/v1/venues/{venue['id']}/slots",
            json={"slots": slots},
            headers={"Authorization": f"Bearer {op['token']}"},
        )
        made = r.json()["slots"]
        sem = asyncio.Semaphore(32)

        async def traveller() -> str:
            async with sem:
                return str((await c.post("/v1/travellers", json={})).json()["access_token"])

        tokens = await asyncio.gather(*(traveller() for _ in range(TRAVELLERS)))
    return {
        "venue": venue,
        "hot": made[0],
        "many": made[1:],
        "tokens": tokens,
        "day": start.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat(),
    }


def run_wrk(base: str, plan: list[str], seconds: int, tmp: Path) -> dict[str, float]:
    plan_file = tmp / "plan.txt"
    plan_file.write_text("\n".join(plan) + "\n")
    script = tmp / "book.lua"
    script.write_text(LUA)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONCURRENCY}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base + "/v1/bookings",
        ],
        env=dict(os.environ, BENCH_PLAN=str(plan_file)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    status = re.search(r"STATUS ok=(\d+) conflict=(\d+) other=(\d+)", out)
    lat = re.search(r"LAT p50=([\d.]+) p99=([\d.]+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert status and lat and rps, out
    ok, conflict, other = (int(x) for x in status.groups())
    return {
        "ok": ok,
        "conflict": conflict,
        "other": other,
        "req_s": float(rps.group(1)),
        "book_s": ok / seconds,
        "p50": float(lat.group(1)),
        "p99": float(lat.group(2)),
    }


async def run_httpx(base: str, plan: list[str], seconds: int) -> dict[str, float]:
    counts: dict[int, int] = defaultdict(int)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    it = iter(range(10**9))
    async with httpx.AsyncClient(
        base_url=base, timeout=10, limits=httpx.Limits(max_connections=CONCURRENCY)
    ) as c:

        async def worker() -> None:
            while time.monotonic() < deadline:
                token, slot, party = plan[next(it) % len(plan)].split()
                t0 = time.perf_counter()
                r = await c.post(
                    "/v1/bookings",
                    json={"slot_id": slot, "party_size": int(party)},
                    headers={"Authorization": f"Bearer {token}"},
                )
                latencies.append((time.perf_counter() - t0) * 1000)
                counts[r.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    q = statistics.quantiles(latencies, n=100)
    total = sum(counts.values())
    return {
        "ok": counts[201],
        "conflict": counts[409],
        "other": total - counts[201] - counts[409],
        "req_s": total / seconds,
        "book_s": counts[201] / seconds,
        "p50": q[49],
        "p99": q[98],
    }


async def check_oversell(base: str, world: dict[str, Any]) -> tuple[int, int, int]:
    """(places taken per the travellers' own bookings, per slot counters, oversold slots)."""
    taken: dict[str, int] = defaultdict(int)
    sem = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:

        async def mine(token: str) -> None:
            async with sem:
                r = await c.get(
                    "/v1/me/bookings",
                    params={"limit": 500},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for b in r.json()["items"]:
                    if b["status"] == "booked":
                        taken[b["slot_id"]] += b["party_size"]

        await asyncio.gather(*(mine(t) for t in world["tokens"]))
        slots = (
            await c.get(f"/v1/venues/{world['venue']['id']}/slots", params={"date": world["day"]})
        ).json()["items"]
    counters = {s["id"]: s["capacity"] - s["remaining"] for s in slots}
    oversold = sum(1 for s in slots if s["remaining"] < 0 or counters[s["id"]] != taken[s["id"]])
    return sum(taken.values()), sum(counters.values()), oversold


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("seconds", nargs="?", type=int, default=8, help="seconds per scenario")
    add_common_args(p, "bookings")
    args = p.parse_args()
    if args.unsafe_fast:
        raise SystemExit("bench_bookings measures durable commits only")
    seconds = args.seconds
    tmp = Path(tempfile.mkdtemp(prefix="onecode-bench-"))
    proc, base = start_server(tmp)
    result = Result(
        "bookings",
        f"POST /v1/bookings over HTTP at concurrency {CONCURRENCY}, party sizes 1-4; "
        "zero oversell checked against every traveller's own bookings",
        {"durability": durability(False), "seconds": seconds, "travellers": TRAVELLERS},
    )
    try:
        world = asyncio.run(build(base))
        rng = random.Random(1)
        tokens = world["tokens"]
        hot = [f"{t} {world['hot']['id']} {rng.randint(1, 4)}" for t in tokens]
        many = [
            f"{t} {rng.choice(world['many'])['id']} {rng.randint(1, 4)}"
            for t in tokens
            for _ in range(3)
        ]
        rng.shuffle(many)
        tool = "wrk" if shutil.which("wrk") else "httpx"
        print(
            f"load generator: {tool}, concurrency {CONCURRENCY}, {seconds} s per scenario, "
            f"{len(tokens)} travellers (100 bookings per venue and day each); "
            f"{durability(False)}"
        )
        for name, plan in (("one hot slot", hot), ("96 slots", many)):
            res = (
                run_wrk(base, plan, seconds, tmp)
                if tool == "wrk"
                else asyncio.run(run_httpx(base, plan, seconds))
            )
            print(
                f"{name:<18} {res['book_s']:>8,.0f} bookings/s  {res['req_s']:>8,.0f} req/s  "
                f"p50 {res['p50']:.1f} ms  p99 {res['p99']:.1f} ms  "
                f"(201: {res['ok']:.0f}, 409: {res['conflict']:.0f}, other: {res['other']:.0f})"
            )
            if res["other"]:
                result.failed_check()
            result.row(
                scenario=name,
                bookings_per_s=round(res["book_s"], 1),
                requests_per_s=round(res["req_s"], 1),
                p50_ms=round(res["p50"], 1),
                p99_ms=round(res["p99"], 1),
                statuses={
                    "201": int(res["ok"]),
                    "409": int(res["conflict"]),
                    "other": int(res["other"]),
                },
            )
        places, counted, bad = asyncio.run(check_oversell(base, world))
        print(
            f"oversell check: places in bookings {places}, slot counters {counted}, "
            f"slots with a mismatch or oversold: {bad}"
        )
        result.doc["oversell_check"] = {
            "places_in_bookings": places,
            "slot_counters": counted,
            "slots_mismatched_or_oversold": bad,
        }
        if bad or places != counted:
            result.failed_check()
        result.write(args.out)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if result.ok else 3


if __name__ == "__main__":
    raise SystemExit(main())
