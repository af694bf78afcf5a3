"""The gate rules in one place: the reason vocabulary, the entry rules, and the offline
decision a gate makes from its sync pack.

Framework-free (no web framework, no database driver): the server, the gate agent and
third-party gates can all import it.

Who decides what
----------------
- Online, the whole decision is one SQL function, ``gate_scan()`` in
  ``sql/functions/gates.sql`` (it needs the live rows: credential, booking, presence,
  counters, and takes their locks). Python does not copy it.
- Offline, a gate decides from its pack with :func:`decide_offline` below.
- ``tests/api/test_scan_rules.py`` runs every row of the case table
  (``tests/support/scan_cases.py``) against both and checks that they agree, except
  where a row says why offline must differ (the gate cannot know).

The reason codes are :class:`ScanReason`; ``scans.reason`` carries a ``CHECK`` with
exactly these values (migration 0060) and a test keeps the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "AGENT_REASONS",
    "UPLOAD_REASONS",
    "CredentialKind",
    "EntryRule",
    "OfflineDecision",
    "OfflineEntitlement",
    "OfflineVenue",
    "ScanReason",
    "booking_window_reason",
    "decide_offline",
]


class ScanReason(StrEnum):
    """Why a scan was accepted or rejected: the API's reason codes (``ScanResult.reason``,
    uploaded ``reason``, ``scans.reason``)."""

    # accepted
    OK = "ok"
    NOT_INSIDE = "not_inside"  # an exit without an entry: never blocked, not counted
    # the code itself (TQ1 verification, onecode.codes.verify)
    INVALID_CODE = "invalid_code"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED_CODE = "expired_code"
    NOT_YET_VALID = "not_yet_valid"
    # the credential (database, or the pack's revocations offline)
    REVOKED_CODE = "revoked_code"
    SCREENSHOT_CODE = "screenshot_code"  # a suffix that is not this 30 s step's HMAC
    STATIC_CODE = "static_code"  # no suffix where the venue requires a live code
    # the entitlement
    NO_BOOKING = "no_booking"
    WRONG_VENUE = "wrong_venue"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    # the entry rule and the cap
    ALREADY_USED = "already_used"
    ALREADY_INSIDE = "already_inside"
    VENUE_FULL = "venue_full"
    VENUE_INACTIVE = "venue_inactive"  # a deactivated venue admits nobody (exits pass)
    # the gate agent only (a decision it made without the server)
    NO_PACK = "no_pack"
    AGENT_INTERRUPTED = "agent_interrupted"
    # an uploaded item the server refused to count (kept for the operator)
    BAD_TIME = "bad_time"
    PARTY_TOO_LARGE = "party_too_large"


#: Reasons only the gate agent gives (it had no pack, or died before printing).
AGENT_REASONS = frozenset({ScanReason.NO_PACK, ScanReason.AGENT_INTERRUPTED})
#: Reasons only the upload gives back for an item it refused to count.
UPLOAD_REASONS = frozenset({ScanReason.BAD_TIME, ScanReason.PARTY_TOO_LARGE})


class CredentialKind(StrEnum):
    """What a credential is: the phone's live code, or a paper pass for one booking."""

    PHONE = "phone"
    PAPER = "paper"


_RULE = re.compile(r"^(single|reentry|daily:([1-9][0-9]{0,2}))$")


@dataclass(frozen=True, slots=True)
class EntryRule:
    """A venue's entry rule, parsed once: ``single``, ``reentry`` or ``daily:N``.

    ``limit`` is the number of entries a traveller has per local day (None: any number);
    ``anti_passback`` refuses an entry while the traveller is inside. The SQL twin is
    ``gate_entry_limit()`` in sql/functions/gates.sql (same table of values, tested).
    """

    text: str
    limit: int | None
    anti_passback: bool

    @classmethod
    def parse(cls, text: str) -> EntryRule:
        match = _RULE.match(text)
        if match is None:
            raise ValueError(f"entry rule must be single, reentry or daily:N, not {text!r}")
        if text == "single":
            return cls(text, 1, True)
        if text == "reentry":
            return cls(text, None, True)
        return cls(text, int(match.group(2)), True)

    def refusal(self, entries: int, inside: bool) -> ScanReason | None:
        """Why an entry is refused given the day's entries so far, or None."""
        if self.limit is not None and entries >= self.limit:
            return ScanReason.ALREADY_USED
        if self.anti_passback and inside:
            return ScanReason.ALREADY_INSIDE
        return None


