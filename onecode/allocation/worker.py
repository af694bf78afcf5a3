"""The durable allocation worker: offer rounds and lottery draws, as jobs in PostgreSQL.

A job row (``allocation_jobs``) is written by the rules in the transaction of the change
that calls for it (places freed, a lottery opened), so it exists if and only if that
change committed. A worker takes the next due job with ``FOR UPDATE SKIP LOCKED``, deletes
it and runs it in one transaction: a crash or a restart rolls back and the job is
taken again (a round and a draw are idempotent). Any number of workers, in any number of
processes, share the queue. Why not a task-queue library: docs/allocation.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from onecode.db import acquire
from onecode.sql import Q

log = logging.getLogger("onecode.allocation")

IDLE_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0


async def run_one(conn: asyncpg.Connection) -> str | None:
    """Take and run the next due job; its kind, or None when nothing is due. A failing
    job is put back with a backoff and its error, and the failure re-raised."""
    job_id: int | None = None
    attempts = 0
    try:
        async with conn.transaction():
            job = await conn.fetchrow(Q()["allocation_take_job"])
            if job is None:
                return None
            job_id, attempts = job["id"], job["attempts"]
            # deleted first (a round queues its next one and must not see itself);
            # a rollback puts it back
            await conn.execute(Q()["allocation_delete_job"], job_id)
            if job["kind"] == "offer":
                await conn.fetchrow(Q()["allocation_offer_round"], job["slot_id"])
            else:
                await conn.fetchrow(Q()["allocation_draw_lottery"], job["lottery_id"])
            return str(job["kind"])
    except Exception as exc:
        if job_id is not None and not conn.is_closed():
            backoff = min(MAX_BACKOFF_SECONDS, 2.0 ** min(attempts, 10))
            await conn.execute(Q()["allocation_retry_job"], job_id, repr(exc)[:500], backoff)
        raise


async def drain(conn: asyncpg.Connection, limit: int = 10_000) -> int:
    """Run every due job (tests, the command line); how many ran."""
    done = 0
    while done < limit and await run_one(conn) is not None:
        done += 1
    return done


async def work(
    pool: asyncpg.Pool,
    *,
    idle: float = IDLE_SECONDS,
    on_error: Callable[[BaseException], Awaitable[None]] | None = None,
) -> None:
    """Run jobs until cancelled: at once while some are due, every ``idle`` seconds
    otherwise. A failure (a job's, the database's) is logged and the loop goes on."""
    while True:
        try:
            conn = await acquire(pool, 5.0)
            try:
                while await run_one(conn) is not None:
                    pass
            finally:
                await pool.release(conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the worker must outlive any one failure
            log.warning("allocation job failed; retrying later", exc_info=True)
            if on_error is not None:
                await on_error(exc)
        await asyncio.sleep(idle)
