"""Allocation rules as the service sees them: call the SQL rule (one statement), turn its
outcome into a Struct or, through ``outcomes.refusal``, a domain error.

Every decision that must hold under concurrency (places, order, expiry, the real-name
limit) is made inside PostgreSQL by the functions of ``sql/functions/allocation.sql``.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime
from typing import Any

import asyncpg
import msgspec

from onecode.allocation.models import (
    Application,
    ApplicationIn,
    Draw,
    DrawRow,
    Lottery,
    LotteryIn,
    WaitlistEntry,
    WaitlistIn,
    Walkin,
    WalkinIn,
)
from onecode.bookings.models import Booking
from onecode.bookings.outcomes import SUCCESSES, Outcome, refusal
from onecode.codes import KeyStore
from onecode.errors import Conflict, NotFound, Unprocessable
from onecode.identity import service as identity
from onecode.identity.models import TravellerIn
from onecode.sql import Q


def _answer(row: Any) -> dict[str, Any]:
    """The body of a success, or the refusal raised."""
    assert row is not None
    body: dict[str, Any] = row["body"]
    if row["outcome"] not in SUCCESSES:
        raise refusal(row["outcome"], body)
    return body


async def join_waitlist(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, slot_id: uuid.UUID, data: WaitlistIn
) -> WaitlistEntry:
    """Queue for a full slot (real-name limit: live entries + bookings per venue-day)."""
    row = await conn.fetchrow(
        Q()["allocation_join_waitlist"], traveller_id, slot_id, data.party_size
    )
    return msgspec.convert(_answer(row), WaitlistEntry)


async def leave_waitlist(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, entry_id: uuid.UUID
) -> WaitlistEntry:
    """Leave (an open offer passes to the next in line); leaving twice answers the same."""
    row = await conn.fetchrow(Q()["allocation_leave_waitlist"], traveller_id, entry_id)
    return msgspec.convert(_answer(row), WaitlistEntry)


async def my_waitlist(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, limit: int
) -> list[WaitlistEntry]:
    rows = await conn.fetch(Q()["allocation_select_my_waitlist"], traveller_id, limit)
    return [msgspec.convert(r["entry"], WaitlistEntry) for r in rows]


async def my_entry(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, entry_id: uuid.UUID
) -> WaitlistEntry:
    row = await conn.fetchrow(Q()["allocation_select_my_entry"], traveller_id, entry_id)
    if row is None:
        raise refusal(Outcome.ENTRY_NOT_FOUND)
    return msgspec.convert(row["entry"], WaitlistEntry)


async def accept_offer(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, entry_id: uuid.UUID
) -> tuple[Booking, bool]:
    """Book the offered places (atomic, idempotent): the booking, and whether a replay."""
    row = await conn.fetchrow(Q()["allocation_accept_offer"], traveller_id, entry_id)
    assert row is not None
    body = _answer(row)
    return msgspec.convert(body, Booking), bool(row["replayed"])


async def book_walkin(
    conn: asyncpg.Connection,
    keys: KeyStore,
    venue_id: uuid.UUID,
    data: WalkinIn,
    code_ttl_days: int,
) -> Walkin:
    """The staffed window: register a traveller without a phone, book them a slot (the
    walk-in quota first) and issue the booking's paper pass; all or nothing."""
    if await conn.fetchval(Q()["allocation_select_venue_slot"], data.slot_id, venue_id) is None:
        raise refusal(Outcome.SLOT_NOT_FOUND)
    async with conn.transaction():
        registered = await identity.register(
            conn, TravellerIn(display_name=data.display_name), code_ttl_days
        )
        row = await conn.fetchrow(
            Q()["bookings_insert_walkin_booking"],
            registered.traveller_id,
            data.slot_id,
            data.party_size,
        )
        booking = msgspec.convert(_answer(row), Booking)
        # the gate-trust issue's paper pass: a code for this one booking, no phone needed
        paper = await identity.issue_paper_pass(
            conn, keys, registered.traveller_id, booking.id, venue_id
        )
    return Walkin(
        traveller_id=registered.traveller_id,
        booking=booking,
        code=paper.code,
        code_expires_at=paper.expires_at,
    )


async def open_lottery(conn: asyncpg.Connection, venue_id: uuid.UUID, data: LotteryIn) -> Lottery:
    """Give a future day by lottery; the draw is queued for the deadline."""
    if data.closes_at.tzinfo is None:
        raise Unprocessable("closes_at needs a UTC offset.", "lotteries.bad_deadline")
    now: datetime = await conn.fetchval("SELECT now()")
    if data.closes_at <= now:
        raise Unprocessable("closes_at must be in the future.", "lotteries.bad_deadline")
    lottery_id = uuid.uuid4()
    seed = secrets.token_bytes(32)
    created = await conn.fetchval(
        Q()["allocation_insert_lottery"], lottery_id, venue_id, data.local_day, data.closes_at, seed
    )
    if created is None:
        raise Conflict("This day of the venue has a lottery already.", "lotteries.exists")
    return await get_lottery(conn, lottery_id, venue_id)


async def get_lottery(
    conn: asyncpg.Connection, lottery_id: uuid.UUID, venue_id: uuid.UUID | None
) -> Lottery:
    row = await conn.fetchrow(Q()["allocation_select_lottery"], lottery_id, venue_id)
    if row is None:
        raise NotFound("No such lottery.", "lotteries.not_found")
    return msgspec.convert(dict(row), Lottery)


async def list_lotteries(
    conn: asyncpg.Connection, venue_id: uuid.UUID, since: date
) -> list[Lottery]:
    rows = await conn.fetch(Q()["allocation_select_open_lotteries"], venue_id, since)
    return [msgspec.convert(dict(r), Lottery) for r in rows]


async def get_draw(conn: asyncpg.Connection, lottery_id: uuid.UUID, venue_id: uuid.UUID) -> Draw:
    """The published draw: the seed and every application's ticket and rank."""
    lottery = await get_lottery(conn, lottery_id, venue_id)
    rows = await conn.fetch(Q()["allocation_select_draw"], lottery_id)
    return Draw(lottery=lottery, items=[msgspec.convert(dict(r), DrawRow) for r in rows])


async def apply(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, lottery_id: uuid.UUID, data: ApplicationIn
) -> Application:
    """One application per real-name traveller and lottery."""
    row = await conn.fetchrow(
        Q()["allocation_apply_lottery"], traveller_id, lottery_id, data.slot_id, data.party_size
    )
    return msgspec.convert(_answer(row), Application)


async def my_applications(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, limit: int
) -> list[Application]:
    rows = await conn.fetch(Q()["allocation_select_my_applications"], traveller_id, limit)
    return [msgspec.convert(r["application"], Application) for r in rows]
