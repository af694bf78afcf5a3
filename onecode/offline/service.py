"""Offline gate rules: what a pack holds, and how uploaded scans become facts.

Cursor: ``v1.<unix microseconds>`` of the pack's server time minus a safety margin
(``CURSOR_MARGIN``). Rows are selected by ``changed_at``, which is the time of the
writing transaction's start, so a transaction that commits late may carry an older
stamp; re-sending the last ``CURSOR_MARGIN`` of changes in every delta covers any
transaction shorter than that (statements are cut at ``db_command_timeout``), and
applying an entitlement or revocation twice is harmless on the gate.

Upload: every signature is checked (an invalid one is stored as a refused attempt,
never an entry); the gate's decisions are facts and are not judged again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from onecode.codes import KeyRing, Reason, Verified, verify
from onecode.codes.b64url import b64url_encode
from onecode.errors import BadRequest, PayloadTooLarge
from onecode.gates.models import NO_TRAVELLER
from onecode.gates.rules import ScanReason
from onecode.http.bodies import clamp_instant
from onecode.offline.models import (
    Conflict,
    ConflictEntry,
    Pack,
    PackVenue,
    UploadIn,
    UploadItem,
    UploadOut,
    UploadResult,
)
from onecode.sql import Q

CURSOR_MARGIN = timedelta(seconds=30)
CURSOR_MAX_AGE = timedelta(days=2)
# uploads older than this, or from the future beyond the skew, are refused as bad_time
UPLOAD_MAX_AGE = timedelta(days=30)


def encode_cursor(at: datetime) -> str:
    return f"v1.{int(at.timestamp() * 1_000_000)}"


def decode_cursor(cursor: str) -> datetime:
    version, _, micros = cursor.partition(".")
    if version != "v1" or not micros.isdigit() or len(micros) > 20:
        raise BadRequest("The cursor is not one this server gave.", "pack.bad_cursor")
    try:
        return datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadRequest("The cursor is not one this server gave.", "pack.bad_cursor") from None


async def pack(
    conn: asyncpg.Connection, venue_id: uuid.UUID, ring: KeyRing, cursor: str | None
) -> Pack:
    since = decode_cursor(cursor) if cursor else None
    server_time = datetime.now(UTC)
    if since is not None and (since < server_time - CURSOR_MAX_AGE or since > server_time):
        since = None  # too old (or not ours): start again with a full pack
    venue = await conn.fetchrow(Q()["offline_select_pack_venue"], venue_id)
    assert venue is not None  # the gate's own venue
    rows = await conn.fetch(Q()["offline_select_entitlements"], venue_id, venue["today"], since)
    revoked = await conn.fetch(Q()["offline_select_revocations"], since)
    return Pack(
        cursor=encode_cursor(server_time - CURSOR_MARGIN),
        server_time=server_time,
        full=since is None,
        venue=msgspec.convert(dict(venue.items()), PackVenue),
        keys=ring.public_list(),
        revocations=[(b64url_encode(bytes(r["cred_id"])), r["min_generation"]) for r in revoked],
        entitlements=[
            (
                str(r["id"]),
                b64url_encode(bytes(r["cred_id"])),
                r["party_size"],
                r["starts_at"],
                r["ends_at"],
                r["status"],
            )
            for r in rows
        ],
    )


# Ed25519 checks release the GIL (libsodium): two threads verify a large upload twice as
# fast as one, and the event loop keeps serving other requests meanwhile.
_VERIFY_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="onecode-verify")
_INLINE_BELOW = 64  # smaller sets are verified on the loop: a thread hop costs more


def _verify_many(texts: list[str], ring: KeyRing, at_unix: float, skew: int) -> list[Verified]:
    return [verify(text, ring, at_unix, skew) for text in texts]


class VerifyCache:
    """Code text -> signature check. A gate scans the same code in and out, and a
    retried upload repeats a whole batch: the Ed25519 check is the costly part.
    Cleared whenever the key ring changes (a retired key must stop verifying)."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self._items: OrderedDict[str, Verified] = OrderedDict()
        self._ring: KeyRing | None = None

    async def check_all(
        self, scans: list[tuple[str, float]], ring: KeyRing, skew: int
    ) -> list[Verified]:
        """Judge each (code text, scan time): signatures once per text, windows per scan."""
        if ring is not self._ring:
            self._items.clear()
            self._ring = ring
        # the hits are taken before the await: another request may clear or trim the
        # cache meanwhile (a retired key, or more codes than ``size``)
        hits: dict[str, Verified] = {}
        misses: dict[str, None] = {}
        for text, _ in scans:
            hit = self._items.get(text)
            if hit is not None:
                hits[text] = hit
            else:
                misses[text] = None
        if misses:
            texts = list(misses)
            at = scans[0][1]  # the window is judged per scan below; any time will do here
            if len(texts) < _INLINE_BELOW:
                results = _verify_many(texts, ring, at, skew)
            else:
                loop = asyncio.get_running_loop()
                half = (len(texts) + 1) // 2
                parts = await asyncio.gather(
                    *(
                        loop.run_in_executor(_VERIFY_THREADS, _verify_many, chunk, ring, at, skew)
                        for chunk in (texts[:half], texts[half:])
                    )
                )
                results = parts[0] + parts[1]
            fresh = dict(zip(texts, results, strict=True))
            hits.update(fresh)
        else:
            fresh = {}
        out = [_at(hits[text], at_unix, skew) for text, at_unix in scans]
        if ring is self._ring:  # unless the ring changed meanwhile: a retired key must stop
            for text, hit in fresh.items():
                if hit.credential is not None:  # only well-signed codes are worth keeping
                    self._items[text] = hit
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return out


