"""Wire shapes of bookings (one frozen Struct per shape)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from onecode.http.paging import ONE_PAGE

Status = Literal["booked", "cancelled", "used", "no_show"]
# how the booking was made: the app, the staffed window, an accepted offer, a lottery draw
Channel = Literal["app", "walkin", "waitlist", "lottery"]
# the structural bound; the venue's own max_party_size (at most 100) is a rule (422)
PartySize = Annotated[int, Meta(ge=1, le=1000)]


class BookingIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/bookings``: the slot and how many places to take."""

    slot_id: uuid.UUID
    party_size: PartySize


class Booking(msgspec.Struct, frozen=True, kw_only=True):
    """A booking as its traveller sees it."""

    id: uuid.UUID
    status: Status
    slot_id: uuid.UUID
    venue_id: uuid.UUID
    party_size: int
    starts_at: datetime
    ends_at: datetime
    local_day: date | None = None
    created_at: datetime | None = None
    channel: Channel = "app"
    # a cancelled booking says who cancelled it and, when the venue did, why
    cancelled_at: datetime | None = None
    cancelled_by: Literal["traveller", "venue"] | None = None
    cancel_reason: str | None = None


class BookingListing(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/me/bookings``: the newest ``limit`` bookings (a bare array before 0.2)."""

    items: list[Booking]
    next_cursor: Annotated[str | None, ONE_PAGE] = None
