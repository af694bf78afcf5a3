"""Online gate validation through the API: every reason code, the entry rules, grace
windows, the occupancy cap, idempotent retries, scope and bad input."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.codes import BODY_LEN, Credential, SigningKey, issue, screenshot_suffix
from onecode.codes.b64url import b64url_decode
from onecode.gates.models import NO_TRAVELLER
from tests.conftest import ADMIN, World, bearer

Client = AsyncTestClient[Litestar]


# --- test setup helpers -----------------------------------------------------------------


async def book(
    client: Client,
    conn: asyncpg.Connection,
    world: World,
    tag: str,
    venue_id: str,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    party_size: int = 1,
) -> str:
    """TEST SETUP ONLY (the bookings API is built elsewhere): a slot through the admin
    API, then the booking row inserted directly, as the bookings service would."""
    # a distinct window per call (slots are unique per venue and window)
    now = datetime.now(UTC).replace(microsecond=uuid.uuid4().int % 1_000_000)
    starts_at = starts_at or now - timedelta(minutes=10)
    ends_at = ends_at or starts_at + timedelta(hours=1)
    r = await client.post(
        f"/v1/venues/{venue_id}/slots",
        json={
            "slots": [
                {
                    "starts_at": starts_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                    "capacity": 100,
                }
            ]
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    slot_id = uuid.UUID(r.json()["slots"][0]["id"])
    booking_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO bookings (id, traveller_id, slot_id, venue_id, party_size, starts_at,
                                 ends_at, local_day)
           SELECT $1, $2, s.id, s.venue_id, $4, s.starts_at, s.ends_at,
                  (s.starts_at AT TIME ZONE v.timezone)::date
             FROM slots s JOIN venues v ON v.id = s.venue_id WHERE s.id = $3""",
        booking_id,
        uuid.UUID(world.ids[f"traveller_{tag}"]),
        slot_id,
        party_size,
    )
    await conn.execute(
        "UPDATE slot_counters SET booked = booked + $2 WHERE slot_id = $1", slot_id, party_size
    )
    return str(booking_id)


async def new_gate(world: World, venue_id: str, name: str) -> str:
    """A gate at the venue (admin API); returns its token."""
    gate = await world.post(f"/v1/admin/venues/{venue_id}/gates", {"name": name})
    return str(gate["token"])


async def scan(
    client: httpx.AsyncClient,  # the test client, or a real HTTP client
    gate_token: str,
    code: str,
    direction: str = "in",
    scan_id: str | None = None,
    scanned_at: datetime | None = None,
) -> dict[str, Any]:
    body = {
        "code": code,
        "direction": direction,
        "scan_id": scan_id or str(uuid.uuid4()),
        "scanned_at": (scanned_at or datetime.now(UTC)).isoformat(),
    }
    r = await client.post("/v1/gate/scans", json=body, headers=bearer(gate_token))
    assert r.status_code == 200, r.text
    out = dict(r.json())
    assert out["scan_id"] == body["scan_id"]
    return out


def reason(answer: dict[str, Any]) -> tuple[str, str]:
    return answer["decision"], answer["reason"]


async def traveller_with_code(world: World, tag: str) -> str:
    """A new traveller's live code (with this 30 s step's suffix), as the phone shows it."""
    await world.traveller(tag)
    return await world.live_code(tag)


async def scan_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM scans ORDER BY seq"))


# --- accept, booking windows --------------------------------------------------------------


