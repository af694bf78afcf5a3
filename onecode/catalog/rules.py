"""What makes catalog input contradictory: one place for the rules that creation and
later changes (PATCH) share. Pure functions of the values; no SQL, no HTTP."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from onecode.errors import Unprocessable

# slots are for running a season: nothing older than a month (late entry of today's
# timetable is fine), nothing further ahead than five years (year 0001 or 9999 is a typo)
SLOT_PAST = timedelta(days=31)
SLOT_FUTURE = timedelta(days=5 * 366)
SLOT_LONGEST = timedelta(days=2)


def check_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(f"Unknown time zone {name!r}.", "venues.bad_timezone") from None


def venue_contradictions(v: Mapping[str, Any]) -> list[str]:
    """What is wrong with a venue's settings taken together (empty when nothing is)."""
    wrong: list[str] = []
    if v["requires_booking"] and not v["gated"]:
        wrong.append(
            "requires_booking: true needs gated: true (bookings are checked at a gate, and "
            "an ungated venue has none)"
        )
    if v.get("occupancy_cap_pct") is not None and not v["gated"]:
        wrong.append("occupancy_cap_pct is enforced at gates: an ungated venue cannot have one")
    if (v.get("lat") is None) != (v.get("lon") is None):
        wrong.append("lat and lon go together: give both or neither")
    return wrong


def check_venue(v: Mapping[str, Any]) -> None:
    """Refuse a venue whose settings contradict each other (422)."""
    if v["capacity_daily"] < v["capacity_instant"]:
        raise Unprocessable(
            "capacity_daily cannot be below capacity_instant.", "venues.bad_capacity"
        )
    wrong = venue_contradictions(v)
    if wrong:
        raise Unprocessable("; ".join(wrong) + ".", "venues.contradiction")
    check_timezone(str(v.get("timezone", "UTC")))


def check_slot_window(where: str, starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """A slot's window: aware times, in order, at most two days, in a sane range."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise Unprocessable(f"{where}times need a UTC offset.", "slots.naive_time")
    if ends_at <= starts_at:
        raise Unprocessable(f"{where}ends_at must be after starts_at.", "slots.bad_window")
    if ends_at - starts_at >= SLOT_LONGEST:
        raise Unprocessable(f"{where}a slot lasts at most two days.", "slots.bad_window")
    if starts_at < now - SLOT_PAST or starts_at > now + SLOT_FUTURE:
        raise Unprocessable(
            f"{where}starts_at {starts_at.isoformat()} is out of range: slots start at most "
            "31 days ago and at most five years ahead.",
            "slots.out_of_range",
        )


def check_slot_capacity(where: str, capacity: int, capacity_daily: int) -> None:
    if capacity > capacity_daily:
        raise Unprocessable(
            f"{where}capacity {capacity} is above the venue's capacity_daily {capacity_daily}.",
            "slots.over_daily_capacity",
        )
