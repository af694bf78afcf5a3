"""Benchmark the waiting list: bookings/s on one hot slot with a 10,000-entry waiting list.

A throwaway embedded PostgreSQL (or ``DATABASE_URL``), migrated; one venue and one hot
slot of 2,000 places, all booked, with 10,000 parties of one waiting. Then, for the given
seconds, over real connections: holders cancel (each freed place is held for the list
and an offer round queued, in the cancel's transaction), allocation workers run the
rounds (``onecode.allocation.worker``, SKIP LOCKED), and the offered travellers accept
(``onecode_accept_offer``). The figure is bookings made through the list per second
(accepted offers), beside cancels/s. A second
row: app bookings tried on the same full slot (``onecode_book_slot``, each answered
``slot_full``), with the list and without, to show what 10,000 waiting cost the hot path.

This measures the database rules and the worker, not HTTP (bench_bookings does HTTP).
Checks the counters against the facts at the end (booked = live bookings <= capacity,
held = open offers; every accepted offer is one booking); a failed check exits non-zero.

Run from the repository root: ``python -m bench.bench_waitlist [seconds]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.common import Result, add_common_args, apply_durability, durability
from onecode.allocation import worker
from onecode.db import acquire
from onecode.devdb import EmbeddedPostgres
from onecode.migrate import migrate

CAPACITY = 2_000
WAITING = 10_000
CONNECTIONS = 16  # cancellers + acceptors share them; workers have their own
WORKERS = 2


async def setup(
    dsn: str, capacity: int, waiting: int
) -> tuple[uuid.UUID, uuid.UUID, list[tuple[uuid.UUID, uuid.UUID]]]:
    """The hot slot (full) with its waiting list, and a second full slot without one."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO regions (code, name) VALUES ('CN-GZ', 'Guizhou')")
        venue = uuid.uuid4()
        await conn.execute(
            """INSERT INTO venues (id, region_code, name, kind, gated, requires_booking,
                                   entry_rule, capacity_instant, capacity_daily,
                                   bookings_per_day, place_code, offer_expiry_min)
               VALUES ($1, 'CN-GZ', 'Bench Falls', 'scenic_area', true, true, 'single',
                       1000000, 10000000, 100, $2, 15)""",
            venue,
            f"BENCH-{venue.hex[:12]}",
        )
        start = (datetime.now(UTC) + timedelta(days=2)).replace(
            hour=1, minute=0, second=0, microsecond=0
        )
        hot, bare = uuid.uuid4(), uuid.uuid4()
        for slot, offset in ((hot, 0), (bare, 8)):
            await conn.execute(
                "INSERT INTO slots (id, venue_id, starts_at, ends_at) VALUES ($1, $2, $3, $4)",
                slot,
                venue,
                start + timedelta(hours=offset),
                start + timedelta(hours=offset + 8),
            )
            await conn.execute(
                "INSERT INTO slot_counters (venue_id, slot_id, capacity) VALUES ($1, $2, $3)",
                venue,
                slot,
                capacity,
            )
        people = [uuid.uuid4() for _ in range(2 * capacity + waiting + 64)]
        await conn.copy_records_to_table(
            "travellers", records=[(t,) for t in people], columns=["id"]
        )
        holders: list[tuple[uuid.UUID, uuid.UUID]] = []
        for i in range(capacity):
            for slot, who in ((hot, people[i]), (bare, people[capacity + i])):
                body = await conn.fetchval(
                    "SELECT body->>'id' FROM onecode_book_slot($1, $2, 1, NULL, NULL,"
                    " interval '0')",
                    who,
                    slot,
                )
                assert body is not None
                if slot == hot:
                    holders.append((who, uuid.UUID(body)))
        waiters = people[2 * capacity : 2 * capacity + waiting]
        await conn.executemany(
            "SELECT onecode_join_waitlist($1, $2, 1, now())", [(t, hot) for t in waiters]
        )
        assert await conn.fetchval("SELECT count(*) FROM waitlist_entries") == waiting
        # a settled table, so no autovacuum of the fresh rows runs under the measurement
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    return hot, bare, holders


