"""Benchmark the statements behind reviews, place codes and complaints.

Starts its own embedded PostgreSQL (throwaway, fsync off), applies the migrations, makes a
venue and N travellers each with an accepted entry scan (direct SQL: BENCH SETUP ONLY),
then measures, in one process over a pool of connections:

- place code sign / verify per second (pure Python, no database);
- ``reviews_insert_review`` (visit check + insert + exact aggregate in one statement);
- public review pages (first page and a keyset page from a cursor);
- ``places_insert_checkin`` at an ungated venue (one statement).

Run from the repository root:  PYTHONPATH=. python bench/bench_reviews.py [--travellers 4000]

Not a test. The HTTP layer adds the ~0.1 ms per request the stack notes measure.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from onecode.catalog.place_keys import load_place_keys
from onecode.codes.place import PlaceKeys
from onecode.devdb import EmbeddedPostgres
from onecode.http.paging import decode_cursor
from onecode.migrate import migrate
from onecode.sql import Q
from tests.support.postgres import FAST_UNSAFE


async def _run(
    pool: asyncpg.Pool,
    n: int,
    concurrency: int,
    job: Callable[[asyncpg.Connection, int], Awaitable[object]],
) -> float:
    counter = iter(range(n))

    async def worker() -> None:
        async with pool.acquire() as conn:
            for i in counter:
                await job(conn, i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


def _pure(keys: PlaceKeys, n: int) -> tuple[float, float]:
    venue = uuid.uuid4()
    start = time.perf_counter()
    for i in range(n):
        keys.sign(venue, i)
    sign = n / (time.perf_counter() - start)
    code = keys.sign(venue, 1)
    start = time.perf_counter()
    for _ in range(n):
        keys.verify(code)
    return sign, n / (time.perf_counter() - start)


async def main(travellers: int, concurrency: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="onecode-bench-"))
    pg = EmbeddedPostgres(base, cleanup="delete")
    dsn = pg.start()
    try:
        admin = await asyncpg.connect(dsn)
        for name, value in FAST_UNSAFE.items():
            await admin.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        await admin.execute("SELECT pg_reload_conf()")
        await admin.close()
        await migrate(dsn)
        pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
        assert pool is not None
        async with pool.acquire() as conn:
            keys = await load_place_keys(conn)
            venue, lake, gate = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            # BENCH SETUP ONLY: catalog rows, travellers and their entry scans by direct SQL
            await conn.execute("INSERT INTO regions (code, name) VALUES ('CN-GZ', 'Guizhou')")
            for vid, gated in ((venue, True), (lake, False)):
                await conn.execute(
                    "INSERT INTO venues (id, region_code, name, kind, gated, requires_booking,"
                    " entry_rule, capacity_instant, capacity_daily, place_code)"
                    " VALUES ($1, 'CN-GZ', 'V', 'park', $2, false, 'single', 1000, 10000, $3)",
                    vid,
                    gated,
                    keys.sign(vid, 0),
                )
            await conn.execute(
                "INSERT INTO gates (id, venue_id, name) VALUES ($1, $2, 'g')", gate, venue
            )
            ids = [uuid.uuid4() for _ in range(travellers)]
            await conn.executemany(
                "INSERT INTO travellers (id, display_name) VALUES ($1, 'bench')",
                [(t,) for t in ids],
            )
            await conn.executemany(
                "INSERT INTO scans (gate_id, scan_id, venue_id, traveller_id, direction, decision,"
                " reason, device_time) VALUES ($1, $2, $3, $4, 'in', 'accept', 'ok', now())",
                [(gate, uuid.uuid4(), venue, t) for t in ids],
            )

        sign, verify = _pure(keys, 50_000)
        print(f"place code sign    {sign:10,.0f}/s   verify {verify:10,.0f}/s")

        async def review(conn: asyncpg.Connection, i: int) -> object:
            return await conn.fetchrow(
                Q()["reviews_insert_review"], ids[i], venue, uuid.uuid4(), 1 + i % 5, "nice"
            )

        rate = await _run(pool, travellers, concurrency, review)
        print(f"review insert      {rate:10,.0f}/s   ({concurrency} connections, one venue row)")
        async with pool.acquire() as conn:
            s, c = await conn.fetchrow(
                "SELECT rating_sum, rating_count FROM venues WHERE id = $1", venue
            )
            exact = await conn.fetchrow("SELECT sum(rating), count(*) FROM reviews")
            assert (s, c) == tuple(exact), ((s, c), exact)
            last = await conn.fetchrow(Q()["reviews_select_first_page"], venue, 21)

        async def first_page(conn: asyncpg.Connection, i: int) -> object:
            return await conn.fetch(Q()["reviews_select_first_page"], venue, 21)

        rate = await _run(pool, 5_000, concurrency, first_page)
        print(f"review first page  {rate:10,.0f}/s   (20 rows)")
        from onecode.http.paging import encode_cursor

        position = decode_cursor(encode_cursor(last["created_at"], last["id"]))

        async def next_page(conn: asyncpg.Connection, i: int) -> object:
            return await conn.fetch(
                Q()["reviews_select_next_page"], venue, 21, position.created_at, position.id
            )

        rate = await _run(pool, 5_000, concurrency, next_page)
        print(f"review keyset page {rate:10,.0f}/s   (20 rows)")
        lake_code = keys.sign(lake, 0)

        async def checkin(conn: asyncpg.Connection, i: int) -> object:
            return await conn.fetchrow(
                Q()["places_insert_checkin"], lake_code, ids[i], uuid.uuid4()
            )

        rate = await _run(pool, travellers, concurrency, checkin)
        print(f"self check-in      {rate:10,.0f}/s")
        await pool.close()
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--travellers", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.travellers, args.concurrency))
