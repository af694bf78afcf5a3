"""Wire shapes of the offline gate protocol."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from onecode.codes.keys import PublicKeyInfo
from onecode.http.bodies import DEVICE_CLOCK

ENTITLEMENT_FIELDS = ["booking_id", "cred_id", "party_size", "starts_at", "ends_at", "status"]
REVOCATION_FIELDS = ["cred_id", "min_generation"]


class PackVenue(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    entry_rule: str
    requires_booking: bool
    gated: bool
    timezone: str
    early_grace_min: int
    late_grace_min: int
    capacity_instant: int
    occupancy_cap_pct: int | None


class Pack(msgspec.Struct, frozen=True, kw_only=True):
    """What a gate needs to decide offline, nothing more (no names, no traveller ids).

    ``entitlements`` and ``revocations`` are compact rows; their column names are in
    ``entitlement_fields`` / ``revocation_fields``. ``cred_id`` is base64url of the
    16 bytes a TQ1 code carries; times are unix seconds. A revocation means every
    generation below ``min_generation`` is refused.
    """

    cursor: str
    server_time: datetime
    full: bool
    venue: PackVenue
    keys: list[PublicKeyInfo]
    revocations: list[tuple[str, int]]
    entitlements: list[tuple[str, str, int, int, int, str]]
    entitlement_fields: list[str] = msgspec.field(default_factory=lambda: list(ENTITLEMENT_FIELDS))
    revocation_fields: list[str] = msgspec.field(default_factory=lambda: list(REVOCATION_FIELDS))


Reason = Annotated[str, Meta(pattern=r"^[a-z_]{1,40}$")]


class UploadItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    scan_id: uuid.UUID
    code: Annotated[str, Meta(max_length=400)]
    direction: Literal["in", "out"]
    scanned_at: Annotated[datetime, Meta(tz=True), DEVICE_CLOCK]  # a wrong clock: bad_time
    decision: Literal["accept", "reject"]
    reason: Reason
    party_size: Annotated[int, Meta(ge=0, le=100)] = 1


class UploadIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    scans: list[UploadItem]


class UploadResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    scan_id: uuid.UUID
    status: Literal["recorded", "duplicate", "conflict", "rejected"]
    reason: str | None = None


class UploadOut(msgspec.Struct, frozen=True):
    results: list[UploadResult]


class ConflictEntry(msgspec.Struct, frozen=True, kw_only=True):
    scan_id: uuid.UUID
    gate_id: uuid.UUID
    scanned_at: datetime
    offline: bool


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """A pass admitted more often than the venue's rule allows on one local day."""

    scan: ConflictEntry
    earlier: list[ConflictEntry]
    local_day: str
    party_size: int


class ConflictList(msgspec.Struct, frozen=True):
    conflicts: list[Conflict]
