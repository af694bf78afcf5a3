"""Wire shapes of the offline gate protocol."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from onecode.codes.keys import PublicKeyInfo
from onecode.gates.rules import ScanReason
from onecode.http.bodies import DEVICE_CLOCK
from onecode.http.paging import ONE_PAGE, SAME_AS_ITEMS

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
    active: bool = True  # a deactivated venue admits nobody (exits still pass)


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


class UploadItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    scan_id: uuid.UUID
    code: Annotated[str, Meta(max_length=400)]
    direction: Literal["in", "out"]
    scanned_at: Annotated[datetime, Meta(tz=True), DEVICE_CLOCK]  # a wrong clock: bad_time
    decision: Literal["accept", "reject"]
    reason: ScanReason  # one of the known codes: anything else is a 400
    party_size: Annotated[int, Meta(ge=0, le=100)] = 1


class UploadIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    scans: list[UploadItem]


class UploadResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``rejected`` items are kept for the operator and never counted; ``reason`` says
    why. ``flag: stale_code``: the code was expired, rotated away or erased when scanned
    (kept and counted, listed for the operator, not a verified visit)."""

    scan_id: uuid.UUID
    status: Literal["recorded", "duplicate", "conflict", "rejected"]
    reason: ScanReason | None = None
    flag: Literal["stale_code"] | None = None


class UploadOut(msgspec.Struct, frozen=True):
    results: list[UploadResult]


class ConflictEntry(msgspec.Struct, frozen=True, kw_only=True):
    scan_id: uuid.UUID
    gate_id: uuid.UUID
    scanned_at: datetime
    offline: bool


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """What an operator must look at. ``double_entry``: a pass admitted beyond the
    venue's rule on one local day (or while inside), with the earlier entries of that
    day; ``stale_code``: an uploaded entry of a code expired, rotated away or erased when
    scanned (counted, no verified visit); ``refused_upload``: an uploaded item beyond its
    bounds (``reason``), kept, never counted."""

    kind: Literal["double_entry", "stale_code", "refused_upload"]
    scan: ConflictEntry
    earlier: list[ConflictEntry]
    local_day: str
    party_size: int
    reason: ScanReason


class ConflictList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Conflict]
    next_cursor: Annotated[str | None, ONE_PAGE] = None
    conflicts: Annotated[list[Conflict], SAME_AS_ITEMS]
