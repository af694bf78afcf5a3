"""Gate rules: verify the TQ1 text in Python (the CPU part), then decide the scan in
one database round trip (``gate_scan`` in sql/functions/gates.sql: revocation, live-code
suffix, booking window, entry rule under the presence row lock, occupancy cap,
counters, and the scan record, idempotent per gate and scan id).

No web framework here."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import asyncpg

from onecode.codes import KeyRing, KeyStore, SigningKey, verify
from onecode.errors import Unprocessable
from onecode.gates.models import ScanIn, ScanResult, Visit, Visits
from onecode.gates.rules import CredentialKind, ScanReason
from onecode.sql import Q

#: How far a gate's clock may be from the server's for an online scan. Further off is
#: 422 ``scans.bad_time``: a gate that far behind should upload through the batch API.
MAX_CLOCK_DRIFT = timedelta(hours=24)

#: A key that retires at a given time drops out of the ring at most this late.
RING_TTL_SECONDS = 5.0


class RingCache:
    """The public key ring, rebuilt only when the key store's keys change (rotate or
    retire replace them) or every few seconds (a retirement can be set in the future)."""

    def __init__(self, keystore: KeyStore, ttl: float = RING_TTL_SECONDS) -> None:
        self._keystore = keystore
        self._ttl = ttl
        self._keys: tuple[SigningKey, ...] = ()
        self._ring: KeyRing | None = None
        self._until = 0.0

    def ring(self) -> KeyRing:
        keys = self._keystore.keys
        now = time.monotonic()
        ring = self._ring
        if ring is None or now >= self._until or keys != self._keys:
            fresh = self._keystore.ring()
            # the same public keys: keep the same ring object, so that what is cached per
            # ring (the upload's VerifyCache) survives the periodic rebuild
            if ring is None or fresh.keys != ring.keys:
                ring = fresh
            self._ring, self._keys, self._until = ring, keys, now + self._ttl
        return ring


class ScanArgs(NamedTuple):
    """One online scan as gate_scan() takes it (after the signature check)."""

    gate_id: uuid.UUID
    scan_id: uuid.UUID
    direction: str
    scanned_at: datetime
    verdict: str
    cred_id: bytes | None
    generation: int | None
    body: str | None
    suffix: bytes | None


def prepare(ring: KeyRing, gate_id: uuid.UUID, data: ScanIn, skew_seconds: int) -> ScanArgs:
    """The CPU part of an online scan: the clock bound and the code's signature."""
    now = datetime.now(UTC)
    if abs(data.scanned_at - now) > MAX_CLOCK_DRIFT:
        raise Unprocessable(
            "scanned_at is more than a day away from the server's clock; "
            "fix the gate's clock or upload the scan through /v1/gate/scans/batch.",
            "scans.bad_time",
        )
    outcome = verify(data.code, ring, now.timestamp(), skew_seconds)
    cred = outcome.credential  # set when the signature is good, even if out of date
    return ScanArgs(
        gate_id,
        data.scan_id,
        data.direction,
        data.scanned_at,
        outcome.reason.value,
        cred.cred_id if cred else None,
        cred.generation if cred else None,
        outcome.body if outcome.ok else None,
        outcome.suffix if outcome.ok else None,
    )


async def decide(conn: asyncpg.Connection, venue_id: uuid.UUID, args: ScanArgs) -> asyncpg.Record:
    """gate_scan() for one scan, in its own transaction."""
    row = await conn.fetchrow(
        Q()["gates_decide_scan"],
        args.gate_id,
        venue_id,
        args.scan_id,
        args.direction,
        args.scanned_at,
        args.verdict,
        args.cred_id,
        args.generation,
        args.body,
        args.suffix,
    )
    assert row is not None  # gate_scan always returns one row
    return row


def answer(scan_id: uuid.UUID, row: asyncpg.Record) -> ScanResult:
    return ScanResult(
        scan_id=scan_id,
        decision=row["decision"],
        reason=ScanReason(row["reason"]),
        party_size=row["party_size"],
        booking_id=row["booking_id"],
        credential=CredentialKind(row["credential"]) if row["credential"] else None,
    )


async def scan(
    conn: asyncpg.Connection,
    ring: KeyRing,
    gate_id: uuid.UUID,
    venue_id: uuid.UUID,
    data: ScanIn,
    skew_seconds: int,
) -> ScanResult:
    """Decide one online scan. Every outcome, accepted or rejected, is recorded once."""
    args = prepare(ring, gate_id, data, skew_seconds)
    return answer(data.scan_id, await decide(conn, venue_id, args))


#: No cursor: everything up to far in the future.
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)


async def visits(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, before: datetime | None, limit: int
) -> Visits:
    """The traveller's own accepted gate scans and check-ins, newest first."""
    if before is not None and before.tzinfo is None:
        raise Unprocessable("before needs a UTC offset.", "visits.naive_time")
    rows = await conn.fetch(Q()["gates_select_visits"], traveller_id, before or _END_OF_TIME, limit)
    items = [
        Visit(
            kind=r["kind"],
            venue_id=r["venue_id"],
            venue_name=r["venue_name"],
            at=r["at"],
            direction=r["direction"],
        )
        for r in rows
    ]
    next_before = items[-1].at if len(items) == limit else None
    return Visits(
        items=items,
        next_before=next_before,
        next_cursor=next_before.isoformat() if next_before else None,
    )
