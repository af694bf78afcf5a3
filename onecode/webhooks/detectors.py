"""Alert detectors: the worker's periodic step that turns crowd levels, bookings and silent
gates into events (``onecode_emit_event``), each in the transaction that records what
was announced, under a transaction-level advisory lock so that several workers announce
once.

- ``venue.level_changed``: a venue's level (green, yellow >= 80%, orange >= 90%,
  red >= 95%) of people inside against ``capacity_instant`` (``kind: instant``) or of
  entries today against ``capacity_daily`` (``kind: daily``). Up at once; down only when
  the load is ``alerts_hysteresis_pct`` points below the threshold it crossed, so that a
  venue hovering at 80% does not flap between green and yellow.
- ``venue.capacity_forecast_reached``: the places booked for a local day (today and the
  next 13 days) reach a level of ``capacity_daily``: the advance announcement of the
  Tourism Law, Art. 45. Once per venue, day and level.
- ``gate.offline``: a gate whose token has made no request for ``gate_offline_minutes``
  (gates never heard from are not announced). Heard again, it may be announced again.

Scans never wait for any of this: the detectors read the counters scans already keep.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
from litestar import Litestar

from onecode.crowd import Level, crowd_level
from onecode.events.models import EventType
from onecode.events.service import emit
from onecode.settings import Settings
from onecode.sql import Q
from onecode.tasks import running

LEVELS: tuple[Level, ...] = ("green", "yellow", "orange", "red")
FORECAST_DAYS = 14
# the level's lower bound, in % of capacity (the message gives the level, not a count:
# a head count below k must not leave in a message planners or integrators receive)
THRESHOLD_PCT = {"green": 0, "yellow": 80, "orange": 90, "red": 95}
HEARTBEAT_FLUSH_SECONDS = 5.0


def _rank(level: str) -> int:
    return ("green", "yellow", "orange", "red").index(level)


def settled_level(current: Level, count: int, capacity: int, hysteresis_pct: int) -> Level:
    """The level to announce: the raw level when it is higher; a lower one only when the
    load is ``hysteresis_pct`` points below that level's threshold."""
    raw = crowd_level(count, capacity)
    if _rank(raw) >= _rank(current):
        return raw
    # the level the load would have with hysteresis_pct more points of capacity
    eased = crowd_level(count * 100 + capacity * hysteresis_pct, capacity * 100)
    return eased if _rank(eased) < _rank(current) else current


def _pct(count: int, capacity: int) -> float:
    return round(100.0 * count / capacity, 2) if capacity > 0 else 0.0


async def detect_levels(conn: asyncpg.Connection, settings: Settings, now: datetime) -> int:
    """Announce venues whose instant or daily level changed; returns how many changes."""
    states = {
        (r["venue_id"], r["kind"]): r for r in await conn.fetch(Q()["webhooks_select_alert_levels"])
    }
    changes = 0
    for venue in await conn.fetch(Q()["webhooks_select_loads"]):
        day = venue["local_day"]
        for kind, count, capacity in (
            ("instant", int(venue["inside"]), int(venue["capacity_instant"])),
            ("daily", int(venue["entries"]), int(venue["capacity_daily"])),
        ):
            state = states.get((venue["id"], kind))
            current: Level = "green"
            if state is not None and (kind == "instant" or state["local_day"] == day):
                current = state["level"]
            level = settled_level(current, count, capacity, settings.alerts_hysteresis_pct)
            pct = _pct(count, capacity)
            stale = state is None or state["level"] != level or state["local_day"] != day
            if stale:
                await conn.execute(
                    Q()["webhooks_upsert_alert_level"], venue["id"], kind, level, day, pct, now
                )
            if level != current:
                changes += 1
                await emit(
                    conn,
                    EventType.VENUE_LEVEL_CHANGED,
                    {
                        "kind": kind,
                        "level": level,
                        "previous_level": current,
                        "threshold_pct": THRESHOLD_PCT[level],
                        "capacity": capacity,
                        "local_day": day.isoformat(),
                    },
                    region=venue["region_code"],
                    venue=venue["id"],
                )
    return changes


