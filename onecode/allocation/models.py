"""Wire shapes of the waiting list, walk-ins and lotteries (one frozen Struct per shape)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from onecode.bookings.models import Booking, PartySize
from onecode.http.paging import ONE_PAGE

EntryState = Literal["waiting", "offer", "booked", "expired", "left"]
DisplayName = Annotated[str, Meta(min_length=1, max_length=100)]


class WaitlistIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/slots/{slot_id}/waitlist``: how many places the party needs."""

    party_size: PartySize


class WaitlistEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A place in a slot's waiting list, as its traveller sees it."""

    id: uuid.UUID
    slot_id: uuid.UUID
    venue_id: uuid.UUID
    local_day: date
    party_size: int
    state: EntryState
    position: int
    source: Literal["traveller", "lottery"]
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    # entries ahead in the queue (while waiting)
    ahead: int | None = None
    offered_at: datetime | None = None
    # while an offer stands: accept before this
    expires_at: datetime | None = None
    booking_id: uuid.UUID | None = None


class WalkinIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/venues/{venue_id}/walkins``: a booking at the staffed window."""

    slot_id: uuid.UUID
    party_size: PartySize
    display_name: DisplayName | None = None


class Walkin(msgspec.Struct, frozen=True, kw_only=True):
    """The walk-in traveller the operator registered, their booking and its paper pass:
    the TQ1 code to print for the gate (kind ``paper``, this booking only; shown once)."""

    traveller_id: uuid.UUID
    booking: Booking
    code: str
    code_expires_at: datetime
    code_kind: Literal["paper"] = "paper"


class LotteryIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/venues/{venue_id}/lotteries``: the day given by lottery, and the deadline."""

    local_day: date
    closes_at: datetime


class Lottery(msgspec.Struct, frozen=True, kw_only=True):
    """A lottery: the seed's SHA-256 from the start, the seed itself once drawn."""

    id: uuid.UUID
    venue_id: uuid.UUID
    local_day: date
    closes_at: datetime
    state: Literal["open", "drawn"]
    applications: int
    winners: int
    seed_sha256: str
    created_at: datetime
    seed: str | None = None
    drawn_at: datetime | None = None


class DrawRow(msgspec.Struct, frozen=True, kw_only=True):
    """One application in the published draw (no traveller named)."""

    application_id: uuid.UUID
    slot_id: uuid.UUID
    party_size: int
    result: Literal["pending", "won", "waitlisted", "lost"]
    rank: int | None = None
    ticket: str | None = None


class Draw(msgspec.Struct, frozen=True, kw_only=True):
    """The audit of a draw: the lottery with its seed, and every application's ticket
    (SHA-256 of seed || application id) and rank (docs/allocation.md)."""

    lottery: Lottery
    items: list[DrawRow]  # every application, by rank (the whole draw: one page)
    next_cursor: Annotated[str | None, ONE_PAGE] = None


class ApplicationIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/lotteries/{lottery_id}/applications``: the slot wished for, and the party."""

    slot_id: uuid.UUID
    party_size: PartySize


class Application(msgspec.Struct, frozen=True, kw_only=True):
    """A traveller's lottery application and, once drawn, its result."""

    id: uuid.UUID
    lottery_id: uuid.UUID
    slot_id: uuid.UUID
    party_size: int
    result: Literal["pending", "won", "waitlisted", "lost"]
    created_at: datetime
    rank: int | None = None
    booking_id: uuid.UUID | None = None


class WaitlistPage(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/me/waitlist``: the newest ``limit`` entries."""

    items: list[WaitlistEntry]
    next_cursor: Annotated[str | None, ONE_PAGE] = None


class ApplicationPage(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/me/applications``: the newest ``limit`` applications."""

    items: list[Application]
    next_cursor: Annotated[str | None, ONE_PAGE] = None


class LotteryPage(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/venues/{venue_id}/lotteries``: the venue's lotteries from a day on."""

    items: list[Lottery]
    next_cursor: Annotated[str | None, ONE_PAGE] = None
