"""Does a hanging webhook receiver move the gate scan? ``POST /v1/gate/scans`` p99 with
the delivery worker idle, then with the worker stuck on a receiver that accepts every
connection and never answers (thousands of queued messages, every attempt waiting out
its timeout), for the worker as its own process (``onecode webhooks-worker``) and inside
``onecode serve`` (``ONECODE_WEBHOOKS_IN_PROCESS=on``).

Same setup as bench/bench_gates.py (embedded PostgreSQL, durable commits unless
``--unsafe-fast``, wrk, every request a first entry of a distinct booked traveller, the
database's decision mix checked). Phases alternate quiet / hanging ``--rounds`` times
per mode. Writes bench/results/webhooks.json.

    python -m bench.bench_webhooks [--duration 6] [--concurrency 16] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.bench_gates import (
    ADMIN,
    LUA,
    _live_codes,
    bulk_setup,
    decision_mix,
    free_port,
    run_wrk,
)
from bench.common import Result, add_common_args, apply_durability, check_mix, durability
from onecode.codes import KeyStore
from onecode.devdb import EmbeddedPostgres
from tests.support.receiver import Receiver

PER_SECOND = 2500  # fresh codes per second of a phase (a generous ceiling here)
QUEUED = 3000  # messages waiting for the hanging receiver


class HangingReceiver:
    """A receiver on loopback, in its own thread, that reads each request and never
    answers (the worker waits out its timeout on every attempt)."""

    def __init__(self) -> None:
        self.receiver = Receiver(default="hang")
        self.loop = asyncio.new_event_loop()
        self.url = ""
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.url = self.loop.run_until_complete(self.receiver.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)

    @property
    def received(self) -> int:
        return len(self.receiver.received)

    def stop(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.receiver.stop(), self.loop)
        fut.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def queue_messages(dsn: str, venue_id: str, n: int) -> None:
    """BENCH SETUP ONLY: n events, fanned out by the worker to the hanging receiver."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "SELECT onecode_emit_event('gate.offline', 'CN-GZ', $1, "
            "jsonb_build_object('n', i)) FROM generate_series(1, $2) AS i",
            uuid.UUID(venue_id),
            n,
        )
    finally:
        await conn.close()


