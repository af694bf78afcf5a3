"""Retention of whereabouts (issue #16): raw scans and check-ins older than
``Settings.retention_days`` are deleted, with the traveller-level rollups of those days
(visit set, dwell pairs, trips: whereabouts too, at hour resolution). What planners
read stays: the released cells of every day (``flow_releases``) and the per-hour
people counts behind the crowd levels (``flow_occupancy_hours``).

Order matters: the days up to the cutoff are released first (so nothing is lost to
planners), and raw rows go only once the rollup watermark has consumed them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from onecode.flows import privacy
from onecode.sql import Q


class Retained(msgspec.Struct, frozen=True, kw_only=True):
    cutoff: datetime
    scans: int
    checkins: int
    visit_hours: int
    dwell: int
    trips: int


def _count(status: str) -> int:
    return int(status.split()[-1]) if status else 0


async def retain(
    conn: asyncpg.Connection,
    days: int,
    params: privacy.Params,
    *,
    now: datetime | None = None,
) -> Retained:
    """Delete what is older than ``days`` days (at ``now``), after releasing it."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    # the last local day that ended before the cutoff in every time zone (UTC-12 at worst)
    last_day = (cutoff - timedelta(hours=14)).date() - timedelta(days=1)
    start = await conn.fetchval(Q()["flows_select_release_start"])
    if start is not None and start <= last_day:
        await privacy.ensure_released(conn, start, last_day, params)
    async with conn.transaction():
        scans = _count(await conn.execute(Q()["flows_delete_expired_scans"], cutoff))
        checkins = _count(await conn.execute(Q()["flows_delete_expired_checkins"], cutoff))
        visit_hours = _count(await conn.execute(Q()["flows_delete_expired_visit_hours"], last_day))
        dwell = _count(await conn.execute(Q()["flows_delete_expired_dwell"], last_day))
        trips = _count(await conn.execute(Q()["flows_delete_expired_trips"], last_day))
    return Retained(
        cutoff=cutoff,
        scans=scans,
        checkins=checkins,
        visit_hours=visit_hours,
        dwell=dwell,
        trips=trips,
    )