async def detect_forecasts(conn: asyncpg.Connection, now: datetime) -> int:
    """Announce days whose bookings reached a new level of the daily capacity."""
    announced = 0
    for row in await conn.fetch(Q()["webhooks_select_booked_days"], FORECAST_DAYS):
        booked, capacity = int(row["booked"]), int(row["capacity_daily"])
        reached = _rank(crowd_level(booked, capacity))
        new: list[str] = []
        for level in LEVELS[1 : reached + 1]:
            got = await conn.fetchval(
                Q()["webhooks_insert_forecast_alert"],
                row["id"],
                row["local_day"],
                level,
                booked,
                now,
            )
            if got is not None:
                new.append(got)
        if new:
            announced += 1
            await emit(
                conn,
                EventType.VENUE_CAPACITY_FORECAST_REACHED,
                {
                    "local_day": row["local_day"].isoformat(),
                    "level": new[-1],
                    "booked": booked,
                    "capacity_daily": capacity,
                    "load_pct": _pct(booked, capacity),
                },
                region=row["region_code"],
                venue=row["id"],
            )
    return announced


async def detect_offline_gates(conn: asyncpg.Connection, settings: Settings, now: datetime) -> int:
    """Announce gates not heard from for ``gate_offline_minutes``."""
    silent_since = now - timedelta(minutes=settings.gate_offline_minutes)
    rows = await conn.fetch(Q()["webhooks_mark_gates_offline"], silent_since, now)
    for row in rows:
        await emit(
            conn,
            EventType.GATE_OFFLINE,
            {
                "gate_id": str(row["gate_id"]),
                "gate_name": row["name"],
                "last_seen_at": row["last_seen_at"].isoformat(),
                "offline_after_minutes": settings.gate_offline_minutes,
            },
            region=row["region_code"],
            venue=row["venue_id"],
        )
    return len(rows)


async def detect(conn: asyncpg.Connection, settings: Settings, now: datetime | None = None) -> bool:
    """Run every detector once in one transaction; False when another worker holds the
    lock (it is doing the same)."""
    now = now or datetime.now(UTC)
    async with conn.transaction():
        if not await conn.fetchval(Q()["webhooks_try_detector_lock"]):
            return False
        await detect_levels(conn, settings, now)
        await detect_forecasts(conn, now)
        await detect_offline_gates(conn, settings, now)
    return True


def detector_tick(settings: Settings) -> Callable[[asyncpg.Pool], Awaitable[None]]:
    """The worker's step: run the detectors every ``alerts_interval_seconds``."""
    last = [0.0]

    async def tick(pool: asyncpg.Pool) -> None:
        if time.monotonic() - last[0] < settings.alerts_interval_seconds:
            return
        last[0] = time.monotonic()
        async with pool.acquire() as proxy:
            # a pooled connection proxies a Connection (asyncpg types it apart)
            await detect(cast(asyncpg.Connection, proxy), settings)

    return tick


# --- gate heartbeats -----------------------------------------------------------------


async def flush_sightings(conn: asyncpg.Connection, seen: dict[uuid.UUID, float]) -> None:
    if not seen:
        return
    ids = list(seen)
    times = [datetime.fromtimestamp(seen[g], UTC) for g in ids]
    await conn.execute(Q()["webhooks_upsert_heartbeats"], ids, times)


@asynccontextmanager
async def heartbeat_flusher(app: Litestar) -> AsyncGenerator[None, None]:
    """Lifespan: write the gates this process heard from to ``gate_heartbeats`` every few
    seconds (one statement for all of them), never on a request's path."""
    import asyncio
    import contextlib

    sightings: Any = app.state.get("gate_sightings")
    if sightings is None:
        yield
        return

    async def flush() -> None:
        seen = sightings.take()
        if seen:
            async with app.state.pool.acquire() as conn:
                await flush_sightings(conn, seen)

    async def loop() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_FLUSH_SECONDS)
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await flush()

    try:
        async with running(loop(), "gate-heartbeats"):
            yield
    finally:
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await flush()