async def queue_state(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT outcome, count(*) AS n FROM webhook_attempts GROUP BY outcome"
        )
        pending = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'"
        )
        return {"attempts": {r["outcome"]: r["n"] for r in rows}, "pending": pending}
    finally:
        await conn.close()


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "onecode", *args], env=env, stdout=subprocess.DEVNULL
    )


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_healthy(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=int, default=6, help="seconds per phase")
    p.add_argument("--concurrency", type=int, default=16, help="wrk connections = gate tokens")
    p.add_argument("--rounds", type=int, default=1, help="quiet/hanging pairs per mode")
    p.add_argument("--pool-max", type=int, default=20)
    add_common_args(p, "webhooks")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    modes = ("worker process", "in-process worker")
    phases = [(m, r) for m in modes for _ in range(args.rounds) for r in ("none", "hanging")]
    per_phase = PER_SECOND * args.duration
    warmup = PER_SECOND * 2  # a short unrecorded run after each server start
    travellers = per_phase * len(phases) + warmup * len(modes)
    conc = args.concurrency
    print(f"onecode webhooks-vs-gate benchmark: {durability(args.unsafe_fast)}")
    result = Result(
        "webhooks",
        "POST /v1/gate/scans over HTTP (wrk, first entries of distinct booked travellers) "
        "with the webhook worker idle vs stuck on a receiver that never answers "
        f"({QUEUED} queued messages, every attempt waiting out its timeout)",
        {
            "durability": durability(args.unsafe_fast),
            "duration_s": args.duration,
            "concurrency": conc,
            "gates": conc,
            "pool_max": args.pool_max,
            "rounds": args.rounds,
            "webhook_worker": "timeout 2 s (the default is 10 s), concurrency 16, lease 60 s",
        },
    )
    base = Path(tempfile.mkdtemp(prefix="onecode-bench-webhooks-"))
    pg = EmbeddedPostgres(base / "pg", cleanup="delete")
    hanging = HangingReceiver()
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        dsn = pg.start()
        result.doc["settings"]["postgres"] = asyncio.run(apply_durability(dsn, args.unsafe_fast))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        data_dir = base / "data"
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "ONECODE_ADMIN_TOKEN": ADMIN,
            "ONECODE_RATE_LIMIT": "off",
            "ONECODE_POOL_MAX": str(args.pool_max),
            "ONECODE_POOL_MIN": str(args.pool_max),
            "ONECODE_LOG_LEVEL": "WARNING",
            "ONECODE_DATA_DIR": str(data_dir),
            "ONECODE_WEBHOOKS_ALLOW_LOOPBACK": "on",
            "ONECODE_WEBHOOKS_ALLOW_HTTP": "on",
            # each attempt waits 2 s for the receiver, then the next due message goes:
            # the worker keeps claiming, waiting, recording and retrying during a phase
            "ONECODE_WEBHOOKS_TIMEOUT_SECONDS": "2",
        }
        admin = {"Authorization": f"Bearer {ADMIN}"}
        script = base / "scans.lua"
        script.write_text(LUA)
        head = ("mode", "receiver", "scans/s", "p50 ms", "p99 ms", "worker attempts")
        creds: list[Any] = []
        venue: dict[str, Any] = {}
        tokens: list[str] = []
        used = 0
        for mode in modes:
            mode_env = {**env, "ONECODE_WEBHOOKS_IN_PROCESS": "on" if mode != modes[0] else "off"}
            server = spawn(["serve", "--port", str(port)], mode_env)
            wait_healthy(url)
            if mode == modes[0]:
                worker = spawn(["webhooks-worker"], mode_env)
            with httpx.Client(base_url=url, timeout=10, headers=admin) as http:
                if not creds:
                    http.post("/v1/admin/regions", json={"code": "CN-GZ", "name": "Guizhou"})
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
                        },
                    ).json()
                    tokens = [
                        http.post(
                            f"/v1/admin/venues/{venue['id']}/gates", json={"name": f"g{i}"}
                        ).json()["token"]
                        for i in range(conc)
                    ]
                    http.post("/v1/admin/webhook-hosts", json={"host": "127.0.0.1"})
                    t0 = time.perf_counter()
                    creds = asyncio.run(bulk_setup(dsn, uuid.UUID(venue["id"]), travellers))
                    print(f"setup: {travellers} travellers in {time.perf_counter() - t0:.1f}s")
                    print("{:>18} {:>9} {:>9} {:>8} {:>8} {:>16}".format(*head))
                key = KeyStore(data_dir=data_dir, create_if_missing=False).signing_key
                exp = int((datetime.now(UTC) + timedelta(days=30)).timestamp()) - 60
                chunk = creds[used : used + warmup]
                used += warmup
                codes_file = base / "codes.txt"
                codes_file.write_text("\n".join(_live_codes(key, chunk, exp)) + "\n")
                run_wrk(url, script, codes_file, 1, len(chunk), conc, 2, tokens)
                for phase_mode, receiver in phases:
                    if phase_mode != mode:
                        continue
                    sub_id = None
                    if receiver == "hanging":
                        sub = http.post(
                            "/v1/webhooks",
                            json={"url": hanging.url, "events": ["gate.offline"]},
                        )
                        assert sub.status_code == 201, sub.text
                        sub_id = sub.json()["subscription"]["id"]
                        before = hanging.received
                        asyncio.run(queue_messages(dsn, venue["id"], QUEUED))
                        deadline = time.monotonic() + 30
                        while hanging.received - before < 8 and time.monotonic() < deadline:
                            time.sleep(0.1)  # the worker is now stuck on the receiver
                    chunk = creds[used : used + per_phase]
                    used += per_phase
                    codes_file = base / "codes.txt"
                    codes_file.write_text("\n".join(_live_codes(key, chunk, exp)) + "\n")
                    since = datetime.now(UTC)
                    held_before = hanging.received
                    res = run_wrk(
                        url, script, codes_file, 1, len(chunk), conc, args.duration, tokens
                    )
                    held = hanging.received - held_before
                    rate = res["requests"] / (res["duration_us"] / 1e6)
                    mix = asyncio.run(decision_mix(dsn, since))
                    if res["reused"]:
                        mix["re-sent code (not a first entry)"] = res["reused"]
                    if res["errors"] or res["socket_errors"]:
                        mix["http error"] = res["errors"] + res["socket_errors"]
                    label = f"{mode}, receiver {receiver}"
                    if not check_mix(
                        label, mix, "accept/ok", res["requests"], res["requests"] + conc
                    ):
                        result.failed_check()
                    state = asyncio.run(queue_state(dsn))
                    print(
                        f"{mode:>18} {receiver:>9} {rate:>9.0f} {res['p50_us'] / 1000:>8.1f} "
                        f"{res['p99_us'] / 1000:>8.1f} {held:>16}",
                        flush=True,
                    )
                    result.row(
                        mode=mode,
                        receiver=receiver,
                        concurrency=conc,
                        scans_per_s=round(rate, 1),
                        p50_ms=round(res["p50_us"] / 1000, 1),
                        p99_ms=round(res["p99_us"] / 1000, 1),
                        requests_held_by_receiver_during_phase=held,
                        queue=state,
                        decisions=mix,
                    )
                    if sub_id is not None:
                        http.delete(f"/v1/webhooks/{sub_id}")
            stop(worker)
            worker = None
            stop(server)
            server = None
        rows = result.doc["rows"]
        for mode in modes:
            quiet = [r["p99_ms"] for r in rows if r["mode"] == mode and r["receiver"] == "none"]
            hung = [r["p99_ms"] for r in rows if r["mode"] == mode and r["receiver"] != "none"]
            if quiet and hung:
                print(f"{mode}: p99 quiet {quiet} ms, with a hanging receiver {hung} ms")
        result.write(args.out)
    finally:
        stop(worker)
        stop(server)
        hanging.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0 if result.ok else 3


if __name__ == "__main__":
    raise SystemExit(main())
