"""Shapes of events as a traveller reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec


class EventType(StrEnum):
    """Every kind of event onecode records (``events.type``)."""

    VENUE_LEVEL_CHANGED = "venue.level_changed"
    VENUE_CAPACITY_FORECAST_REACHED = "venue.capacity_forecast_reached"
    BOOKING_CANCELLED_BY_VENUE = "booking.cancelled_by_venue"
    WAITLIST_OFFER_MADE = "waitlist.offer_made"
    LOTTERY_DRAWN = "lottery.drawn"
    COMPLAINT_ANSWERED = "complaint.answered"
    GATE_CONFLICT_FOUND = "gate.conflict_found"
    GATE_OFFLINE = "gate.offline"


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """Something that happened to the traveller: an offer, a cancellation, an answer."""

    id: uuid.UUID
    type: str
    payload: dict[str, Any]
    created_at: datetime


class NotificationPage(msgspec.Struct, frozen=True, kw_only=True):
    """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[Notification]
    next_cursor: str | None