# --- the offline decision -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfflineVenue:
    """The venue fields of a pack (``PackVenue``) the decision reads."""

    entry_rule: str
    requires_booking: bool
    early_grace_min: int
    late_grace_min: int
    active: bool = True


@dataclass(frozen=True, slots=True)
class OfflineEntitlement:
    """One entitlement row of a pack (times in unix seconds)."""

    party_size: int
    starts_at: float
    ends_at: float
    status: str


@dataclass(frozen=True, slots=True)
class OfflineDecision:
    decision: str  # accept | reject
    reason: ScanReason
    party_size: int


def booking_window_reason(
    bookings: Iterable[OfflineEntitlement], now: float, early_min: int, late_min: int
) -> tuple[OfflineEntitlement | None, ScanReason | None]:
    """The booking that admits now (first by start), or why none does.

    Window: ``[starts_at - early, ends_at + late)``, as ``gate_scan()``. Of the
    traveller's live bookings here, any still ahead of its window makes ``too_early``,
    else ``too_late``; no live booking at all is ``no_booking``.
    """
    live = sorted(
        (b for b in bookings if b.status in ("booked", "used")),
        key=lambda b: (b.status != "booked", b.starts_at),
    )
    if not live:
        return None, ScanReason.NO_BOOKING
    early, late = early_min * 60, late_min * 60
    for b in live:
        if b.starts_at - early <= now < b.ends_at + late:
            return b, None
    if any(now < b.starts_at - early for b in live):
        return None, ScanReason.TOO_EARLY
    return None, ScanReason.TOO_LATE


def decide_offline(
    *,
    verdict: str,
    authentic: bool,
    generation: int,
    min_generation: int,
    direction: str,
    venue: OfflineVenue,
    entitlements: Iterable[OfflineEntitlement],
    entries: int,
    inside: bool,
    now: float,
) -> OfflineDecision:
    """What a gate without the server decides, from its pack and its own presence record.

    ``verdict`` is ``verify``'s reason (``ok``, ``expired_code``…), ``authentic`` whether
    the signature was good (the credential fields can be trusted), ``min_generation``
    the pack's revocation for the credential (0 when none). The same order as online:
    exits of an authentic pass are never blocked; then the code, the revocation, the
    booking window, the entry rule. The suffix, the venue's cap, other venues'
    bookings and other gates' scans are unknown offline (see the case table).
    """
    if not authentic:
        return OfflineDecision("reject", ScanReason(verdict), 0)
    if direction == "out":
        return OfflineDecision("accept", ScanReason.OK if inside else ScanReason.NOT_INSIDE, 0)
    if not venue.active:
        return OfflineDecision("reject", ScanReason.VENUE_INACTIVE, 0)
    if verdict != ScanReason.OK:
        return OfflineDecision("reject", ScanReason(verdict), 0)
    if generation < min_generation:
        return OfflineDecision("reject", ScanReason.REVOKED_CODE, 0)
    party = 1
    if venue.requires_booking:
        booking, why = booking_window_reason(
            entitlements, now, venue.early_grace_min, venue.late_grace_min
        )
        if booking is None:
            assert why is not None
            return OfflineDecision("reject", why, 0)
        party = booking.party_size
    refusal = EntryRule.parse(venue.entry_rule).refusal(entries, inside)
    if refusal is not None:
        return OfflineDecision("reject", refusal, 0)
    return OfflineDecision("accept", ScanReason.OK, party)


