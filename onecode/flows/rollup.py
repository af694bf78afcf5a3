"""Incremental rollups of scans and check-ins into the ``flow_*`` tables.

One advance is one SQL function call (``flows_advance()``, migration 0005): a single
transaction that takes an advisory lock (one replica advances at a time; a second
caller waits and then finds nothing new), consumes only the rows added since the
watermark, and adds them into the rollups with ``INSERT … ON CONFLICT DO UPDATE``.

Why the watermark is a transaction id and not ``seq``: a bigserial is allocated before
commit, so a row with a lower ``seq`` can become visible after a higher one and a
max-seq watermark would skip it for ever. Every scan and check-in row records the xid
of the transaction that wrote it (``ingest_xid``); an advance consumes
``previous horizon <= ingest_xid < pg_snapshot_xmin(pg_current_snapshot())``. Every
transaction below that horizon has finished (committed rows are visible, aborted ones
never will be), and a transaction that has not written yet will get a larger xid, so
nothing can appear below the horizon later. Rows of transactions still in flight wait
for the next advance.

Late offline uploads land in the hour of their ``device_time`` in the venue's time
zone. Dwell pairs and origin-destination sequences depend on order, so the
(traveller, venue, day) and (traveller, day) cells a batch touches are recomputed
rather than added to.

The service runs :func:`rollup_loop` as a lifespan task every
``settings.rollup_interval_seconds``; ``onecode rollup`` runs one advance by hand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from litestar import Litestar

from onecode.flows import privacy, retention
from onecode.observability import set_rollup_lag
from onecode.sql import Q
from onecode.tasks import running

log = logging.getLogger("onecode.flows.rollup")

_BACKLOG_TIMEOUT = 3600.0  # seconds one advance may take in the loop (a long backlog)
_RETENTION_EVERY = 3600.0  # seconds between two retention passes of the loop


async def advance(
    conn: asyncpg.Connection | PoolConnectionProxy[Any],
    *,
    wait: bool = True,
    command_timeout: float | None = None,
) -> int:
    """Advance every rollup to the current safe horizon; return the rows consumed.

    ``wait=False`` returns 0 at once when another advance holds the lock (what the
    replicas' loops do); ``command_timeout`` overrides the connection's command timeout, since
    a backlog after an outage may take longer than a request should.
    """
    consumed = await conn.fetchval(Q()["flows_advance_rollups"], wait, timeout=command_timeout)
    return int(consumed or 0)


async def rollup_loop(
    pool: asyncpg.Pool,
    interval: float,
    params: privacy.Params | None = None,
    retention_days: int = 0,
) -> None:
    """Advance forever; a database error is logged and retried at the next tick.

    With ``params``, each tick also releases the closed days due (privacy.release_due),
    and once an hour (the first an hour after start) applies the retention of
    ``retention_days`` (retention.retain; 0 keeps everything).
    ``rollup_lag_seconds`` is the time since this process last completed an advance.
    """
    last = time.monotonic()
    last_retention = last
    while True:
        await asyncio.sleep(interval)
        set_rollup_lag(time.monotonic() - last)
        try:
            async with pool.acquire(timeout=interval) as conn:
                consumed = await advance(conn, wait=False, command_timeout=_BACKLOG_TIMEOUT)
                last = time.monotonic()
                set_rollup_lag(0.0)
                if consumed:
                    log.info("flows rollup consumed %d rows", consumed)
                if params is not None:
                    released = await privacy.release_due(conn, params)  # type: ignore[arg-type]
                    if released:
                        log.info("flows released %d days", released)
                    if retention_days > 0 and last - last_retention >= _RETENTION_EVERY:
                        last_retention = last
                        done = await retention.retain(conn, retention_days, params)  # type: ignore[arg-type]
                        log.info("flows retention: %s", done)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the loop must survive any fault, the database's first
            log.warning("flows rollup failed (%s); retrying in %.0fs", type(exc).__name__, interval)


@asynccontextmanager
async def rollup_lifespan(app: Litestar) -> AsyncGenerator[None, None]:
    """Lifespan: run :func:`rollup_loop` beside the API while it serves."""
    settings = app.state.settings
    interval = max(float(settings.rollup_interval_seconds), 0.05)
    params = privacy.Params(
        epsilon=float(settings.dp_epsilon), delay_hours=float(settings.dp_release_delay_hours)
    )
    loop = rollup_loop(app.state.pool, interval, params, int(settings.retention_days))
    async with running(loop, "flows-rollup"):
        yield
