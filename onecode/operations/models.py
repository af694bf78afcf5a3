"""Wire shapes of operations: admin listings, partial changes, slot changes, audit."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from onecode.catalog.models import Capacity, EntryRule, Input, LocaleTag, Name, RegionCode

PrincipalKind = Literal["gates", "operators", "planners"]
Weekday = Annotated[int, Meta(ge=1, le=7)]  # ISO: 1 Monday … 7 Sunday
Reason = Annotated[str, Meta(min_length=1, max_length=500)]


class AdminRegion(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    parent_code: str | None
    created_at: datetime
    changed_at: datetime
    default_locale: str = "zh-CN"


class RegionPage(msgspec.Struct, frozen=True, kw_only=True):
    """Ordered by code; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[AdminRegion]
    next_cursor: str | None


class RegionPatch(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Partial: a field left out keeps its value; ``parent_code: null`` makes a root."""

    name: Name | UnsetType = UNSET
    parent_code: RegionCode | UnsetType | None = UNSET
    #: the language the region's dashboard opens in when the browser asks for none
    #: onecode speaks (issue 19)
    default_locale: LocaleTag | UnsetType = UNSET


class AdminVenue(msgspec.Struct, frozen=True, kw_only=True):
    """A venue as the admin sees it: its settings, place code and state."""

    id: uuid.UUID
    region_code: str
    name: str
    kind: str
    gated: bool
    requires_booking: bool
    entry_rule: str
    capacity_instant: int
    capacity_daily: int
    occupancy_cap_pct: int | None
    timezone: str
    lat: float | None
    lon: float | None
    max_party_size: int
    bookings_per_day: int
    booking_window_days: int
    early_grace_min: int
    late_grace_min: int
    place_code: str
    active: bool
    deactivated_at: datetime | None
    created_at: datetime
    changed_at: datetime
    walkin_quota_pct: int = 0
    walkin_release_min: int = 60
    offer_expiry_min: int = 15


class VenuePage(msgspec.Struct, frozen=True, kw_only=True):
    """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[AdminVenue]
    next_cursor: str | None


class VenuePatch(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Partial: a field left out keeps its value; the venue after the change is checked
    as a whole (``gated: false`` with ``requires_booking: true`` is refused, whichever
    of the two the request names)."""

    region_code: RegionCode | UnsetType = UNSET
    name: Name | UnsetType = UNSET
    kind: Annotated[str, Meta(min_length=1, max_length=50)] | UnsetType = UNSET
    gated: bool | UnsetType = UNSET
    requires_booking: bool | UnsetType = UNSET
    entry_rule: EntryRule | UnsetType = UNSET
    capacity_instant: Capacity | UnsetType = UNSET
    capacity_daily: Capacity | UnsetType = UNSET
    occupancy_cap_pct: Annotated[int, Meta(ge=1, le=100)] | UnsetType | None = UNSET
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] | UnsetType = UNSET
    lat: Annotated[float, Meta(ge=-90, le=90)] | UnsetType | None = UNSET
    lon: Annotated[float, Meta(ge=-180, le=180)] | UnsetType | None = UNSET
    max_party_size: Annotated[int, Meta(ge=1, le=100)] | UnsetType = UNSET
    bookings_per_day: Annotated[int, Meta(ge=1, le=100)] | UnsetType = UNSET
    booking_window_days: Annotated[int, Meta(ge=0, le=366)] | UnsetType = UNSET
    early_grace_min: Annotated[int, Meta(ge=0, le=720)] | UnsetType = UNSET
    late_grace_min: Annotated[int, Meta(ge=0, le=720)] | UnsetType = UNSET
    walkin_quota_pct: Annotated[int, Meta(ge=0, le=100)] | UnsetType = UNSET
    walkin_release_min: Annotated[int, Meta(ge=0, le=1440)] | UnsetType = UNSET
    offer_expiry_min: Annotated[int, Meta(ge=1, le=1440)] | UnsetType = UNSET

    def given(self) -> dict[str, Any]:
        """The fields the request named, with their new values."""
        return {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if getattr(self, name) is not UNSET
        }


class GateInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    venue_id: uuid.UUID
    region_code: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    live_tokens: int


class GatePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[GateInfo]
    next_cursor: str | None


class OperatorInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    venue_ids: list[uuid.UUID]
    created_at: datetime
    revoked_at: datetime | None
    live_tokens: int


class OperatorPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[OperatorInfo]
    next_cursor: str | None


class PlannerInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    region_codes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    live_tokens: int


class PlannerPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PlannerInfo]
    next_cursor: str | None


class GatePatch(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name | UnsetType = UNSET


class OperatorPatch(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``venue_ids`` replaces the operator's venues (its tokens see the change at once)."""

    name: Name | UnsetType = UNSET
    venue_ids: Annotated[list[uuid.UUID], Meta(min_length=1, max_length=1000)] | UnsetType = UNSET


class PlannerPatch(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``region_codes`` replaces the planner's regions (its tokens see the change at once)."""

    name: Name | UnsetType = UNSET
    region_codes: Annotated[list[RegionCode], Meta(min_length=1, max_length=1000)] | UnsetType = (
        UNSET
    )


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A new token, shown this once and stored only as a hash; earlier ones are revoked."""

    id: uuid.UUID
    kind: str
    token: str
    revoked_tokens: int


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One change: who (principal kind and id), what (action, object, before -> after),
    when, and the request id. Never a token, never traveller data."""

    id: uuid.UUID
    created_at: datetime
    actor_kind: str
    actor_id: uuid.UUID
    action: str
    object_kind: str
    object_id: str
    venue_id: uuid.UUID | None = None
    region_code: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str | None = None


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[AuditEntry]
    next_cursor: str | None


class SlotPatch(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Capacity never below what is booked; times only while nothing is booked."""

    capacity: Capacity | UnsetType = UNSET
    starts_at: datetime | UnsetType = UNSET
    ends_at: datetime | UnsetType = UNSET


class SlotCancelIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Why the slot is cancelled: shown to every traveller whose booking it cancels."""

    reason: Reason


class AdminSlot(msgspec.Struct, frozen=True, kw_only=True):
    """A slot as its operator sees it: the counters and whether it is cancelled."""

    id: uuid.UUID
    venue_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int
    remaining: int
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    cancelled_bookings: int = 0


LocalTime = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")]


class SlotTime(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A window in the venue's local time, ``"HH:MM"`` or ``"HH:MM:SS"``; an ``end``
    before ``start`` ends on the next day."""

    start: LocalTime
    end: LocalTime

    def window(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class RecurringSlotsIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A weekly pattern: on each chosen weekday from ``from`` to ``to`` (inclusive, local
    days of the venue), one slot per window. Windows that exist already are skipped."""

    from_date: date = msgspec.field(name="from")
    to_date: date = msgspec.field(name="to")
    weekdays: Annotated[list[Weekday], Meta(min_length=1, max_length=7)]
    times: Annotated[list[SlotTime], Meta(min_length=1, max_length=96)]
    capacity: Capacity


class RecurringSlots(msgspec.Struct, frozen=True, kw_only=True):
    slots: list[AdminSlot]
    skipped: int