# --- the case table ------------------------------------------------------------------------
#
# (credential state, booking state, presence, direction, venue rule) -> (decision, reason),
# online (gate_scan) and offline (decide_offline on the server's own pack). Where offline
# must differ, the row says what it answers and why. tests/api/test_scan_rules.py runs
# every row against both on a real PostgreSQL.
#
# credential: live (current, with this step's suffix), static (current, no suffix),
#   bad_suffix, expired, not_yet_valid, rotated (an earlier credential of a rotated
#   traveller), ahead (a generation the database never issued), erased, unknown
#   (well signed, no credential row), forged (bad signature), unknown_key,
#   paper (a paper pass for the day's booking, no suffix), paper_revoked,
#   paper_other_slot (a paper pass for a later booking of the day, not the one now)
# booking: now (its window contains now), early, late, other_venue (one at another
#   venue today), cancelled, none, free (the venue admits without booking)
# presence: none, inside (entered, not left), left (entered and left once),
#   used_up (entered and left as often as the rule allows)
# venue: single | reentry | daily:2, and flags: full (cap reached), relaxed (no live
#   code required), inactive (deactivated by operations)

#: Offline cannot check the suffix: gates hold no suffix secrets (docs/tq1.md).
WHY_SUFFIX = "offline gates hold no suffix secrets: the live-code rule is online only"
#: Offline does not know the live occupancy of the other gates.
WHY_CAP = "the cap needs every gate's live counters: an offline gate cannot know them"
#: The pack carries only this venue's entitlements.
WHY_OTHER_VENUE = "the pack holds only this venue's entitlements: no booking is all it sees"
#: The pack lists revoked credentials, not every credential's current generation.
WHY_AHEAD = (
    "the pack lists revoked credentials only; a generation the database never issued "
    "(restored database, leaked key) looks current offline"
)
WHY_UNKNOWN = (
    "the pack lists revoked credentials only, not every known one; with no entitlement "
    "for it, a booked venue refuses it offline as no_booking, a free one admits it"
)


@dataclass(frozen=True, slots=True)
class Case:
    credential: str
    booking: str
    presence: str
    direction: str
    venue: str
    online: tuple[str, str]
    offline: tuple[str, str] | None = None  # None: the same as online
    why: str = ""
    party: int | None = None  # the party an accepted entry lets through

    @property
    def name(self) -> str:
        return "-".join((self.credential, self.booking, self.presence, self.direction, self.venue))

    @property
    def expected_offline(self) -> tuple[str, str]:
        return self.offline or self.online


ACCEPT, REJECT = "accept", "reject"

