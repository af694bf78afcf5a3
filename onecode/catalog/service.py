"""Catalog rules: who may be created where, and what a venue's public face shows."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import TypeVar

import asyncpg
import msgspec

from onecode.audit import trail as audit
from onecode.audit.trail import Actor
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
    SlotIn,
    SlotsIn,
    Venue,
    VenueCreated,
    VenueIn,
)
from onecode.catalog.place_keys import initial_place_code
from onecode.catalog.rules import check_slot_capacity, check_slot_window, check_venue
from onecode.crowd import crowd_level
from onecode.errors import Conflict, NotFound, Unprocessable
from onecode.sql import Q

V = TypeVar("V", bound=Venue)


async def create_region(
    conn: asyncpg.Connection, data: RegionIn, actor: Actor | None = None
) -> Region:
    async with conn.transaction():
        if data.parent_code is not None and not await conn.fetchval(
            Q()["catalog_region_exists"], data.parent_code
        ):
            raise Unprocessable(
                f"Parent region {data.parent_code} does not exist.", "regions.unknown_parent"
            )
        row = await conn.fetchrow(
            Q()["catalog_insert_region"],
            data.code,
            data.name,
            data.parent_code,
            data.default_locale,
        )
        if row is not None and actor is not None:
            await audit.record(
                conn,
                actor,
                "region.created",
                "region",
                data.code,
                region_code=data.code,
                after=dict(row),
            )
    if row is None:
        raise Conflict(f"Region {data.code} exists already.", "regions.exists")
    return msgspec.convert(dict(row), Region)


async def region_locale(conn: asyncpg.Connection, code: str) -> str | None:
    """The region's default language, or None for an unknown region."""
    value = await conn.fetchval(Q()["catalog_select_region_locale"], code)
    return None if value is None else str(value)


async def create_venue(
    conn: asyncpg.Connection, data: VenueIn, actor: Actor | None = None
) -> VenueCreated:
    check_venue(msgspec.structs.asdict(data))  # contradictions are 422 (onecode.catalog.rules)
    if not await conn.fetchval(Q()["catalog_region_exists"], data.region_code):
        raise Unprocessable(f"Region {data.region_code} does not exist.", "regions.not_found")
    venue_id = uuid.uuid4()
    async with conn.transaction():
        await _insert_venue(conn, venue_id, data)
        if actor is not None:
            await audit.record(
                conn,
                actor,
                "venue.created",
                "venue",
                venue_id,
                venue_id=venue_id,
                region_code=data.region_code,
                after=msgspec.structs.asdict(data),
            )
    rows = await conn.fetch(Q()["catalog_select_venues"], venue_id, None)
    return _venue(rows[0], VenueCreated)


async def _insert_venue(conn: asyncpg.Connection, venue_id: uuid.UUID, data: VenueIn) -> None:
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
        data.live_code_required,
        await initial_place_code(conn, venue_id),  # signed (onecode.catalog.place_keys)
        data.walkin_quota_pct,
        data.walkin_release_min,
        data.offer_expiry_min,
    )


def _venue(row: asyncpg.Record, shape: type[V]) -> V:
    fields = dict(row)
    fields["crowd_level"] = crowd_level(int(fields.pop("inside")), int(fields["capacity_instant"]))
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


async def create_gate(
    conn: asyncpg.Connection, venue_id: uuid.UUID, data: GateIn, actor: Actor | None = None
) -> Created:
    gate_id = uuid.uuid4()
    async with conn.transaction():
        venue = await conn.fetchrow(Q()["catalog_select_venue_state"], venue_id)
        if venue is None:
            raise NotFound("No such venue.", "venues.not_found")
        if not venue["gated"]:
            raise Unprocessable(
                "The venue is ungated (gated: false): it has no gates to register.",
                "gates.venue_ungated",
            )
        await conn.execute(Q()["catalog_insert_gate"], gate_id, venue_id, data.name)
        token = await store_token(conn, Kind.GATE, gate_id)
        if actor is not None:
            await audit.record(
                conn,
                actor,
                "gate.created",
                "gate",
                gate_id,
                venue_id=venue_id,
                region_code=venue["region_code"],
                after={"name": data.name},
            )
    return Created(id=gate_id, token=token)


