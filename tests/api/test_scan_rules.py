"""One scan-decision truth: every row of the case table (onecode.gates.rules.CASES) run
against ``gate_scan()`` on a real PostgreSQL (through the service the route calls) and
against the gate agent's offline decision on the pack the server itself builds; they
agree, or the row says why offline must differ.

Also: the reason vocabulary is the ``CHECK`` of ``scans.reason``, and the entry rule is
parsed the same way in Python and SQL."""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest

from onecode.codes import BODY_LEN, Credential, KeyRing, SigningKey, issue, screenshot_suffix
from onecode.gates import service as gates
from onecode.gates.models import ScanIn
from onecode.gates.rules import CASES, Case, EntryRule, ScanReason
from onecode.offline import service as offline
from onecode_gate.agent import PackState, open_db

KEY = SigningKey.generate(9, datetime(2026, 1, 1, tzinfo=UTC))
OTHER_KEY = SigningKey.generate(9, datetime(2026, 1, 1, tzinfo=UTC))  # same kid: forged
STRANGER = SigningKey.generate(10, datetime(2026, 1, 1, tzinfo=UTC))  # kid not trusted
RING = KeyRing([KEY.public()])
SKEW = 120
ZERO = uuid.UUID(int=0)


def _midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is near noon now: no case straddles a local midnight."""
    best = min(range(-12, 15), key=lambda h: abs((now.hour + h) % 24 - 12))
    return f"Etc/GMT{-best:+d}" if best else "UTC"


@dataclass
class Setup:
    venue_id: uuid.UUID
    gate_id: uuid.UUID
    code: str
    timezone: str


async def _venue(conn: asyncpg.Connection, case: Case, tz: str, name: str) -> uuid.UUID:
    rule, *flags = case.venue.split("+")
    venue_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO venues (id, region_code, name, kind, gated, requires_booking, entry_rule,
                               capacity_instant, capacity_daily, occupancy_cap_pct, timezone,
                               live_code_required, place_code, active, deactivated_at)
           VALUES ($1, 'CN-T', $2, 'scenic_area', true, $3, $4, 100, 1000, $5, $6, $7, $8,
                   $9, CASE WHEN $9 THEN NULL ELSE now() END)""",
        venue_id,
        name,
        case.booking != "free",
        rule,
        1 if "full" in flags else None,
        tz,
        False if "relaxed" in flags else None,
        uuid.uuid4().hex,
        "inactive" not in flags,
    )
    return venue_id


async def _book(
    conn: asyncpg.Connection,
    traveller: uuid.UUID,
    venue_id: uuid.UUID,
    starts: datetime,
    status: str = "booked",
) -> uuid.UUID:
    slot_id, booking_id = uuid.uuid4(), uuid.uuid4()
    ends = starts + timedelta(hours=1)
    await conn.execute(
        "INSERT INTO slots (id, venue_id, starts_at, ends_at) VALUES ($1, $2, $3, $4)",
        slot_id,
        venue_id,
        starts,
        ends,
    )
    await conn.execute(
        "INSERT INTO slot_counters (venue_id, slot_id, capacity, booked) VALUES ($1, $2, 10, 2)",
        venue_id,
        slot_id,
    )
    await conn.execute(
        """INSERT INTO bookings (id, traveller_id, slot_id, venue_id, party_size, status,
                                 starts_at, ends_at, local_day)
           SELECT $1, $2, $3, $4, 2, $5, $6, $7, ($6 AT TIME ZONE v.timezone)::date
             FROM venues v WHERE v.id = $4""",
        booking_id,
        traveller,
        slot_id,
        venue_id,
        status,
        starts,
        ends,
    )
    return booking_id


async def _credential(
    conn: asyncpg.Connection,
    traveller: uuid.UUID,
    *,
    revoked: bool = False,
    kind: str = "phone",
    booking: uuid.UUID | None = None,
) -> tuple[bytes, bytes]:
    cred_id, secret = uuid.uuid4().bytes, uuid.uuid4().bytes * 2
    await conn.execute(
        "INSERT INTO credential_ids (cred_id, traveller_id) VALUES ($1, $2)", cred_id, traveller
    )
    await conn.execute(
        """INSERT INTO credentials (cred_id, traveller_id, suffix_secret, expires_at,
                                    revoked_all, kind, booking_id)
           VALUES ($1, $2, $3, now() + interval '1 day', $4, $5, $6)""",
        cred_id,
        traveller,
        secret,
        revoked,
        kind,
        booking,
    )
    return cred_id, secret


def _sign(cred_id: bytes, now: float, *, key: SigningKey = KEY, gen: int = 1, nb: int = -60,
          exp: int = 86_400) -> str:  # fmt: skip
    return issue(Credential(key.kid, cred_id, gen, int(now) + nb, int(now) + exp), key)