CASES: tuple[Case, ...] = (
    # the code and the credential (a booking now, first entry)
    Case("live", "now", "none", "in", "single", (ACCEPT, "ok"), party=2),
    Case(
        "static", "now", "none", "in", "single", (REJECT, "static_code"), (ACCEPT, "ok"), WHY_SUFFIX
    ),
    Case("static", "now", "none", "in", "single+relaxed", (ACCEPT, "ok"), party=2),
    Case(
        "bad_suffix",
        "now",
        "none",
        "in",
        "single",
        (REJECT, "screenshot_code"),
        (ACCEPT, "ok"),
        WHY_SUFFIX,
    ),
    Case(
        "bad_suffix",
        "now",
        "none",
        "in",
        "single+relaxed",
        (REJECT, "screenshot_code"),
        (ACCEPT, "ok"),
        WHY_SUFFIX,
    ),
    Case("expired", "now", "none", "in", "single", (REJECT, "expired_code")),
    Case("not_yet_valid", "now", "none", "in", "single", (REJECT, "not_yet_valid")),
    Case("rotated", "now", "none", "in", "single", (REJECT, "revoked_code")),
    Case(
        "ahead", "now", "none", "in", "single", (REJECT, "revoked_code"), (ACCEPT, "ok"), WHY_AHEAD
    ),
    Case("erased", "now", "none", "in", "single", (REJECT, "revoked_code")),
    Case(
        "unknown",
        "none",
        "none",
        "in",
        "single",
        (REJECT, "revoked_code"),
        (REJECT, "no_booking"),
        WHY_UNKNOWN,
    ),
    Case(
        "unknown",
        "free",
        "none",
        "in",
        "reentry",
        (REJECT, "revoked_code"),
        (ACCEPT, "ok"),
        WHY_UNKNOWN,
    ),
    Case("forged", "now", "none", "in", "single", (REJECT, "invalid_code")),
    Case("unknown_key", "now", "none", "in", "single", (REJECT, "unknown_key")),
    # the paper pass: no suffix, only for its own booking
    Case("paper", "now", "none", "in", "single", (ACCEPT, "ok"), party=2),
    Case("paper", "now", "inside", "in", "single", (REJECT, "already_used")),
    Case("paper_revoked", "now", "none", "in", "single", (REJECT, "revoked_code")),
    Case("paper_other_slot", "now", "none", "in", "single", (REJECT, "too_early")),
    Case("paper", "now", "inside", "out", "single", (ACCEPT, "ok")),
    # exits: never blocked for an authentic pass, whatever its state
    Case("live", "now", "inside", "out", "single", (ACCEPT, "ok")),
    Case("live", "now", "none", "out", "single", (ACCEPT, "not_inside")),
    Case("static", "now", "inside", "out", "single", (ACCEPT, "ok")),
    Case("bad_suffix", "now", "inside", "out", "single", (ACCEPT, "ok")),
    Case("expired", "now", "inside", "out", "single", (ACCEPT, "ok")),
    Case("not_yet_valid", "now", "inside", "out", "single", (ACCEPT, "ok")),
    Case("rotated", "now", "inside", "out", "single", (ACCEPT, "ok")),
    Case("rotated", "now", "none", "out", "single", (ACCEPT, "not_inside")),
    Case("erased", "now", "inside", "out", "single", (ACCEPT, "ok")),
    Case("unknown", "none", "none", "out", "single", (ACCEPT, "not_inside")),
    Case("live", "free", "inside", "out", "reentry+full", (ACCEPT, "ok")),
    Case("forged", "now", "inside", "out", "single", (REJECT, "invalid_code")),
    Case("unknown_key", "now", "inside", "out", "single", (REJECT, "unknown_key")),
    # the booking
    Case("live", "early", "none", "in", "single", (REJECT, "too_early")),
    Case("live", "late", "none", "in", "single", (REJECT, "too_late")),
    Case(
        "live",
        "other_venue",
        "none",
        "in",
        "single",
        (REJECT, "wrong_venue"),
        (REJECT, "no_booking"),
        WHY_OTHER_VENUE,
    ),
    Case("live", "cancelled", "none", "in", "single", (REJECT, "no_booking")),
    Case("live", "none", "none", "in", "single", (REJECT, "no_booking")),
    Case("live", "free", "none", "in", "reentry", (ACCEPT, "ok"), party=1),
    Case("expired", "none", "none", "in", "single", (REJECT, "expired_code")),
    Case("rotated", "none", "none", "in", "single", (REJECT, "revoked_code")),
    # the entry rules (every rule is anti-passback)
    Case("live", "now", "inside", "in", "single", (REJECT, "already_used")),
    Case("live", "now", "left", "in", "single", (REJECT, "already_used")),
    Case("live", "free", "inside", "in", "reentry", (REJECT, "already_inside")),
    Case("live", "free", "left", "in", "reentry", (ACCEPT, "ok"), party=1),
    Case("live", "now", "left", "in", "reentry", (ACCEPT, "ok"), party=2),
    Case("live", "free", "left", "in", "daily:2", (ACCEPT, "ok"), party=1),
    Case("live", "free", "inside", "in", "daily:2", (REJECT, "already_inside")),
    Case("live", "free", "used_up", "in", "daily:2", (REJECT, "already_used")),
    Case("live", "now", "used_up", "in", "daily:2", (REJECT, "already_used")),
    # the cap (judged after the entry rule)
    Case(
        "live", "now", "none", "in", "single+full", (REJECT, "venue_full"), (ACCEPT, "ok"), WHY_CAP
    ),
    Case(
        "live",
        "free",
        "left",
        "in",
        "reentry+full",
        (REJECT, "venue_full"),
        (ACCEPT, "ok"),
        WHY_CAP,
    ),
    Case("live", "free", "inside", "in", "reentry+full", (REJECT, "already_inside")),
    Case("live", "now", "left", "in", "single+full", (REJECT, "already_used")),
    # a deactivated venue (operations): nobody in, everybody out
    Case("live", "now", "none", "in", "single+inactive", (REJECT, "venue_inactive")),
    Case("expired", "now", "none", "in", "single+inactive", (REJECT, "venue_inactive")),
    Case("live", "now", "inside", "out", "single+inactive", (ACCEPT, "ok")),
)
