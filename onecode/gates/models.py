"""Wire shapes of gate validation and the traveller's visits (one frozen Struct per shape)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from onecode.gates.rules import CredentialKind, ScanReason
from onecode.http.bodies import DEVICE_CLOCK

Direction = Literal["in", "out"]
Decision = Literal["accept", "reject"]
VisitKind = Literal["gate", "checkin"]

#: A scanned text longer than this is not a TQ1 code of any version: 400, not a scan.
MAX_SCANNED_CHARS = 4096


class ScanIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One online scan: the text the gate read, which way, its own id and clock."""

    code: Annotated[str, Meta(max_length=MAX_SCANNED_CHARS)]
    direction: Direction
    scan_id: uuid.UUID
    scanned_at: Annotated[datetime, Meta(tz=True), DEVICE_CLOCK]  # bounded: scans.bad_time


class ScanResult(msgspec.Struct, frozen=True, kw_only=True):
    """The decision: a rejection is data with a reason, not an error."""

    scan_id: uuid.UUID
    decision: Decision
    reason: ScanReason
    party_size: int
    booking_id: uuid.UUID | None = None
    #: what the code is, for the gate's screen: ``paper`` is a printed pass (one booking)
    credential: CredentialKind | None = None


class Visit(msgspec.Struct, frozen=True, kw_only=True):
    """An accepted gate scan (``gate``, in or out) or a place-code check-in."""

    kind: VisitKind
    venue_id: uuid.UUID
    venue_name: str
    at: datetime
    direction: Direction | None = None


class Visits(msgspec.Struct, frozen=True, kw_only=True):
    """A page of visits, newest first; pass ``next_before`` as ``before`` for the next."""

    items: list[Visit]
    next_cursor: Annotated[
        str | None, Meta(description="Pass back as `cursor` (or as `before`) for the next page.")
    ] = None
    next_before: Annotated[
        datetime | None, Meta(description="Deprecated: the same instant as `next_cursor`.")
    ] = None


#: ``scans.traveller_id`` of a scan whose code names no traveller of ours: the column's
#: default, the zero uuid (the SQL rule files write it as a literal). Not the admin's
#: ``onecode.auth.ADMIN_ID``, though that is the zero uuid too: one names a principal,
#: this one says that there is no traveller.
NO_TRAVELLER = uuid.UUID(int=0)