async def build(conn: asyncpg.Connection, case: Case, now: float) -> Setup:
    at = datetime.fromtimestamp(now, UTC)
    tz = _midday_zone(at)
    await conn.execute("INSERT INTO regions (code, name) VALUES ('CN-T', 'Test')")
    venue_id = await _venue(conn, case, tz, "here")
    gate_id, other_gate = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO gates (id, venue_id, name) VALUES ($1, $3, 'g'), ($2, $3, 'other')",
        gate_id,
        other_gate,
        venue_id,
    )
    traveller = uuid.uuid4()
    await conn.execute("INSERT INTO travellers (id) VALUES ($1)", traveller)

    # the booking
    booking: uuid.UUID | None = None
    starts = {"now": -10, "early": 120, "late": -180, "cancelled": -10, "other_venue": -10}
    if case.booking in starts:
        where = venue_id
        if case.booking == "other_venue":
            where = await _venue(conn, case, tz, "elsewhere")
        booking = await _book(
            conn,
            traveller,
            where,
            at + timedelta(minutes=starts[case.booking]),
            "cancelled" if case.booking == "cancelled" else "booked",
        )

    # the credential and the code the gate reads
    c = case.credential
    if c == "unknown":
        code = _sign(uuid.uuid4().bytes, now)  # well signed, no row
    elif c.startswith("paper"):
        await _credential(conn, traveller)  # the traveller's phone code exists too
        pass_for = booking
        if c == "paper_other_slot":
            pass_for = await _book(conn, traveller, venue_id, at + timedelta(hours=3))
        cred_id, _ = await _credential(
            conn, traveller, kind="paper", booking=pass_for, revoked=c == "paper_revoked"
        )
        code = _sign(cred_id, now)  # paper: no suffix
    else:
        if c == "rotated":
            cred_id, secret = await _credential(conn, traveller, revoked=True)  # tombstone
            await _credential(conn, traveller)  # the current one
        else:
            cred_id, secret = await _credential(conn, traveller, revoked=c == "erased")
        if c == "erased":
            await conn.execute("UPDATE travellers SET erased_at = now() WHERE id = $1", traveller)
        body = {
            "expired": lambda: _sign(cred_id, now, nb=-7200, exp=-3600),
            "not_yet_valid": lambda: _sign(cred_id, now, nb=3600, exp=7200),
            "ahead": lambda: _sign(cred_id, now, gen=2),
            "forged": lambda: _sign(cred_id, now, key=OTHER_KEY),
            "unknown_key": lambda: _sign(cred_id, now, key=STRANGER),
        }.get(c, lambda: _sign(cred_id, now))()
        if c == "static":
            code = body
        elif c == "bad_suffix":
            code = body + screenshot_suffix(body, bytes(32), now)
        else:
            code = body + screenshot_suffix(body, secret, now)

    # where the traveller stands today, and the venue's counters
    entries, inside = {"none": (0, False), "inside": (1, True), "left": (1, False)}.get(
        case.presence, (2, False)
    )
    day = datetime.fromtimestamp(now, ZoneInfo(tz)).date()
    if case.presence != "none":
        party = 1 if case.booking == "free" else 2
        await conn.execute(
            "INSERT INTO presence (traveller_id, venue_id, local_day, entries, inside, "
            "party_size) VALUES ($1, $2, $3, $4, $5, $6)",
            traveller,
            venue_id,
            day,
            entries,
            inside,
            party,
        )
        await conn.execute(
            "INSERT INTO venue_counters (venue_id, local_day, stripe, ins, outs) "
            "VALUES ($1, $2, 0, $3, $4)",
            venue_id,
            day,
            entries * party,
            (entries - int(inside)) * party,
        )
    if "full" in case.venue:  # somebody else fills the cap of 1
        await conn.execute(
            "INSERT INTO venue_counters (venue_id, local_day, stripe, ins) VALUES ($1, $2, 1, 1)",
            venue_id,
            day,
        )
    return Setup(venue_id, gate_id, code, tz)


async def decide_offline(
    conn: asyncpg.Connection, case: Case, setup: Setup, now: float, tmp: Path
) -> tuple[str, str, int]:
    """The agent's decision on the pack the server makes for this gate, with the agent's
    own presence record set to the case's."""
    pack = await offline.pack(conn, setup.venue_id, RING, None)
    db = open_db(tmp / "agent.sqlite3")
    try:
        state = PackState(db)
        state.apply(msgspec.json.decode(msgspec.json.encode(pack)))
        body = setup.code[:BODY_LEN]
        entries, inside = {"none": (0, 0), "inside": (1, 1), "left": (1, 0)}.get(
            case.presence, (2, 0)
        )
        if case.presence != "none" and len(body) == BODY_LEN:
            decoded = base64.urlsafe_b64encode(_cred_id_of(body)).rstrip(b"=").decode()
            day = datetime.fromtimestamp(now, ZoneInfo(setup.timezone)).date().isoformat()
            db.execute(
                "INSERT INTO presence (cred_id, day, entries, inside) VALUES (?, ?, ?, ?)",
                (decoded, day, entries, inside),
            )
        d = state.decide(setup.code, case.direction, now, SKEW)
        return d.decision, d.reason, d.party_size
    finally:
        db.close()


