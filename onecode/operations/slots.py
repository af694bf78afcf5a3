"""Slot operations: change capacity and times, cancel, create a weekly pattern.

The decisions that race with bookings (capacity never below booked, times only while
nothing is booked, the cancel of every open booking) are made by the SQL functions
``onecode_change_slot`` and ``onecode_cancel_slot`` (sql/functions/operations.sql) under
the slot's row lock; this module checks the input's shape, maps their outcome codes to
errors and writes the audit entry in the same transaction.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import msgspec

from onecode.audit import trail as audit
from onecode.audit.trail import Actor
from onecode.catalog.models import SlotIn
from onecode.catalog.rules import SLOT_FUTURE, SLOT_PAST, check_slot_capacity, check_slot_window
from onecode.catalog.service import slots_summary, venue_for_slots
from onecode.errors import AppError, Conflict, NotFound, Unprocessable
from onecode.operations.models import AdminSlot, RecurringSlots, RecurringSlotsIn, SlotPatch
from onecode.sql import Q

MAX_RECURRING_SLOTS = 5000
MAX_RECURRING_DAYS = 366

_CHANGE_ERRORS: dict[str, tuple[type[AppError], str, str]] = {
    "not_found": (NotFound, "slots.not_found", "No such slot at this venue."),
    "cancelled": (Conflict, "slots.cancelled", "The slot is cancelled: it cannot change."),
    "below_booked": (
        Conflict,
        "slots.below_booked",
        "The capacity cannot go below the {booked} place(s) already booked or held for the "
        "waiting list.",
    ),
    "times_locked": (
        Conflict,
        "slots.times_locked",
        "{booked} place(s) are booked: the times can change only while nothing is booked "
        "(cancel the slot and create another).",
    ),
    "bad_window": (
        Unprocessable,
        "slots.bad_window",
        "ends_at must be after starts_at, and a slot lasts at most two days.",
    ),
    "duplicate_window": (
        Conflict,
        "slots.duplicate",
        "The venue has a slot with this window already.",
    ),
}


async def _venue(conn: asyncpg.Connection, venue_id: uuid.UUID) -> asyncpg.Record:
    venue = await conn.fetchrow(Q()["catalog_select_venue_state"], venue_id)
    if venue is None:
        raise NotFound("No such venue.", "venues.not_found")
    return venue


async def get_slot(conn: asyncpg.Connection, venue_id: uuid.UUID, slot_id: uuid.UUID) -> AdminSlot:
    row = await conn.fetchrow(Q()["operations_select_slot"], slot_id, venue_id)
    if row is None:
        raise NotFound("No such slot at this venue.", "slots.not_found")
    return msgspec.convert(dict(row), AdminSlot)


def _check_time(name: str, value: datetime, now: datetime) -> None:
    if value.tzinfo is None:
        raise Unprocessable(f"{name} needs a UTC offset.", "slots.naive_time")
    if not now - SLOT_PAST <= value <= now + SLOT_FUTURE + timedelta(days=2):
        raise Unprocessable(
            f"{name} {value.isoformat()} is out of range: slots start at most 31 days ago "
            "and at most five years ahead.",
            "slots.out_of_range",
        )


async def patch_slot(
    conn: asyncpg.Connection,
    actor: Actor,
    venue_id: uuid.UUID,
    slot_id: uuid.UUID,
    data: SlotPatch,
) -> AdminSlot:
    """Change capacity (never below booked) and/or times (only while nothing is booked)."""
    capacity = None if data.capacity is msgspec.UNSET else data.capacity
    starts = None if data.starts_at is msgspec.UNSET else data.starts_at
    ends = None if data.ends_at is msgspec.UNSET else data.ends_at
    now = datetime.now(UTC)
    for name, value in (("starts_at", starts), ("ends_at", ends)):
        if value is not None:
            _check_time(name, value, now)
    async with conn.transaction():
        venue = await _venue(conn, venue_id)
        if capacity is not None:
            check_slot_capacity("", capacity, venue["capacity_daily"])
        row = await conn.fetchrow(
            Q()["operations_change_slot"], slot_id, venue_id, capacity, starts, ends
        )
        assert row is not None
        if row["outcome"] != "ok":
            error, code, detail = _CHANGE_ERRORS[row["outcome"]]
            raise error(detail.format(booked=row["booked"]), code)
        old = {
            "capacity": row["old_capacity"],
            "starts_at": row["old_starts_at"],
            "ends_at": row["old_ends_at"],
        }
        new = {
            "capacity": capacity if capacity is not None else old["capacity"],
            "starts_at": starts if starts is not None else old["starts_at"],
            "ends_at": ends if ends is not None else old["ends_at"],
        }
        before, after = audit.changed(old, new)
        if after:
            await audit.record(
                conn,
                actor,
                "slot.changed",
                "slot",
                slot_id,
                venue_id=venue_id,
                region_code=venue["region_code"],
                before=before,
                after=after,
            )
    return await get_slot(conn, venue_id, slot_id)


async def cancel_slot(
    conn: asyncpg.Connection,
    actor: Actor,
    venue_id: uuid.UUID,
    slot_id: uuid.UUID,
    reason: str,
) -> AdminSlot:
    """Cancel the slot and every open booking of it, with the reason travellers see;
    cancelling twice answers the first cancel."""
    reason = reason.strip()
    if not reason:
        raise Unprocessable("Give the travellers a reason.", "slots.no_reason")
    async with conn.transaction():
        venue = await _venue(conn, venue_id)
        row = await conn.fetchrow(
            Q()["operations_cancel_slot"], slot_id, venue_id, reason, datetime.now(UTC)
        )
        assert row is not None
        outcome = row["outcome"]
        if outcome == "not_found":
            raise NotFound("No such slot at this venue.", "slots.not_found")
        if outcome == "ended":
            raise Conflict("The slot has ended: there is nothing to cancel.", "slots.ended")
        n = int(row["cancelled_bookings"])
        if outcome == "ok":
            await audit.record(
                conn,
                actor,
                "slot.cancelled",
                "slot",
                slot_id,
                venue_id=venue_id,
                region_code=venue["region_code"],
                after={"reason": reason, "cancelled_bookings": n},
            )
    slot = await get_slot(conn, venue_id, slot_id)
    return msgspec.structs.replace(slot, cancelled_bookings=n)


def expand(data: RecurringSlotsIn, timezone: str) -> list[SlotIn]:
    """The slots of a weekly pattern, in the venue's local time (DST-aware)."""
    if data.to_date < data.from_date:
        raise Unprocessable("to is before from.", "slots.bad_range")
    if (data.to_date - data.from_date).days >= MAX_RECURRING_DAYS:
        raise Unprocessable(
            f"A pattern spans at most {MAX_RECURRING_DAYS} days.", "slots.bad_range"
        )
    windows = [t.window() for t in data.times]
    if len(set(windows)) != len(windows):
        raise Unprocessable("The same window twice in times.", "slots.duplicate")
    for i, (start, end) in enumerate(windows):
        if start == end:
            raise Unprocessable(f"times[{i}]: start and end are equal.", "slots.bad_window")
    zone = zoneinfo.ZoneInfo(timezone)
    weekdays = set(data.weekdays)
    out: list[SlotIn] = []
    day: date = data.from_date
    while day <= data.to_date:
        if day.isoweekday() in weekdays:
            for start, end in windows:
                end_day = day if end > start else day + timedelta(days=1)
                out.append(
                    SlotIn(
                        starts_at=_local(day, start, zone),
                        ends_at=_local(end_day, end, zone),
                        capacity=data.capacity,
                    )
                )
                if len(out) > MAX_RECURRING_SLOTS:
                    raise Unprocessable(
                        f"The pattern makes more than {MAX_RECURRING_SLOTS} slots.",
                        "slots.too_many",
                    )
        day += timedelta(days=1)
    if not out:
        raise Unprocessable("No chosen weekday falls in the range.", "slots.empty_pattern")
    return out