def _at(hit: Verified, at_unix: float, skew: int) -> Verified:
    """A signature check judged at one scan's time (its validity window)."""
    cred = hit.credential
    if cred is None:
        return hit
    if at_unix < cred.not_before - skew:
        return Verified(False, Reason.NOT_YET_VALID, cred, hit.body, hit.suffix)
    if at_unix >= cred.expires_at + skew:
        return Verified(False, Reason.EXPIRED_CODE, cred, hit.body, hit.suffix)
    return Verified(True, Reason.OK, cred, hit.body, hit.suffix)


async def upload(
    conn: asyncpg.Connection,
    gate_id: uuid.UUID,
    venue_id: uuid.UUID,
    data: UploadIn,
    ring: KeyRing,
    cache: VerifyCache,
    max_scans: int,
    skew: int,
) -> UploadOut:
    items = data.scans
    if len(items) > max_scans:
        raise PayloadTooLarge(
            f"At most {max_scans} scans per upload; split the batch.", "scans.batch_too_large"
        )
    if not items:
        return UploadOut([])
    seen: set[uuid.UUID] = set()
    for item in items:
        if item.scan_id in seen:
            raise BadRequest(
                f"scan_id {item.scan_id} appears twice in the batch.", "scans.duplicate_in_batch"
            )
        seen.add(item.scan_id)

    # A retried batch is mostly known already: skip the signature work for those.
    known: dict[uuid.UUID, uuid.UUID] = {
        r["scan_id"]: r["traveller_id"]
        for r in await conn.fetch(
            Q()["offline_select_existing_scans"], gate_id, [i.scan_id for i in items]
        )
    }
    now = datetime.now(UTC)
    fresh = [item for item in items if item.scan_id not in known]
    judged = iter(
        await cache.check_all([(i.code, i.scanned_at.timestamp()) for i in fresh], ring, skew)
    )
    checked: list[Verified | None] = [
        None if item.scan_id in known else next(judged) for item in items
    ]
    cred_ids = [c.credential.cred_id for c in checked if c is not None and c.credential]
    # a code names its cred_id only: the lookup gives the travellers, whose shards hold
    # the credentials
    owners = await conn.fetch(Q()["offline_select_credential_travellers"], cred_ids)
    creds = {
        bytes(r["cred_id"]): r
        for r in await conn.fetch(
            Q()["offline_select_credentials"],
            list({r["traveller_id"] for r in owners}),
            [r["cred_id"] for r in owners],
        )
    }

    travellers: list[uuid.UUID] = []
    decisions: list[str] = []
    reasons: list[str] = []
    parties: list[int] = []
    flags: list[str | None] = []
    for item, result in zip(items, checked, strict=True):
        decision, reason, party, flag = item.decision, str(item.reason), item.party_size, None
        if result is None:  # stored before: the database answers 'duplicate'
            travellers.append(known[item.scan_id])
        else:
            cred = result.credential
            row = creds.get(cred.cred_id) if cred is not None else None
            travellers.append(row["traveller_id"] if row is not None else NO_TRAVELLER)
            refusal = _refusal(item.scanned_at, now, skew, result, row)
            if refusal is not None:
                decision, reason, party, flag = "reject", refusal, 0, "refused_upload"
            elif decision == "accept" and item.direction == "in" and _stale(result, row, item):
                flag = "stale_code"
        decisions.append(decision)
        reasons.append(reason)
        parties.append(party)
        flags.append(flag)

    rows = await conn.fetch(
        Q()["offline_upload_scans"],
        gate_id,
        venue_id,
        [i.scan_id for i in items],
        travellers,
        [i.direction for i in items],
        decisions,
        reasons,
        parties,
        # an absurd clock (year 9999) is refused as bad_time; its record keeps a storable time
        [clamp_instant(i.scanned_at) for i in items],
        flags,
    )
    answers = {r["scan_id"]: r for r in rows}
    return UploadOut(
        [
            UploadResult(
                scan_id=item.scan_id,
                status=answers[item.scan_id]["status"],
                reason=answers[item.scan_id]["reason"],
                flag=answers[item.scan_id]["flag"],
            )
            for item in items
        ]
    )