def _cred_id_of(body: str) -> bytes:
    import base45

    raw: bytes = base45.b45decode(body[4:])
    return raw[2:18]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_case_online_and_offline(
    conn: asyncpg.Connection, case: Case, tmp_path: Path
) -> None:
    now = time.time()
    setup = await build(conn, case, now)
    off = await decide_offline(conn, case, setup, now, tmp_path)
    on = await gates.scan(
        conn,
        RING,
        setup.gate_id,
        setup.venue_id,
        ScanIn(
            code=setup.code,
            direction=case.direction,  # type: ignore[arg-type]
            scan_id=uuid.uuid4(),
            scanned_at=datetime.fromtimestamp(now, UTC),
        ),
        SKEW,
    )
    assert (on.decision, on.reason) == case.online, ("online", case.name)
    assert (off[0], off[1]) == case.expected_offline, ("offline", case.name, case.why)
    if case.offline is not None:
        assert case.why, f"{case.name}: offline differs, the row must say why"
    if case.party is not None:
        assert on.party_size == case.party
        assert off[2] == case.party
    if case.credential.startswith("paper") and on.decision == "accept":
        assert on.credential == "paper"
    # every scan is stored once, with a reason of the vocabulary
    stored = await conn.fetchval("SELECT reason FROM scans WHERE scan_id = $1", on.scan_id)
    assert stored == on.reason


def test_the_case_table_covers_every_decision_reason() -> None:
    online = {c.online[1] for c in CASES}
    gate_reasons = set(ScanReason) - {
        ScanReason.NO_PACK,
        ScanReason.AGENT_INTERRUPTED,
        ScanReason.BAD_TIME,
        ScanReason.PARTY_TOO_LARGE,
    }
    assert gate_reasons <= online, gate_reasons - online
    assert len({c.name for c in CASES}) == len(CASES)


async def test_scans_reason_check_is_the_vocabulary(conn: asyncpg.Connection) -> None:
    definition = await conn.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'scans_reason_ck'"
    )
    assert set(re.findall(r"'([a-z_]+)'", definition)) == {r.value for r in ScanReason}
    # and a made-up reason cannot be stored
    setup = await build(conn, CASES[0], time.time())
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO scans (gate_id, scan_id, venue_id, direction, decision, reason, "
            "device_time) VALUES ($1, $2, $3, 'in', 'accept', 'made_up_reason', now())",
            setup.gate_id,
            uuid.uuid4(),
            setup.venue_id,
        )


@pytest.mark.parametrize("rule", ["single", "reentry", "daily:1", "daily:2", "daily:999"])
async def test_entry_rule_parsed_one_way(conn: asyncpg.Connection, rule: str) -> None:
    assert await conn.fetchval("SELECT gate_entry_limit($1)", rule) == EntryRule.parse(rule).limit


def test_entry_rule_refuses_what_the_venue_check_refuses() -> None:
    for bad in ("daily:0", "daily:", "daily:1000", "Single", "daily:01", ""):
        with pytest.raises(ValueError, match="entry rule"):
            EntryRule.parse(bad)


async def test_sql_suffix_check_takes_one_step_either_side(conn: asyncpg.Connection) -> None:
    """The only suffix check is SQL's ``gate_suffix_ok`` (the Python copy is gone)."""
    secret = bytes(range(32))
    code = _sign(uuid.uuid4().bytes, time.time())
    t = 1_800_000_015.0
    suffix = base45_suffix(code, secret, t)
    at = datetime.fromtimestamp
    ok = "SELECT gate_suffix_ok($1, $2, $3, $4)"
    for delta, expected in ((0, True), (30, True), (-30, True), (90, False), (-90, False)):
        assert await conn.fetchval(ok, secret, code, suffix, at(t + delta, UTC)) is expected
    assert not await conn.fetchval(ok, bytes(32), code, suffix, at(t, UTC))  # other secret
    assert not await conn.fetchval(ok, secret, code, bytes(4), at(t, UTC))
    assert not await conn.fetchval(ok, secret, code, suffix[:3], at(t, UTC))
    other = _sign(uuid.uuid4().bytes, time.time())
    assert not await conn.fetchval(ok, secret, other, suffix, at(t, UTC))  # moved


def base45_suffix(code: str, secret: bytes, t: float) -> bytes:
    import base45

    raw: bytes = base45.b45decode(screenshot_suffix(code, secret, t)[1:])
    return raw