async def churn(
    dsn: str, hot: uuid.UUID, holders: list[tuple[uuid.UUID, uuid.UUID]], seconds: float
) -> dict[str, float]:
    """Cancels, offer rounds and accepts for ``seconds``; their rates and latencies."""
    pool = await asyncpg.create_pool(dsn, min_size=CONNECTIONS, max_size=CONNECTIONS)
    workers = await asyncpg.create_pool(dsn, min_size=WORKERS, max_size=WORKERS)
    assert pool is not None and workers is not None
    stop = time.monotonic() + seconds
    queue = list(holders)
    cancels = accepts = 0
    last = [0.0]  # when the last offer was accepted

    async def canceller() -> None:
        nonlocal cancels
        while time.monotonic() < stop and queue:
            who, booking = queue.pop()
            async with pool.acquire() as c:
                out = await c.fetchval(
                    "SELECT outcome FROM onecode_cancel_booking($1, $2, now())", who, booking
                )
            assert out == "cancelled", out
            cancels += 1

    async def work() -> None:
        c = await acquire(workers, 5.0)  # as the app's worker loop takes its connection
        try:
            while time.monotonic() < stop + 1.0:
                if await worker.run_one(c) is None:
                    await asyncio.sleep(0.005)
        finally:
            await workers.release(c)

    async def acceptor(k: int) -> None:
        nonlocal accepts
        while time.monotonic() < stop + 1.0:
            async with pool.acquire() as c:
                offers = await c.fetch(
                    "SELECT traveller_id, id, offered_at FROM waitlist_entries"
                    " WHERE slot_id = $1 AND state = 'offer' AND (hashtext(id::text) & 3) = $2"
                    " LIMIT 20",
                    hot,
                    k % 4,
                )
                for o in offers:
                    row = await c.fetchrow(
                        "SELECT outcome, replayed FROM onecode_accept_offer($1, $2, now())",
                        o["traveller_id"],
                        o["id"],
                    )
                    # two acceptors may answer one offer: the second gets a replay
                    if row is not None and row["outcome"] == "booked" and not row["replayed"]:
                        accepts += 1
                        last[0] = time.monotonic()
            if not offers:
                await asyncio.sleep(0.005)

    t0 = time.monotonic()
    tasks = [asyncio.create_task(canceller()) for _ in range(CONNECTIONS // 2)]
    tasks += [asyncio.create_task(work()) for _ in range(WORKERS)]
    tasks += [asyncio.create_task(acceptor(k)) for k in range(CONNECTIONS // 2)]
    await asyncio.gather(*tasks)
    # until the last accept: the acceptors' idle second after the end is not counted
    elapsed = (last[0] or time.monotonic()) - t0
    await pool.close()
    await workers.close()
    return {
        "elapsed": elapsed,
        "cancels": cancels,
        "accepts": accepts,
        "bookings_per_s": accepts / elapsed,
        "cancels_per_s": cancels / elapsed,
    }


async def hammer(dsn: str, slot: uuid.UUID, seconds: float) -> dict[str, float]:
    """App bookings tried on a full slot over CONNECTIONS connections (all slot_full)."""
    pool = await asyncpg.create_pool(dsn, min_size=CONNECTIONS, max_size=CONNECTIONS)
    assert pool is not None
    conn = await asyncpg.connect(dsn)
    people = [uuid.uuid4() for _ in range(CONNECTIONS)]
    await conn.executemany("INSERT INTO travellers (id) VALUES ($1)", [(t,) for t in people])
    await conn.close()
    stop = time.monotonic() + seconds
    answers: dict[str, int] = {}
    latencies: list[float] = []

    async def one(who: uuid.UUID) -> None:
        async with pool.acquire() as c:
            while time.monotonic() < stop:
                t = time.perf_counter()
                out = await c.fetchval(
                    "SELECT outcome FROM onecode_book_slot($1, $2, 1, NULL, NULL, interval '0')",
                    who,
                    slot,
                )
                latencies.append(time.perf_counter() - t)
                answers[out] = answers.get(out, 0) + 1

    t0 = time.monotonic()
    await asyncio.gather(*(one(p) for p in people))
    elapsed = time.monotonic() - t0
    await pool.close()
    latencies.sort()
    return {
        "attempts_per_s": sum(answers.values()) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "answers": answers,  # type: ignore[dict-item]
    }


async def check(dsn: str, hot: uuid.UUID) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """SELECT s.capacity, s.booked, s.held,
                      (SELECT coalesce(sum(party_size), 0) FROM bookings
                        WHERE slot_id = s.slot_id AND status = 'booked')::int AS live,
                      (SELECT coalesce(sum(party_size), 0) FROM waitlist_entries
                        WHERE slot_id = s.slot_id AND state = 'offer')::int AS offered,
                      (SELECT count(*) FROM waitlist_entries
                        WHERE slot_id = s.slot_id AND state = 'booked')::int AS accepted,
                      (SELECT count(*) FROM bookings
                        WHERE slot_id = s.slot_id AND channel = 'waitlist')::int AS by_offer,
                      (SELECT count(*) FROM allocation_jobs)::int AS jobs_left
                 FROM slot_counters s WHERE s.slot_id = $1""",
            hot,
        )
    finally:
        await conn.close()
    assert row is not None
    return dict(row)


async def run(dsn: str, seconds: int, unsafe_fast: bool, out: Path) -> int:
    server = await apply_durability(dsn, unsafe_fast)
    await migrate(dsn)
    settings = {
        "durability": durability(unsafe_fast),
        "server": server,
        "seconds": seconds,
        "capacity": CAPACITY,
        "waiting_entries": WAITING,
        "party_size": 1,
        "connections": CONNECTIONS,
        "workers": WORKERS,
        "hot_path_runs": "2 interleaved runs of 4 s each, the better one reported",
        "load": "cancellers and acceptors on one pool, workers on their own (asyncpg, one process)",
    }
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    result = Result(
        "waitlist",
        "bookings/s on one hot slot with a 10,000-entry waiting list: cancel -> offer round "
        "(durable worker) -> accept, in PostgreSQL over real connections (no HTTP)",
        settings,
    )
    t = time.monotonic()
    hot, bare, holders = await setup(dsn, CAPACITY, WAITING)
    print(f"setup: {CAPACITY} booked + {WAITING} waiting in {time.monotonic() - t:.1f} s")
    # interleaved, twice each (a shared machine is noisy): the better run of each
    runs: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
    for _ in range(2):
        runs["without"].append(await hammer(dsn, bare, min(seconds, 4)))
        runs["with"].append(await hammer(dsn, hot, min(seconds, 4)))
    with_list = max(runs["with"], key=lambda r: r["attempts_per_s"])
    without = max(runs["without"], key=lambda r: r["attempts_per_s"])
    for name, res in (("full slot, 10,000 waiting", with_list), ("full slot, no list", without)):
        print(
            f"app booking attempts on a {name:<26} {res['attempts_per_s']:>8,.0f}/s  "
            f"p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms  {res['answers']}"
        )
        result.row(
            scenario=f"app booking attempts, {name}",
            attempts_per_s=round(res["attempts_per_s"], 1),
            p50_ms=round(res["p50_ms"], 2),
            p99_ms=round(res["p99_ms"], 2),
            answers=res["answers"],
        )
    res = await churn(dsn, hot, holders, seconds)
    print(
        f"through the waiting list: {res['bookings_per_s']:,.0f} bookings/s "
        f"({res['accepts']:.0f} accepted offers), {res['cancels_per_s']:,.0f} cancels/s "
        f"in {res['elapsed']:.1f} s"
    )
    result.row(
        scenario="bookings through a 10,000-entry waiting list (cancel, offer, accept)",
        bookings_per_s=round(res["bookings_per_s"], 1),
        cancels_per_s=round(res["cancels_per_s"], 1),
        accepted_offers=int(res["accepts"]),
        seconds=round(res["elapsed"], 1),
    )
    facts = await check(dsn, hot)
    print(f"check: {facts}")
    result.doc["check"] = facts
    if not (
        facts["booked"] == facts["live"] <= facts["capacity"]
        and facts["held"] == facts["offered"]
        and facts["accepted"] == facts["by_offer"] == res["accepts"]
    ):
        print("CHECK FAILED: counters and facts disagree", file=sys.stderr)
        result.failed_check()
    result.write(out)
    return 0 if result.ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("seconds", nargs="?", type=int, default=10, help="seconds of churn")
    add_common_args(p, "waitlist")
    args = p.parse_args()
    url = os.environ.get("DATABASE_URL")
    if url:
        return asyncio.run(run(url, args.seconds, args.unsafe_fast, args.out))
    tmp = Path(tempfile.mkdtemp(prefix="onecode-bench-"))
    embedded = EmbeddedPostgres(tmp, cleanup="delete")
    dsn = embedded.start()
    try:
        return asyncio.run(run(dsn, args.seconds, args.unsafe_fast, args.out))
    finally:
        embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
