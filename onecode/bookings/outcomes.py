"""What the booking functions in PostgreSQL answer, and what each answer means over HTTP.

The SQL rules (``sql/functions/bookings.sql``, ``sql/functions/allocation.sql``) decide
and return a domain outcome code with a few facts (``{"max_party_size": 10}``); this
table alone turns a refusal into the error tree (``onecode/errors.py``) with its stable
machine code and its sentence. No HTTP status and no English live in SQL.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from onecode.errors import AppError, Conflict, NotFound, Unprocessable


class Outcome(StrEnum):
    """Every outcome a booking function returns."""

    BOOKED = "booked"
    SLOT_NOT_FOUND = "slot_not_found"
    PARTY_TOO_LARGE = "party_too_large"
    SALE_CLOSED = "sale_closed"
    OUTSIDE_WINDOW = "outside_window"
    DAILY_LIMIT = "daily_limit"
    SLOT_FULL = "slot_full"
    KEY_IN_PROGRESS = "key_in_progress"
    KEY_REUSED = "key_reused"


# outcome -> (error class, machine code, sentence; {fact} fields come from the SQL answer)
REFUSALS: dict[Outcome, tuple[type[AppError], str, str]] = {
    Outcome.SLOT_NOT_FOUND: (NotFound, "slots.not_found", "No such slot."),
    Outcome.PARTY_TOO_LARGE: (
        Unprocessable,
        "bookings.party_too_large",
        "This venue takes parties of at most {max_party_size}.",
    ),
    Outcome.SALE_CLOSED: (
        Unprocessable,
        "bookings.outside_window",
        "This slot has already started.",
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
}


class _Facts(dict[str, Any]):
    """A fact the SQL answer lacks reads as "the venue's limit", not a KeyError."""

    def __missing__(self, key: str) -> str:
        return "the venue's limit"


def refusal(outcome: str, facts: dict[str, Any] | None = None) -> AppError:
    """The error for a refusal outcome; an outcome nobody mapped is a bug (ValueError)."""
    error, code, sentence = REFUSALS[Outcome(outcome)]
    return error(sentence.format_map(_Facts(facts or {})), code)