def _local(day: date, at: time, zone: zoneinfo.ZoneInfo) -> datetime:
    # a local time skipped by a DST change is read with the offset before it, then
    # normalised through UTC (02:30 on a spring-forward night is 03:30)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


async def create_recurring(
    conn: asyncpg.Connection, actor: Actor, venue_id: uuid.UUID, data: RecurringSlotsIn
) -> RecurringSlots:
    """Create a weekly pattern of slots; windows the venue has already are skipped."""
    now = datetime.now(UTC)
    async with conn.transaction():
        venue = await venue_for_slots(conn, venue_id)
        slots = expand(data, venue["timezone"])
        check_slot_capacity("", data.capacity, venue["capacity_daily"])
        for i, s in enumerate(slots):
            check_slot_window(
                f"slot {i} ({s.starts_at.isoformat()}): ", s.starts_at, s.ends_at, now
            )
        rows = await conn.fetch(
            Q()["operations_insert_slots_skipping"],
            venue_id,
            [uuid.uuid4() for _ in slots],
            [s.starts_at for s in slots],
            [s.ends_at for s in slots],
            [s.capacity for s in slots],
        )
        made = sorted(
            (msgspec.convert(dict(r), AdminSlot) for r in rows), key=lambda s: s.starts_at
        )
        if made:
            summary = slots_summary(
                [
                    SlotIn(starts_at=s.starts_at, ends_at=s.ends_at, capacity=s.capacity)
                    for s in made
                ]
            )
            summary |= {"weekdays": sorted(set(data.weekdays)), "skipped": len(slots) - len(made)}
            await audit.record(
                conn,
                actor,
                "slots.created",
                "venue",
                venue_id,
                venue_id=venue_id,
                region_code=venue["region_code"],
                after=summary,
            )
    return RecurringSlots(slots=made, skipped=len(slots) - len(made))