def _refusal(
    scanned_at: datetime,
    now: datetime,
    skew: int,
    result: Verified,
    credential: asyncpg.Record | None,
) -> str | None:
    """Why an uploaded scan cannot count at all: a forged, unknown or absurd code.

    Revocation and the validity window were the gate's to judge at scan time, and its
    decision is a fact (a stale code is flagged, not refused); only what proves the scan
    itself wrong refuses the item. Bounds (party, presence) are gate_upload's.
    """
    if not (now - UPLOAD_MAX_AGE <= scanned_at <= now + timedelta(seconds=skew)):
        return ScanReason.BAD_TIME
    if result.credential is None:
        return str(result.reason.value)  # invalid_code, unknown_key
    if credential is None:
        return ScanReason.INVALID_CODE  # well signed, but no credential of ours
    return None


def _stale(result: Verified, credential: asyncpg.Record | None, item: UploadItem) -> bool:
    """The code was not current when scanned: expired at the scan time, or its
    credential revoked (rotated away, erased, paper pass revoked) by then. (A code scanned
    before its not_before is not flagged: history replayed with today's codes, as the
    demo does, would all be stale; the gate's own clock judged it.)"""
    if result.reason is Reason.EXPIRED_CODE:
        return True
    if credential is None or result.credential is None:
        return False
    if result.credential.generation != credential["generation"]:
        return True
    revoked_at: datetime = credential["changed_at"]
    return bool(credential["revoked_all"]) and revoked_at <= item.scanned_at


async def conflicts(
    conn: asyncpg.Connection, venue_id: uuid.UUID, days: int, limit: int
) -> list[Conflict]:
    since = datetime.now(UTC) - timedelta(days=days)
    rows = await conn.fetch(Q()["offline_select_conflicts"], venue_id, since, limit)
    out = []
    for r in rows:
        earlier = msgspec.json.decode(r["earlier"].encode(), type=list[ConflictEntry])
        out.append(
            Conflict(
                kind=r["kind"],
                reason=ScanReason(r["reason"]),
                scan=ConflictEntry(
                    scan_id=r["scan_id"],
                    gate_id=r["gate_id"],
                    scanned_at=r["device_time"],
                    offline=r["offline"],
                ),
                earlier=earlier,
                local_day=r["local_day"].isoformat(),
                party_size=r["party_size"],
            )
        )
    return out
