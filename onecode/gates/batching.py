"""Online scans committed in groups (issue #20).

Every online scan is a transaction of its own, and a durable commit costs more than
deciding the scan: 16 connections do 2,467 scans/s one per transaction and 4,876/s
sixteen per transaction (gate_scan() alone, the same machine). ``ScanGroups`` gives a
busy venue's scans group commit: a scan that arrives while the venue has ``lanes`` (4)
groups in flight waits for the next group, which takes up to ``max_group`` (32) waiting scans
and decides them with ``gate_scan_batch()`` (sql/functions/gates.sql) in one
transaction. A quiet gate's scan goes at once, alone, as before. Each scan is answered
only after its group has committed, so an accept the gate shows is durable.

A group that fails as a whole (a deadlock PostgreSQL broke, a lost connection) is
decided again one scan at a time, each in its own transaction: one scan's failure is
never another's answer. Decisions are idempotent per (gate, scan_id), so deciding again
after a rolled-back group is safe.

No web framework here."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from onecode.db import acquire
from onecode.gates.service import ScanArgs, decide
from onecode.sql import Q

Waiting = list[tuple[ScanArgs, "asyncio.Future[asyncpg.Record]"]]


class ScanGroups:
    """Per venue: the scans waiting for a group, and how many groups are in flight."""

    def __init__(
        self, pool: asyncpg.Pool, acquire_timeout: float, max_group: int = 32, lanes: int = 4
    ) -> None:
        self._pool = pool
        self._timeout = acquire_timeout
        self._max = max(1, max_group)
        self._lanes = max(1, lanes)
        self._waiting: dict[uuid.UUID, Waiting] = {}
        self._in_flight: dict[uuid.UUID, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: groups decided together, the scans in them, and groups decided again one by one
        self.groups = 0
        self.grouped_scans = 0
        self.fallbacks = 0

    async def decide(self, venue_id: uuid.UUID, args: ScanArgs) -> asyncpg.Record:
        """The scan's gate_scan() row, once the transaction that decided it committed."""
        future: asyncio.Future[asyncpg.Record] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(venue_id, []).append((args, future))
        if self._in_flight.get(venue_id, 0) < self._lanes:
            self._in_flight[venue_id] = self._in_flight.get(venue_id, 0) + 1
            task = asyncio.create_task(self._lane(venue_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _lane(self, venue_id: uuid.UUID) -> None:
        """Take groups of the venue's waiting scans until none is left."""
        try:
            while waiting := self._waiting.get(venue_id):
                group, rest = waiting[: self._max], waiting[self._max :]
                if rest:
                    self._waiting[venue_id] = rest
                else:
                    del self._waiting[venue_id]
                group = [(a, f) for a, f in group if not f.done()]  # a caller gone
                if group:
                    await self._decide(venue_id, group)
        finally:
            left = self._in_flight[venue_id] - 1
            if left:
                self._in_flight[venue_id] = left
            else:
                del self._in_flight[venue_id]

    async def _decide(self, venue_id: uuid.UUID, group: Waiting) -> None:
        try:
            conn = await acquire(self._pool, self._timeout)
        except Exception as exc:  # 503: the database does not answer
            _fail(group, exc)
            return
        try:
            if len(group) == 1:
                rows = [await decide(conn, venue_id, group[0][0])]
            else:
                rows = await self._decide_together(conn, venue_id, group)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            if len(group) == 1:
                _fail(group, exc)
                return
            rows = None  # decided again below, one by one
        except asyncio.CancelledError as exc:
            _fail(group, exc)
            raise
        except Exception as exc:  # a bug: these scans answer 500, the lane goes on
            _fail(group, exc)
            return
        finally:
            await self._pool.release(conn)
        if rows is None:
            self.fallbacks += 1
            await asyncio.gather(*(self._decide(venue_id, [item]) for item in group))
            return
        for (_, future), row in zip(group, rows, strict=True):
            if not future.done():
                future.set_result(row)

    async def _decide_together(
        self, conn: asyncpg.Connection, venue_id: uuid.UUID, group: Waiting
    ) -> list[asyncpg.Record]:
        items = [a for a, _ in group]
        rows = await conn.fetch(
            Q()["gates_decide_scans"],
            venue_id,
            [a.gate_id for a in items],
            [a.scan_id for a in items],
            [a.direction for a in items],
            [a.scanned_at for a in items],
            [a.verdict for a in items],
            [a.cred_id for a in items],
            [a.generation for a in items],
            [a.body for a in items],
            [a.suffix for a in items],
        )
        self.groups += 1
        self.grouped_scans += len(items)
        by_index = {r["i"]: r for r in rows}
        return [by_index[k] for k in range(1, len(items) + 1)]


def _fail(group: Waiting, exc: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(exc)


def groups_of(state: Any) -> ScanGroups:
    groups: ScanGroups = state.scan_groups
    return groups
