"""Booking rules: take places, replay idempotent retries, cancel, sweep no-shows.

The decisions that must hold under concurrency (capacity, per-day limit, key reuse)
are made inside PostgreSQL by ``onecode_book_slot`` (sql/functions/bookings.sql) in one
round trip; it answers a domain outcome, which this module turns into a Booking or, through
``outcomes.refusal``, a domain error.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec

from onecode.bookings.models import Booking, BookingIn, Status
from onecode.bookings.outcomes import Outcome, refusal
from onecode.db import acquire
from onecode.errors import BadRequest, NotFound
from onecode.sql import Q

log = logging.getLogger("onecode.bookings")

NO_SHOW_INTERVAL_SECONDS = 60.0
NO_SHOW_BATCH = 500


class Booked(msgspec.Struct, frozen=True):
    """The answer to a booking request: the booking, and whether it is a replay."""

    booking: Booking
    replayed: bool


def check_idempotency_key(key: str | None) -> str | None:
    """1..200 characters, or a 400."""
    if key is None:
        return None
    if not 1 <= len(key) <= 200:
        raise BadRequest("Idempotency-Key must be 1 to 200 characters.", "idempotency.bad_key")
    return key


def request_hash(data: BookingIn) -> bytes:
    """What makes two requests under one key "the same": the canonical body."""
    return hashlib.sha256(f"{data.slot_id}|{data.party_size}".encode()).digest()


async def book(
    conn: asyncpg.Connection,
    traveller_id: uuid.UUID,
    data: BookingIn,
    *,
    idempotency_key: str | None,
    key_ttl_hours: int,
) -> Booked:
    """Take ``party_size`` places on the slot; one statement, one round trip."""
    row = await conn.fetchrow(
        Q()["bookings_insert_booking"],
        traveller_id,
        data.slot_id,
        data.party_size,
        idempotency_key,
        request_hash(data),
        key_ttl_hours,
    )
    assert row is not None
    body: dict[str, Any] = row["body"]
    if row["outcome"] == Outcome.BOOKED:
        return Booked(msgspec.convert(body, Booking), bool(row["replayed"]))
    raise refusal(row["outcome"], body)


async def get_booking(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, booking_id: uuid.UUID
) -> Booking:
    """One of the traveller's own bookings; anyone else's is 404."""
    row = await conn.fetchrow(Q()["bookings_select_booking"], traveller_id, booking_id)
    if row is None:
        raise NotFound("No such booking.", "bookings.not_found")
    return msgspec.convert(dict(row), Booking)


async def list_bookings(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, status: Status | None, limit: int
) -> list[Booking]:
    """The traveller's own bookings, newest first."""
    rows = await conn.fetch(Q()["bookings_select_my_bookings"], traveller_id, status, limit)
    return [msgspec.convert(dict(r), Booking) for r in rows]


async def cancel(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, booking_id: uuid.UUID
) -> Booking:
    """Cancel and free the places, offered to the waiting list first (one statement);
    cancelling twice answers the same."""
    row = await conn.fetchrow(Q()["bookings_cancel_booking"], traveller_id, booking_id)
    assert row is not None
    if row["outcome"] in (Outcome.CANCELLED, Outcome.ALREADY_CANCELLED):
        return msgspec.convert(row["body"], Booking)
    raise refusal(row["outcome"], row["body"])


async def release_no_shows(conn: asyncpg.Connection, batch: int = NO_SHOW_BATCH) -> int:
    """Release every booking unused by its start + late grace: ``no_show``, and its places
    back to the slot (waiting list first, then walk-up sale). In batches of ``batch``,
    each its own transaction."""
    total = 0
    while True:
        done: int = await conn.fetchval(Q()["bookings_release_no_shows"], batch)
        total += done
        if done < batch:
            return total


async def purge_idempotency_keys(conn: asyncpg.Connection, ttl_hours: int) -> int:
    """Forget idempotency keys older than their time to live."""
    result: str = await conn.execute(Q()["bookings_delete_expired_keys"], ttl_hours)
    return int(result.rsplit(" ", 1)[-1])


async def sweep(pool: asyncpg.Pool, ttl_hours: int) -> tuple[int, int]:
    """One pass of the periodic housekeeping: no-shows, then expired keys."""
    conn = await acquire(pool, 5.0)
    try:
        marked = await release_no_shows(conn)
        purged = await purge_idempotency_keys(conn, ttl_hours)
    finally:
        await pool.release(conn)
    if marked or purged:
        log.info("bookings sweep: %d no-shows released, %d idempotency keys purged", marked, purged)
    return marked, purged


async def run_periodically(
    job: Callable[[], Awaitable[object]], interval: float, *, first_delay: float | None = None
) -> None:
    """Run ``job`` every ``interval`` seconds until cancelled; a failing run (database
    down, timeout) is logged and the loop goes on."""
    await asyncio.sleep(interval if first_delay is None else first_delay)
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:  # the loop must outlive any one failure
            log.warning("bookings sweep failed; retrying in %.0f s", interval, exc_info=True)
        await asyncio.sleep(interval)