async def test_booked_entry_is_accepted_once_and_marks_the_booking_used(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    code = await traveller_with_code(world, "t")
    booking = await book(client, conn, world, "t", world.ids["venue_a"], party_size=3)
    first = await scan(client, world.tokens["gate_a"], code)
    assert first["decision"] == "accept" and first["reason"] == "ok"
    assert first["party_size"] == 3 and first["booking_id"] == booking
    assert set(first) == {"scan_id", "decision", "reason", "party_size", "booking_id", "credential"}
    assert first["credential"] == "phone"
    row = await conn.fetchrow("SELECT status, used_at, changed_at FROM bookings")
    assert row is not None and row["status"] == "used" and row["used_at"] is not None
    # single entry: a second entry the same day is refused, even after an exit
    out = await scan(client, world.tokens["gate_a"], code, "out")
    assert reason(out) == ("accept", "ok") and out["party_size"] == 3
    again = await scan(client, world.tokens["gate_a"], code)
    assert reason(again) == ("reject", "already_used") and again["party_size"] == 0
    rows = await scan_rows(conn)
    assert [(r["direction"], r["decision"], r["reason"]) for r in rows] == [
        ("in", "accept", "ok"),
        ("out", "accept", "ok"),
        ("in", "reject", "already_used"),
    ]
    assert all(str(r["traveller_id"]) == world.ids["traveller_t"] for r in rows)


async def test_no_booking_and_wrong_venue(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    code = await traveller_with_code(world, "t")
    assert reason(await scan(client, world.tokens["gate_a"], code)) == ("reject", "no_booking")
    await book(client, conn, world, "t", world.ids["venue_b"])
    # a gate of venue A cannot use a venue-B booking
    assert reason(await scan(client, world.tokens["gate_a"], code)) == ("reject", "wrong_venue")
    assert reason(await scan(client, world.tokens["gate_b"], code)) == ("accept", "ok")
    # a cancelled booking is no entitlement
    await conn.execute("UPDATE bookings SET status = 'cancelled'")
    await world.traveller("u")
    code_u = await world.live_code("u")
    assert reason(await scan(client, world.tokens["gate_b"], code_u)) == ("reject", "no_booking")


async def test_grace_window_boundaries(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue = await world.venue("CN-GZ-AS", "Grace", early_grace_min=10, late_grace_min=5)
    gate = await new_gate(world, venue["id"], "g")
    now = datetime.now(UTC).replace(microsecond=0)
    cases = [
        # (starts_at offset from now, expected)
        (timedelta(minutes=10, seconds=60), ("reject", "too_early")),
        (timedelta(minutes=10, seconds=-60), ("accept", "ok")),
    ]
    for i, (offset, expected) in enumerate(cases):
        tag = f"e{i}"
        code = await traveller_with_code(world, tag)
        starts = now + offset
        await book(client, conn, world, tag, venue["id"], starts_at=starts)
        assert reason(await scan(client, gate, code)) == expected, offset
    # late side: the window closes late_grace_min after the slot ends
    for i, (end_offset, expected) in enumerate(
        [
            (timedelta(minutes=-5, seconds=-60), ("reject", "too_late")),
            (timedelta(minutes=-5, seconds=60), ("accept", "ok")),
        ]
    ):
        tag = f"l{i}"
        code = await traveller_with_code(world, tag)
        ends = now + end_offset
        await book(
            client, conn, world, tag, venue["id"], starts_at=ends - timedelta(hours=1), ends_at=ends
        )
        assert reason(await scan(client, gate, code)) == expected, end_offset


async def test_free_entry_venue_counts_one_person_and_feeds_live(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue = await world.venue("CN-GZ-AS", "Free park", requires_booking=False, entry_rule="reentry")
    gate1 = await new_gate(world, venue["id"], "north")
    gate2 = await new_gate(world, venue["id"], "south")
    codes = [await traveller_with_code(world, f"f{i}") for i in range(3)]
    for i, code in enumerate(codes):
        answer = await scan(client, gate1 if i % 2 else gate2, code)
        assert reason(answer) == ("accept", "ok") and answer["party_size"] == 1
        assert answer["booking_id"] is None
    assert reason(await scan(client, gate1, codes[0], "out")) == ("accept", "ok")
    live = await client.get(f"/v1/venues/{venue['id']}/live", headers=ADMIN)
    assert live.status_code == 200, live.text
    assert live.json()["inside"] == 2
    assert live.json()["entries_today"] == 3
    counters = await conn.fetchrow("SELECT sum(ins) AS ins, sum(outs) AS outs FROM venue_counters")
    assert counters is not None and (counters["ins"], counters["outs"]) == (3, 1)


# --- entry rules -------------------------------------------------------------------------


async def test_reentry_rule_is_anti_passback(client: Client, world: World) -> None:
    venue = await world.venue("CN-GZ-AS", "Museum", requires_booking=False, entry_rule="reentry")
    gate = await new_gate(world, venue["id"], "g")
    code = await traveller_with_code(world, "t")
    assert reason(await scan(client, gate, code)) == ("accept", "ok")
    assert reason(await scan(client, gate, code)) == ("reject", "already_inside")
    assert reason(await scan(client, gate, code, "out")) == ("accept", "ok")
    assert reason(await scan(client, gate, code)) == ("accept", "ok")
    assert reason(await scan(client, gate, code, "out")) == ("accept", "ok")
    # an exit without entry is accepted and flagged, never blocked
    assert reason(await scan(client, gate, code, "out")) == ("accept", "not_inside")


async def test_exit_without_entry_is_accepted_and_not_counted(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    code = await traveller_with_code(world, "t")
    answer = await scan(client, world.tokens["gate_a"], code, "out")
    assert reason(answer) == ("accept", "not_inside")
    assert await conn.fetchval("SELECT COALESCE(sum(outs), 0) FROM venue_counters") == 0


async def test_daily_n_rule_allows_n_entries(client: Client, world: World) -> None:
    venue = await world.venue("CN-GZ-AS", "Temple", requires_booking=False, entry_rule="daily:2")
    gate = await new_gate(world, venue["id"], "g")
    code = await traveller_with_code(world, "t")
    assert reason(await scan(client, gate, code)) == ("accept", "ok")
    # every rule is anti-passback: a second entry needs an exit first (one pass never
    # counts its party twice in occupancy)
    assert reason(await scan(client, gate, code)) == ("reject", "already_inside")
    assert reason(await scan(client, gate, code, "out")) == ("accept", "ok")
    assert reason(await scan(client, gate, code)) == ("accept", "ok")
    assert reason(await scan(client, gate, code, "out")) == ("accept", "ok")
    assert reason(await scan(client, gate, code)) == ("reject", "already_used")
    assert reason(await scan(client, gate, code, "out")) == ("accept", "not_inside")
    assert reason(await scan(client, gate, code)) == ("reject", "already_used")


async def test_occupancy_cap_rejects_with_venue_full(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    # cap = 75% of 4 = 3 people
    venue = await world.venue(
        "CN-GZ-AS",
        "Small cave",
        requires_booking=False,
        entry_rule="reentry",
        capacity_instant=4,
        occupancy_cap_pct=75,
    )
    gate1 = await new_gate(world, venue["id"], "one")
    gate2 = await new_gate(world, venue["id"], "two")
    codes = [await traveller_with_code(world, f"c{i}") for i in range(4)]
    for i in range(3):
        assert reason(await scan(client, gate1 if i else gate2, codes[i])) == ("accept", "ok")
    assert reason(await scan(client, gate1, codes[3])) == ("reject", "venue_full")
    assert reason(await scan(client, gate2, codes[0], "out")) == ("accept", "ok")
    assert reason(await scan(client, gate1, codes[3])) == ("accept", "ok")
    # a booked party that would overflow the cap is refused as a whole
    venue2 = await world.venue(
        "CN-GZ-AS", "Bridge", capacity_instant=10, occupancy_cap_pct=50, entry_rule="reentry"
    )
    gate3 = await new_gate(world, venue2["id"], "g")
    code_p = await traveller_with_code(world, "party")
    await book(client, conn, world, "party", venue2["id"], party_size=6)
    assert reason(await scan(client, gate3, code_p)) == ("reject", "venue_full")
    await conn.execute("UPDATE bookings SET party_size = 5 WHERE venue_id = $1", venue2["id"])
    answer = await scan(client, gate3, code_p)
    assert reason(answer) == ("accept", "ok") and answer["party_size"] == 5


# --- the code itself ------------------------------------------------------------------------


async def test_code_verification_failures_are_recorded_rejections(
    client: Client, world: World, conn: asyncpg.Connection, app: Litestar
) -> None:
    code = await traveller_with_code(world, "t")
    await book(client, conn, world, "t", world.ids["venue_a"])
    row = await conn.fetchrow("SELECT cred_id, generation FROM credentials")
    assert row is not None
    key: SigningKey = app.state.keystore.signing_key
    now = int(time.time())

    def signed(nb: int, exp: int, signer: SigningKey = key, generation: int = 1) -> str:
        cred = Credential(signer.kid, bytes(row["cred_id"]), generation, nb, exp)
        return issue(cred, signer)

    stranger = SigningKey.generate((key.kid + 100) % 256, datetime.now(UTC))
    body = code[:BODY_LEN]  # the signed text, without the live suffix
    tampered = body[:-3] + ("AAA" if body[-3:] != "AAA" else "BBB")
    cases = {
        "invalid_code": [tampered, "", "hello", "TQ1:" + "A" * 141, code.lower(), code + "X"],
        "unknown_key": [signed(now - 10, now + 3600, stranger)],
        "expired_code": [signed(now - 7200, now - 3600)],
        "not_yet_valid": [signed(now + 3600, now + 7200)],
        "revoked_code": [signed(now - 10, now + 3600, generation=2)],
    }
    gate = world.tokens["gate_a"]
    for expected, texts in cases.items():
        for text in texts:
            answer = await scan(client, gate, text)
            assert reason(answer) == ("reject", expected), (expected, text[:20])
            assert answer["party_size"] == 0 and answer["booking_id"] is None
    stored = await scan_rows(conn)
    assert len(stored) == sum(len(t) for t in cases.values())
    traveller = uuid.UUID(world.ids["traveller_t"])
    for r in stored:
        # a code that names no traveller is stored under the zero uuid; an authentic one
        # (even out of date or revoked) under its traveller
        unnamed = r["reason"] in ("invalid_code", "unknown_key")
        assert r["traveller_id"] == (NO_TRAVELLER if unnamed else traveller), r["reason"]
    # an exit of an authentic pass is never blocked, whatever the pass's state
    for text in (cases["expired_code"][0], cases["revoked_code"][0]):
        assert reason(await scan(client, gate, text, "out")) == ("accept", "not_inside")
    assert reason(await scan(client, gate, tampered, "out")) == ("reject", "invalid_code")
    # rotation bumps the generation: the old code is revoked, the new one works
    await conn.execute("UPDATE credentials SET generation = 2")
    assert reason(await scan(client, gate, code)) == ("reject", "revoked_code")
    gen2 = signed(now - 10, now + 3600, generation=2)
    live2 = gen2 + screenshot_suffix(gen2, world.code_secrets["t"], time.time())
    assert reason(await scan(client, gate, live2)) == ("accept", "ok")
    # erasure revokes every generation
    await conn.execute("UPDATE credentials SET revoked_all = true")
    await conn.execute("DELETE FROM presence")
    answer = await scan(client, gate, live2)
    assert reason(answer) == ("reject", "revoked_code")


async def test_screenshot_suffix_is_checked_online(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue = await world.venue("CN-GZ-AS", "Lake", requires_booking=False, entry_rule="reentry")
    gate = await new_gate(world, venue["id"], "g")
    reg = await world.traveller("t")
    code = await world.code("t")
    secret = await conn.fetchval("SELECT suffix_secret FROM credentials")
    assert b64url_decode(reg["code_secret"]) == bytes(secret)
    now = time.time()
    stale = code + screenshot_suffix(code, bytes(secret), now - 600)
    wrong = code + screenshot_suffix(code, bytes(32), now)
    assert reason(await scan(client, gate, stale)) == ("reject", "screenshot_code")
    assert reason(await scan(client, gate, wrong)) == ("reject", "screenshot_code")
    for at in (now - 30, now, now + 30):  # one step either side is tolerated
        fresh = code + screenshot_suffix(code, bytes(secret), at)
        assert reason(await scan(client, gate, fresh)) == ("accept", "ok"), at - now
        assert reason(await scan(client, gate, fresh, "out")) == ("accept", "ok")
    # a gated venue requires the live suffix: the static text (a screenshot with the
    # suffix cut off, of any age) is refused with its own reason
    assert reason(await scan(client, gate, code)) == ("reject", "static_code")
    # a venue that relaxes the rule takes the static text as a valid credential
    relaxed = await world.venue(
        "CN-GZ-AS",
        "Relaxed",
        requires_booking=False,
        entry_rule="reentry",
        live_code_required=False,
    )
    assert relaxed["live_code_required"] is False
    assert reason(await scan(client, await new_gate(world, relaxed["id"], "r"), code)) == (
        "accept",
        "ok",
    )


async def test_live_code_required_defaults_to_gated(world: World) -> None:
    gated = await world.venue("CN-GZ-AS", "Gated")
    assert gated["live_code_required"] is True
    ungated = await world.venue("CN-GZ-AS", "Open", gated=False, requires_booking=False)
    assert ungated["live_code_required"] is False
    strict = await world.venue(
        "CN-GZ-AS", "Strict", gated=False, requires_booking=False, live_code_required=True
    )
    assert strict["live_code_required"] is True


async def test_sql_hmac_matches_python(conn: asyncpg.Connection) -> None:
    import hashlib
    import hmac
    import os

    for n, k in ((0, 32), (1, 32), (55, 1), (64, 64), (200, 32)):
        key, msg = os.urandom(k), os.urandom(n)
        got = await conn.fetchval("SELECT gate_hmac_sha256($1, $2)", key, msg)
        assert bytes(got) == hmac.new(key, msg, hashlib.sha256).digest()


# --- exactly once ----------------------------------------------------------------------------


async def test_retry_with_same_scan_id_returns_the_stored_answer(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    code = await traveller_with_code(world, "t")
    await book(client, conn, world, "t", world.ids["venue_a"], party_size=2)
    gate = world.tokens["gate_a"]
    sid = str(uuid.uuid4())
    first = await scan(client, gate, code, scan_id=sid)
    assert reason(first) == ("accept", "ok")
    for _ in range(3):
        assert await scan(client, gate, code, scan_id=sid) == first
    assert await conn.fetchval("SELECT count(*) FROM scans") == 1
    assert await conn.fetchval("SELECT sum(ins) FROM venue_counters") == 2
    # a rejected scan is replayed too, even if the world changed since
    sid2 = str(uuid.uuid4())
    rejected = await scan(client, gate, code, scan_id=sid2)
    assert reason(rejected) == ("reject", "already_used")
    await conn.execute("DELETE FROM presence")
    assert await scan(client, gate, code, scan_id=sid2) == rejected
    # invalid codes, concurrently retried: one row
    sid3 = str(uuid.uuid4())
    import asyncio

    answers = await asyncio.gather(*(scan(client, gate, "junk", scan_id=sid3) for _ in range(8)))
    assert all(reason(a) == ("reject", "invalid_code") for a in answers)
    assert await conn.fetchval("SELECT count(*) FROM scans WHERE scan_id = $1", sid3) == 1
    # the same scan id at another gate is another scan
    other = await scan(client, world.tokens["gate_b"], code, scan_id=sid)
    assert reason(other) == ("reject", "wrong_venue")
    assert await conn.fetchval("SELECT count(*) FROM scans") == 4


# --- scope and bad input ---------------------------------------------------------------------


async def test_only_gates_scan_and_gates_reach_nothing_else(client: Client, world: World) -> None:
    await world.traveller("t")
    body = {
        "code": "x",
        "direction": "in",
        "scan_id": str(uuid.uuid4()),
        "scanned_at": datetime.now(UTC).isoformat(),
    }
    assert (await client.post("/v1/gate/scans", json=body)).status_code == 401
    for who in ("traveller_t", "operator_a", "planner_x", "admin"):
        r = await client.post("/v1/gate/scans", json=body, headers=world.auth(who))
        assert r.status_code == 403, who
        assert r.json()["code"] == "auth.wrong_principal"
    gate = world.auth("gate_a")
    venue_a = world.ids["venue_a"]
    forbidden: list[tuple[str, str, Any]] = [
        ("GET", "/v1/me", None),
        ("GET", "/v1/me/visits", None),
        ("GET", "/v1/me/code", None),
        ("GET", f"/v1/venues/{venue_a}/live", None),
        ("POST", f"/v1/venues/{venue_a}/slots", {"slots": []}),
        ("POST", "/v1/admin/regions", {"code": "XX", "name": "x"}),
        ("POST", f"/v1/admin/venues/{venue_a}/gates", {"name": "evil"}),
    ]
    for method, path, payload in forbidden:
        r = await client.request(method, path, json=payload, headers=gate)
        assert r.status_code == 403, (method, path, r.status_code)


async def test_bad_input_is_a_clean_4xx(client: Client, world: World) -> None:
    gate = world.auth("gate_a")
    good = {
        "code": "TQ1:ABC",
        "direction": "in",
        "scan_id": str(uuid.uuid4()),
        "scanned_at": datetime.now(UTC).isoformat(),
    }

    async def post(body: Any, **kw: Any) -> int:
        r = await client.post("/v1/gate/scans", json=body, headers=gate, **kw)
        assert r.status_code < 500, r.text
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json")
        return r.status_code

    assert await post(good) == 200  # a malformed code is a reasoned rejection
    for field in good:
        assert await post({k: v for k, v in good.items() if k != field}) == 400, field
    assert await post({**good, "extra": 1}) == 400
    assert await post({**good, "scan_id": "not-a-uuid"}) == 400
    assert await post({**good, "direction": "sideways"}) == 400
    assert await post({**good, "code": 12345}) == 400
    assert await post({**good, "scanned_at": "yesterday"}) == 400
    assert await post({**good, "scanned_at": "2026-01-01T10:00:00"}) == 400  # no offset
    assert await post({**good, "code": "A" * 5000}) == 400
    assert await post({**good, "code": "A" * 1_100_000}) == 413
    assert await post([good]) == 400
    r = await client.post(
        "/v1/gate/scans",
        content=b"{not json",
        headers={**gate, "content-type": "application/json"},
    )
    assert r.status_code == 400
    for year in (1900, 3000):
        body = {**good, "scanned_at": datetime(year, 6, 1, tzinfo=UTC).isoformat()}
        r = await client.post("/v1/gate/scans", json=body, headers=gate)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "scans.bad_time"


# --- visits ------------------------------------------------------------------------------------


async def test_visits_merge_entries_and_checkins_newest_first(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue = await world.venue("CN-GZ-AS", "Old town", requires_booking=False, entry_rule="reentry")
    gate = await new_gate(world, venue["id"], "g")
    code = await traveller_with_code(world, "t")
    other = await traveller_with_code(world, "o")
    base = datetime.now(UTC) - timedelta(hours=3)
    assert reason(await scan(client, gate, code, scanned_at=base)) == ("accept", "ok")
    assert reason(await scan(client, gate, code, "out", scanned_at=base + timedelta(hours=1))) == (
        "accept",
        "ok",
    )
    # rejected scans and other travellers' scans are not visits
    assert reason(await scan(client, gate, "junk")) == ("reject", "invalid_code")
    assert reason(await scan(client, gate, other)) == ("accept", "ok")
    # a place-code check-in (written by the places service; test setup here)
    await conn.execute(
        "INSERT INTO checkins (traveller_id, venue_id, local_day, id, checked_in_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        uuid.UUID(world.ids["traveller_t"]),
        uuid.UUID(world.ids["venue_b"]),
        base.date(),
        uuid.uuid4(),
        base + timedelta(minutes=30),
    )
    r = await client.get("/v1/me/visits", headers=world.auth("traveller_t"))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["kind"], i["direction"], i["venue_name"]) for i in items] == [
        ("gate", "out", "Old town"),
        ("checkin", None, "Stone Forest"),
        ("gate", "in", "Old town"),
    ]
    assert r.json()["next_before"] is None
    # pages of two, then the rest
    r = await client.get("/v1/me/visits", params={"limit": 2}, headers=world.auth("traveller_t"))
    page = r.json()
    assert [i["kind"] for i in page["items"]] == ["gate", "checkin"]
    r = await client.get(
        "/v1/me/visits",
        params={"limit": 2, "before": page["next_before"]},
        headers=world.auth("traveller_t"),
    )
    assert [(i["kind"], i["direction"]) for i in r.json()["items"]] == [("gate", "in")]
    assert r.json()["next_before"] is None
    for bad in ({"limit": 0}, {"limit": 201}, {"limit": "x"}, {"before": "soon"}):
        r = await client.get("/v1/me/visits", params=bad, headers=world.auth("traveller_t"))
        assert r.status_code == 400, bad
    assert (await client.get("/v1/me/visits")).status_code == 401


# --- the paper pass ----------------------------------------------------------------------------


async def test_paper_pass_admits_its_booking_without_suffix_and_is_revocable(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """Issue #15, hole 1: the one way in without a live code is an explicit paper pass."""
    await world.traveller("t")
    booking = await book(client, conn, world, "t", world.ids["venue_a"], party_size=2)
    gate = world.tokens["gate_a"]
    static = await world.code("t")
    assert reason(await scan(client, gate, static)) == ("reject", "static_code")

    path = f"/v1/me/bookings/{booking}/paper-pass"
    r = await client.post(path, headers=world.auth("traveller_t"))
    assert r.status_code == 201, r.text
    paper = r.json()
    assert paper["kind"] == "paper" and paper["booking_id"] == booking
    assert len(paper["code"]) == BODY_LEN  # printed: no suffix
    assert paper["code"] != static
    # another traveller cannot issue one for this booking
    await world.traveller("u")
    r = await client.post(path, headers=world.auth("traveller_u"))
    assert r.status_code == 404, r.text

    # revoked by the traveller: the printed code is dead at once
    r = await client.delete(path, headers=world.auth("traveller_t"))
    assert r.status_code == 204, r.text
    assert reason(await scan(client, gate, paper["code"])) == ("reject", "revoked_code")

    # the operator at the staffed window prints a new one
    op_path = f"/v1/venues/{world.ids['venue_a']}/bookings/{booking}/paper-pass"
    r = await client.post(op_path, headers=world.auth("operator_a"))
    assert r.status_code == 201, r.text
    printed = r.json()["code"]
    answer = await scan(client, gate, printed)
    assert reason(answer) == ("accept", "ok")
    assert answer["credential"] == "paper" and answer["party_size"] == 2
    assert answer["booking_id"] == booking
    # limited to the booking: a second entry is refused like any pass
    assert reason(await scan(client, gate, printed)) == ("reject", "already_used")
    # not valid at another venue, nor issued by another venue's operator
    assert reason(await scan(client, world.tokens["gate_b"], printed)) == (
        "reject",
        "wrong_venue",
    )
    other = f"/v1/venues/{world.ids['venue_b']}/bookings/{booking}/paper-pass"
    assert (await client.post(other, headers=world.auth("operator_b"))).status_code == 404
    # the phone code of the same traveller still reads as such
    live = await scan(client, gate, await world.live_code("t"), "out")
    assert reason(live) == ("accept", "ok") and live["credential"] == "phone"
    # a new paper pass replaces the old one
    r = await client.post(op_path, headers=world.auth("operator_a"))
    assert r.status_code == 201
    assert reason(await scan(client, gate, printed, "in")) == ("reject", "revoked_code")
    # erasure revokes paper passes too
    newest = r.json()["code"]
    assert (await client.delete("/v1/me", headers=world.auth("traveller_t"))).status_code == 204
    assert reason(await scan(client, gate, newest)) == ("reject", "revoked_code")


def _zone_an_hour_before_midnight(now: datetime) -> tuple[str, datetime]:
    """A fixed-offset zone where it is 23:xx now, and that zone's coming midnight."""
    offset = (23 - now.hour) % 24
    if offset > 14:
        offset -= 24
    zone = "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-8 is UTC+8
    local = now.astimezone(ZoneInfo(zone))
    assert local.hour == 23, (zone, local)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return zone, midnight


async def test_a_slot_just_after_local_midnight_admits_within_its_early_grace(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """Scanned at 23:xx for a slot at 00:01 (the next local day) with 90 minutes of early
    grace: the booking is found although it is tomorrow's (it was no_booking before)."""
    zone, midnight = _zone_an_hour_before_midnight(datetime.now(UTC))
    venue = await world.venue(
        "CN-GZ-AS", "Night market", timezone=zone, early_grace_min=90, late_grace_min=5
    )
    gate = await new_gate(world, venue["id"], "g")
    code = await traveller_with_code(world, "n")
    await book(client, conn, world, "n", venue["id"], starts_at=midnight + timedelta(minutes=1))
    assert reason(await scan(client, gate, code)) == ("accept", "ok")
    # a traveller booked there tonight, scanned at another venue: wrong venue, not none
    code_m = await traveller_with_code(world, "m")
    await book(client, conn, world, "m", venue["id"], starts_at=midnight + timedelta(minutes=2))
    elsewhere = world.tokens["gate_a"]
    assert reason(await scan(client, elsewhere, code_m)) == ("reject", "wrong_venue")
