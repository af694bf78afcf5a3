"""What the booking functions in PostgreSQL answer, and what each answer means over HTTP.

The SQL rules (``sql/functions/bookings.sql``, ``sql/functions/allocation.sql``) decide
and return a domain outcome code with a few facts (``{"max_party_size": 10}``); this
table alone turns a refusal into the error tree (``onecode/errors.py``) with its stable
machine code and its sentence. No HTTP status and no English live in SQL. One
vocabulary for booking, cancelling, the waiting list and lotteries.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from onecode.errors import AppError, Conflict, NotFound, Unprocessable


class Outcome(StrEnum):
    """Every outcome the booking and allocation functions return."""

    # successes
    BOOKED = "booked"
    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already_cancelled"
    JOINED = "joined"
    LEFT = "left"
    APPLIED = "applied"
    # refusals
    SLOT_NOT_FOUND = "slot_not_found"
    VENUE_INACTIVE = "venue_inactive"
    SLOT_CANCELLED = "slot_cancelled"
    PARTY_TOO_LARGE = "party_too_large"
    SALE_CLOSED = "sale_closed"
    OUTSIDE_WINDOW = "outside_window"
    LOTTERY_OPEN = "lottery_open"
    DAILY_LIMIT = "daily_limit"
    SLOT_FULL = "slot_full"
    KEY_IN_PROGRESS = "key_in_progress"
    KEY_REUSED = "key_reused"
    BOOKING_NOT_FOUND = "booking_not_found"
    ALREADY_USED = "already_used"
    TOO_LATE = "too_late"
    SLOT_NOT_FULL = "slot_not_full"
    ALREADY_WAITING = "already_waiting"
    ENTRY_NOT_FOUND = "entry_not_found"
    NO_OFFER = "no_offer"
    OFFER_EXPIRED = "offer_expired"
    LOTTERY_NOT_FOUND = "lottery_not_found"
    LOTTERY_CLOSED = "lottery_closed"
    SLOT_NOT_IN_LOTTERY = "slot_not_in_lottery"
    ALREADY_APPLIED = "already_applied"


# what onecode_book_slot() answers (the case table of tests/api/test_booking_outcomes.py)
BOOK_OUTCOMES = frozenset(
    {
        Outcome.BOOKED,
        Outcome.SLOT_NOT_FOUND,
        Outcome.VENUE_INACTIVE,
        Outcome.SLOT_CANCELLED,
        Outcome.PARTY_TOO_LARGE,
        Outcome.SALE_CLOSED,
        Outcome.OUTSIDE_WINDOW,
        Outcome.LOTTERY_OPEN,
        Outcome.DAILY_LIMIT,
        Outcome.SLOT_FULL,
        Outcome.KEY_IN_PROGRESS,
        Outcome.KEY_REUSED,
    }
)
SUCCESSES = frozenset(
    {
        Outcome.BOOKED,
        Outcome.CANCELLED,
        Outcome.ALREADY_CANCELLED,
        Outcome.JOINED,
        Outcome.LEFT,
        Outcome.APPLIED,
    }
)


# outcome -> (error class, machine code, sentence; {fact} fields come from the SQL answer)
REFUSALS: dict[Outcome, tuple[type[AppError], str, str]] = {
    Outcome.SLOT_NOT_FOUND: (NotFound, "slots.not_found", "No such slot."),
    Outcome.VENUE_INACTIVE: (
        Conflict,
        "venues.inactive",
        "This venue is closed: it takes no bookings.",
    ),
    Outcome.SLOT_CANCELLED: (
        Conflict,
        "slots.cancelled",
        "This slot has been cancelled by the venue.",
    ),
    Outcome.PARTY_TOO_LARGE: (
        Unprocessable,
        "bookings.party_too_large",
        "This venue takes parties of at most {max_party_size}.",
    ),
    Outcome.SALE_CLOSED: (
        Unprocessable,
        "bookings.outside_window",
        "Sale for this slot has closed (walk-up ends the venue's late grace before its end).",
    ),
    Outcome.OUTSIDE_WINDOW: (
        Unprocessable,
        "bookings.outside_window",
        "This venue takes bookings at most {booking_window_days} days ahead.",
    ),
    Outcome.DAILY_LIMIT: (
        Conflict,
        "bookings.daily_limit",
        "At most {bookings_per_day} booking(s) per traveller, venue and day.",
    ),
    Outcome.SLOT_FULL: (Conflict, "bookings.slot_full", "Not enough places left in this slot."),
    Outcome.KEY_IN_PROGRESS: (
        Conflict,
        "idempotency.in_progress",
        "A request with this Idempotency-Key is still being processed.",
    ),
    Outcome.KEY_REUSED: (
        Unprocessable,
        "idempotency.key_reused",
        "This Idempotency-Key was used with a different request body.",
    ),
    Outcome.LOTTERY_OPEN: (
        Conflict,
        "bookings.lottery_open",
        "This day's places are given by lottery: apply before its deadline.",
    ),
    Outcome.BOOKING_NOT_FOUND: (NotFound, "bookings.not_found", "No such booking."),
    Outcome.ALREADY_USED: (
        Conflict,
        "bookings.already_used",
        "This booking has been used already.",
    ),
    Outcome.TOO_LATE: (
        Conflict,
        "bookings.too_late_to_cancel",
        "The slot has started; the booking can no longer be cancelled.",
    ),
    Outcome.SLOT_NOT_FULL: (
        Conflict,
        "waitlist.slot_not_full",
        "This slot still has places: book it instead.",
    ),
    Outcome.ALREADY_WAITING: (
        Conflict,
        "waitlist.already_waiting",
        "You are on this slot's waiting list already.",
    ),
    Outcome.ENTRY_NOT_FOUND: (NotFound, "waitlist.not_found", "No such waiting-list entry."),
    Outcome.NO_OFFER: (
        Conflict,
        "waitlist.no_offer",
        "This entry holds no offer (it is {state}).",
    ),
    Outcome.OFFER_EXPIRED: (
        Conflict,
        "waitlist.offer_expired",
        "This offer has expired; it has passed to the next in line.",
    ),
    Outcome.LOTTERY_NOT_FOUND: (NotFound, "lotteries.not_found", "No such lottery."),
    Outcome.LOTTERY_CLOSED: (
        Conflict,
        "lotteries.closed",
        "This lottery takes no more applications.",
    ),
    Outcome.SLOT_NOT_IN_LOTTERY: (
        Unprocessable,
        "lotteries.slot_not_in_lottery",
        "This slot is not on the lottery's day at its venue.",
    ),
    Outcome.ALREADY_APPLIED: (
        Conflict,
        "lotteries.already_applied",
        "One application per traveller and lottery.",
    ),
}


class _Facts(dict[str, Any]):
    """A fact the SQL answer lacks reads as "the venue's limit", not a KeyError."""

    def __missing__(self, key: str) -> str:
        return "the venue's limit"


def refusal(outcome: str, facts: dict[str, Any] | None = None) -> AppError:
    """The error for a refusal outcome; an outcome nobody mapped is a bug (ValueError)."""
    error, code, sentence = REFUSALS[Outcome(outcome)]
    return error(sentence.format_map(_Facts(facts or {})), code)
