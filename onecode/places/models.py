"""Wire shapes of place codes and self check-ins."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec

from onecode.catalog.models import Venue
from onecode.crowd import Level


class Place(msgspec.Struct, frozen=True, kw_only=True):
    """What a scanned poster code resolves to."""

    venue: Venue
    crowd_level: Level  # a level, never the exact live count
    self_checkin: bool


class Checkin(msgspec.Struct, frozen=True, kw_only=True):
    """A self check-in: one per traveller, venue and local day."""

    id: uuid.UUID
    venue_id: uuid.UUID
    local_day: date
    checked_in_at: datetime
    created: bool = True


class PlaceCode(msgspec.Struct, frozen=True, kw_only=True):
    """A venue's current place code (operators print it)."""

    venue_id: uuid.UUID
    place_code: str
    version: int
    rotated_at: datetime | None = None