async def create_operator(
    conn: asyncpg.Connection, data: OperatorIn, actor: Actor | None = None
) -> Created:
    missing = await conn.fetch(Q()["catalog_select_missing_venues"], data.venue_ids)
    if missing:
        raise Unprocessable(f"Unknown venue {missing[0][0]}.", "venues.not_found")
    operator_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute(Q()["catalog_insert_operator"], operator_id, data.name)
        await conn.execute(Q()["catalog_insert_operator_venues"], operator_id, data.venue_ids)
        token = await store_token(conn, Kind.OPERATOR, operator_id)
        if actor is not None:  # no name: an operator's name is often a person's
            await audit.record(
                conn,
                actor,
                "operator.created",
                "operator",
                operator_id,
                after={"venue_ids": sorted(str(v) for v in set(data.venue_ids))},
            )
    return Created(id=operator_id, token=token)


async def create_planner(
    conn: asyncpg.Connection, data: PlannerIn, actor: Actor | None = None
) -> Created:
    missing = await conn.fetch(Q()["catalog_select_missing_regions"], data.region_codes)
    if missing:
        raise Unprocessable(f"Unknown region {missing[0][0]}.", "regions.not_found")
    planner_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute(Q()["catalog_insert_planner"], planner_id, data.name)
        await conn.execute(Q()["catalog_insert_planner_regions"], planner_id, data.region_codes)
        token = await store_token(conn, Kind.PLANNER, planner_id)
        if actor is not None:  # no name: a planner's name is often a person's
            await audit.record(
                conn,
                actor,
                "planner.created",
                "planner",
                planner_id,
                after={"region_codes": sorted(set(data.region_codes))},
            )
    return Created(id=planner_id, token=token)


async def venue_for_slots(conn: asyncpg.Connection, venue_id: uuid.UUID) -> asyncpg.Record:
    """The venue's state, locked FOR SHARE until the transaction ends; 404, or 409 when
    the venue is deactivated (it takes no new slots)."""
    venue = await conn.fetchrow(Q()["catalog_select_venue_state"], venue_id)
    if venue is None:
        raise NotFound("No such venue.", "venues.not_found")
    if not venue["active"]:
        raise Conflict("The venue is deactivated: it takes no new slots.", "venues.inactive")
    return venue


def check_slots(data: SlotsIn, capacity_daily: int) -> None:
    now = datetime.now(UTC)
    windows = set()
    for i, slot in enumerate(data.slots):
        check_slot_window(f"slots[{i}]: ", slot.starts_at, slot.ends_at, now)
        check_slot_capacity(f"slots[{i}]: ", slot.capacity, capacity_daily)
        key = (slot.starts_at, slot.ends_at)
        if key in windows:
            raise Conflict(f"slots[{i}]: the same window twice.", "slots.duplicate")
        windows.add(key)


async def create_slots(
    conn: asyncpg.Connection, venue_id: uuid.UUID, data: SlotsIn, actor: Actor | None = None
) -> list[Slot]:
    ids = [uuid.uuid4() for _ in data.slots]
    try:
        async with conn.transaction():
            venue = await venue_for_slots(conn, venue_id)
            check_slots(data, venue["capacity_daily"])
            rows = await conn.fetch(
                Q()["catalog_insert_slots"],
                venue_id,
                ids,
                [s.starts_at for s in data.slots],
                [s.ends_at for s in data.slots],
                [s.capacity for s in data.slots],
            )
            if actor is not None:
                await audit.record(
                    conn,
                    actor,
                    "slots.created",
                    "venue",
                    venue_id,
                    venue_id=venue_id,
                    region_code=venue["region_code"],
                    after=slots_summary(data.slots),
                )
    except asyncpg.UniqueViolationError:
        raise Conflict("A slot with the same window exists already.", "slots.duplicate") from None
    return [msgspec.convert(dict(r), Slot) for r in sorted(rows, key=lambda r: r["starts_at"])]


def slots_summary(slots: list[SlotIn]) -> dict[str, object]:
    """What the audit keeps of a batch of new slots."""
    return {
        "count": len(slots),
        "first_starts_at": min(s.starts_at for s in slots).isoformat(),
        "last_ends_at": max(s.ends_at for s in slots).isoformat(),
        "capacities": sorted({s.capacity for s in slots}),
    }


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
