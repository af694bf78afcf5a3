"""Catalog rules: who may be created where, and what a venue's public face shows."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import date
from typing import TypeVar

import asyncpg
import msgspec

from onecode.auth import Kind, store_token
from onecode.catalog.models import (
    Created,
    GateIn,
    Live,
    OperatorIn,
    PlannerIn,
    Region,
    RegionIn,
    Slot,
    SlotsIn,
    Venue,
    VenueCreated,
    VenueIn,
)
from onecode.catalog.place_keys import initial_place_code
from onecode.crowd import crowd_level
from onecode.errors import Conflict, NotFound, Unprocessable
from onecode.sql import Q

V = TypeVar("V", bound=Venue)


async def create_region(conn: asyncpg.Connection, data: RegionIn) -> Region:
    async with conn.transaction():
        if data.parent_code is not None and not await conn.fetchval(
            Q()["catalog_region_exists"], data.parent_code
        ):
            raise Unprocessable(
                f"Parent region {data.parent_code} does not exist.", "regions.unknown_parent"
            )
        row = await conn.fetchrow(
            Q()["catalog_insert_region"], data.code, data.name, data.parent_code
        )
    if row is None:
        raise Conflict(f"Region {data.code} exists already.", "regions.exists")
    return msgspec.convert(dict(row), Region)


def _check_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(f"Unknown time zone {name!r}.", "venues.bad_timezone") from None


async def create_venue(conn: asyncpg.Connection, data: VenueIn) -> VenueCreated:
    _check_timezone(data.timezone)
    if data.capacity_daily < data.capacity_instant:
        raise Unprocessable(
            "capacity_daily cannot be below capacity_instant.", "venues.bad_capacity"
        )
    if not await conn.fetchval(Q()["catalog_region_exists"], data.region_code):
        raise Unprocessable(f"Region {data.region_code} does not exist.", "regions.not_found")
    venue_id = uuid.uuid4()
    await conn.execute(
        Q()["catalog_insert_venue"],
        venue_id,
        data.region_code,
        data.name,
        data.kind,
        data.gated,
        data.requires_booking,
        data.entry_rule,
        data.capacity_instant,
        data.capacity_daily,
        data.occupancy_cap_pct,
        data.timezone,
        data.lat,
        data.lon,
        data.max_party_size,
        data.bookings_per_day,
        data.booking_window_days,
        data.early_grace_min,
        data.late_grace_min,
        await initial_place_code(conn, venue_id),  # signed (onecode.catalog.place_keys)
    )
    rows = await conn.fetch(Q()["catalog_select_venues"], venue_id, None)
    return _venue(rows[0], VenueCreated)


def _venue(row: asyncpg.Record, shape: type[V]) -> V:
    fields = dict(row)
    fields["crowd_level"] = crowd_level(int(fields["inside"]), int(fields["capacity_instant"]))
    fields["inside"] = max(0, int(fields["inside"]))
    return msgspec.convert(fields, shape)


async def get_venue_and_place_code(
    conn: asyncpg.Connection, venue_id: uuid.UUID
) -> tuple[Venue, str]:
    """The public venue and its current place code (which public listings never show)."""
    rows = await conn.fetch(Q()["catalog_select_venues"], venue_id, None)
    if not rows:
        raise NotFound("No such venue.", "venues.not_found")
    return _venue(rows[0], Venue), str(rows[0]["place_code"])


async def get_venue(conn: asyncpg.Connection, venue_id: uuid.UUID) -> Venue:
    rows = await conn.fetch(Q()["catalog_select_venues"], venue_id, None)
    if not rows:
        raise NotFound("No such venue.", "venues.not_found")
    return _venue(rows[0], Venue)


async def region_tree(conn: asyncpg.Connection, codes: list[str]) -> list[str]:
    """The given regions and every region below them."""
    found = await conn.fetchval(Q()["catalog_select_region_tree"], codes)
    return list(found or [])


async def list_venues(conn: asyncpg.Connection, region: str | None) -> list[Venue]:
    regions: list[str] | None = None
    if region is not None:
        regions = await region_tree(conn, [region])
        if not regions:
            raise NotFound(f"No region {region}.", "regions.not_found")
    rows = await conn.fetch(Q()["catalog_select_venues"], None, regions)
    return [_venue(r, Venue) for r in rows]


async def create_gate(conn: asyncpg.Connection, venue_id: uuid.UUID, data: GateIn) -> Created:
    if not await conn.fetchval(Q()["catalog_venue_exists"], venue_id):
        raise NotFound("No such venue.", "venues.not_found")
    gate_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute(Q()["catalog_insert_gate"], gate_id, venue_id, data.name)
        token = await store_token(conn, Kind.GATE, gate_id)
    return Created(id=gate_id, token=token)


async def create_operator(conn: asyncpg.Connection, data: OperatorIn) -> Created:
    missing = await conn.fetch(Q()["catalog_select_missing_venues"], data.venue_ids)
    if missing:
        raise Unprocessable(f"Unknown venue {missing[0][0]}.", "venues.not_found")
    operator_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute(Q()["catalog_insert_operator"], operator_id, data.name)
        await conn.execute(Q()["catalog_insert_operator_venues"], operator_id, data.venue_ids)
        token = await store_token(conn, Kind.OPERATOR, operator_id)
    return Created(id=operator_id, token=token)


async def create_planner(conn: asyncpg.Connection, data: PlannerIn) -> Created:
    missing = await conn.fetch(Q()["catalog_select_missing_regions"], data.region_codes)
    if missing:
        raise Unprocessable(f"Unknown region {missing[0][0]}.", "regions.not_found")
    planner_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute(Q()["catalog_insert_planner"], planner_id, data.name)
        await conn.execute(Q()["catalog_insert_planner_regions"], planner_id, data.region_codes)
        token = await store_token(conn, Kind.PLANNER, planner_id)
    return Created(id=planner_id, token=token)


async def create_slots(conn: asyncpg.Connection, venue_id: uuid.UUID, data: SlotsIn) -> list[Slot]:
    if not await conn.fetchval(Q()["catalog_venue_exists"], venue_id):
        raise NotFound("No such venue.", "venues.not_found")
    windows = set()
    for i, slot in enumerate(data.slots):
        if slot.starts_at.tzinfo is None or slot.ends_at.tzinfo is None:
            raise Unprocessable(f"slots[{i}]: times need a UTC offset.", "slots.naive_time")
        if slot.ends_at <= slot.starts_at:
            raise Unprocessable(f"slots[{i}]: ends_at must be after starts_at.", "slots.bad_window")
        if (slot.ends_at - slot.starts_at).days >= 2:
            raise Unprocessable(f"slots[{i}]: a slot lasts at most two days.", "slots.bad_window")
        key = (slot.starts_at, slot.ends_at)
        if key in windows:
            raise Conflict(f"slots[{i}]: the same window twice.", "slots.duplicate")
        windows.add(key)
    ids = [uuid.uuid4() for _ in data.slots]
    try:
        rows = await conn.fetch(
            Q()["catalog_insert_slots"],
            venue_id,
            ids,
            [s.starts_at for s in data.slots],
            [s.ends_at for s in data.slots],
            [s.capacity for s in data.slots],
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("A slot with the same window exists already.", "slots.duplicate") from None
    return [msgspec.convert(dict(r), Slot) for r in sorted(rows, key=lambda r: r["starts_at"])]


async def list_slots(conn: asyncpg.Connection, venue_id: uuid.UUID, day: date) -> list[Slot]:
    if not await conn.fetchval(Q()["catalog_venue_exists"], venue_id):
        raise NotFound("No such venue.", "venues.not_found")
    rows = await conn.fetch(Q()["catalog_select_slots_for_day"], venue_id, day)
    return [msgspec.convert(dict(r), Slot) for r in rows]


async def live(conn: asyncpg.Connection, venue_id: uuid.UUID) -> Live:
    row = await conn.fetchrow(Q()["catalog_select_live"], venue_id)
    if row is None:
        raise NotFound("No such venue.", "venues.not_found")
    inside = max(0, int(row["inside"]))
    cap = int(row["capacity_instant"])
    return Live(
        venue_id=row["venue_id"],
        inside=inside,
        capacity_instant=cap,
        load=round(inside / cap, 4),
        level=crowd_level(inside, cap),
        entries_today=int(row["entries_today"]),
        occupancy_cap_pct=row["occupancy_cap_pct"],
    )
