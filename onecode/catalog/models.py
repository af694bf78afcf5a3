"""Wire shapes of the catalog (one frozen Struct per shape)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from onecode.crowd import Level
from onecode.http.paging import ONE_PAGE

RegionCode = Annotated[str, Meta(pattern=r"^[A-Z0-9][A-Z0-9-]{0,31}$", max_length=32)]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
EntryRule = Annotated[str, Meta(pattern=r"^(single|reentry|daily:[1-9][0-9]{0,2})$")]
Capacity = Annotated[int, Meta(ge=1, le=10_000_000)]
#: A language onecode speaks (onecode.i18n.LOCALES).
LocaleTag = Literal["zh-CN", "en"]


class Input(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused."""


class RegionIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    code: RegionCode
    name: Name
    parent_code: RegionCode | None = None
    #: the dashboard's language when the browser asks for none onecode speaks
    default_locale: LocaleTag = "zh-CN"


class Region(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    parent_code: str | None = None
    default_locale: str = "zh-CN"


class VenueIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    region_code: RegionCode
    name: Name
    kind: Annotated[str, Meta(min_length=1, max_length=50)]
    gated: bool
    requires_booking: bool
    entry_rule: EntryRule
    capacity_instant: Capacity
    capacity_daily: Capacity
    occupancy_cap_pct: Annotated[int, Meta(ge=1, le=100)] | None = None
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] = "Asia/Shanghai"
    lat: Annotated[float, Meta(ge=-90, le=90)] | None = None
    lon: Annotated[float, Meta(ge=-180, le=180)] | None = None
    max_party_size: Annotated[int, Meta(ge=1, le=100)] = 10
    bookings_per_day: Annotated[int, Meta(ge=1, le=100)] = 1
    booking_window_days: Annotated[int, Meta(ge=0, le=366)] = 14
    early_grace_min: Annotated[int, Meta(ge=0, le=720)] = 30
    late_grace_min: Annotated[int, Meta(ge=0, le=720)] = 30
    #: online gates refuse a code without a live suffix (``static_code``); default: gated
    live_code_required: bool | None = None
    # fair allocation (docs/allocation.md): the share of each slot held for walk-ins,
    # when it frees into general sale (minutes before the start), how long an offer stands
    walkin_quota_pct: Annotated[int, Meta(ge=0, le=100)] = 0
    walkin_release_min: Annotated[int, Meta(ge=0, le=1440)] = 60
    offer_expiry_min: Annotated[int, Meta(ge=1, le=1440)] = 15


class Venue(msgspec.Struct, frozen=True, kw_only=True):
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
    live_code_required: bool
    walkin_quota_pct: int = 0
    walkin_release_min: int = 60
    offer_expiry_min: int = 15
    rating: float | None = None
    rating_count: int = 0
    # the crowd level only: an exact live count would let anyone time one person's
    # visit (0 -> 1 -> 0); operators, admins and gates read it from /live
    crowd_level: Level = "green"


class VenueListing(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/venues``: every venue of the region (it was a bare array before 0.2)."""

    items: list[Venue]
    next_cursor: Annotated[str | None, ONE_PAGE] = None


class VenueCreated(Venue, frozen=True, kw_only=True):
    """The admin's answer on creation: the venue and its place code for the poster.

    The place code is not in public listings: whoever holds it can self check-in (and
    then review), so it belongs on the poster at the venue, not on the open web."""

    place_code: str


class GateIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name


class Created(msgspec.Struct, frozen=True):
    """A new principal: the token is shown this once and stored only as a hash."""

    id: uuid.UUID
    token: str


class OperatorIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name
    venue_ids: Annotated[list[uuid.UUID], Meta(min_length=1, max_length=1000)]


class PlannerIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name
    region_codes: Annotated[list[RegionCode], Meta(min_length=1, max_length=1000)]


class SlotIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    starts_at: datetime
    ends_at: datetime
    capacity: Capacity


class SlotsIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    slots: Annotated[list[SlotIn], Meta(min_length=1, max_length=1000)]


class Slot(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    venue_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    # places general sale can take now
    remaining: int
    # places the staffed window can take (the walk-in quota included); docs/allocation.md
    walkin_remaining: int | None = None


class SlotListing(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/venues/{id}/slots``: the slots of a local day (a bare array before 0.2)."""

    items: list[Slot]
    next_cursor: Annotated[str | None, ONE_PAGE] = None


class SlotList(msgspec.Struct, frozen=True):
    slots: list[Slot]


class Live(msgspec.Struct, frozen=True, kw_only=True):
    venue_id: uuid.UUID
    inside: int
    capacity_instant: int
    load: float
    level: Level
    entries_today: int = 0
    occupancy_cap_pct: int | None = None
