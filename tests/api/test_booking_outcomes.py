"""The booking outcome case table: what onecode_book_slot() answers (a domain code), and
what the API makes of it (status, machine code, sentence), for every outcome there is.

Each row sets a situation up, calls the SQL function in a transaction that is rolled
back (its outcome), then books the same through the API (its problem+json)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from onecode.bookings.outcomes import BOOK_OUTCOMES, REFUSALS, SUCCESSES, Outcome, refusal
from onecode.errors import Conflict
from onecode.sql import Q
from tests.api.test_bookings import Client, book, make_slots
from tests.conftest import World
from tests.support.problems import assert_problem


@dataclass(frozen=True)
class Ask:
    """One booking request: who, which slot, how many, under which key."""

    who: str
    slot_id: str
    party: int = 1
    key: str | None = None


Setup = Callable[[Client, World, asyncpg.Connection], Awaitable[Ask]]


async def _fresh(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    (slot,) = await make_slots(client, world, capacity=4)
    return Ask("t", slot["id"], 2)


async def _unknown(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    return Ask("t", str(uuid.uuid4()))


async def _inactive(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    (slot,) = await make_slots(client, world, capacity=100)
    await conn.execute(
        "UPDATE venues SET active = false, deactivated_at = now() WHERE id = $1",
        uuid.UUID(world.ids["venue_a"]),
    )
    return Ask("t", slot["id"])


async def _cancelled(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    (slot,) = await make_slots(client, world, capacity=100)
    await conn.execute(
        "UPDATE slots SET cancelled_at = now(), cancel_reason = 'storm' WHERE id = $1",
        uuid.UUID(slot["id"]),
    )
    return Ask("t", slot["id"])


async def _too_large(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    (slot,) = await make_slots(client, world, capacity=100)
    return Ask("t", slot["id"], 11)  # the venue's max_party_size is 10


async def _closed(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    past = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    (slot,) = await make_slots(client, world, start=past)
    return Ask("t", slot["id"])


async def _far(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    far = (datetime.now(UTC) + timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    (slot,) = await make_slots(client, world, start=far)
    return Ask("t", slot["id"])


async def _lottery(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    (slot,) = await make_slots(client, world)
    await conn.execute(
        "INSERT INTO lotteries (id, venue_id, local_day, closes_at, seed, seed_sha256)"
        " SELECT gen_random_uuid(), s.venue_id, (s.starts_at AT TIME ZONE 'Asia/Shanghai')::date,"
        "        now() + interval '1 hour', sha256('s'), sha256(sha256('s'))"
        "   FROM slots s WHERE s.id = $1",
        uuid.UUID(slot["id"]),
    )
    return Ask("t", slot["id"])


async def _daily(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    first, second = await make_slots(client, world, count=2)
    assert (await book(client, world, "t", first["id"])).status_code == 201
    return Ask("t", second["id"])


async def _full(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    (slot,) = await make_slots(client, world, capacity=2)
    await world.traveller("u")
    assert (await book(client, world, "u", slot["id"], 2)).status_code == 201
    return Ask("t", slot["id"])


async def _in_progress(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    (slot,) = await make_slots(client, world)
    # a committed key row without an answer: its holder has not finished
    await conn.execute(
        "INSERT INTO idempotency_keys (traveller_id, key, request_hash) VALUES ($1, 'k', $2)",
        uuid.UUID(world.ids["traveller_t"]),
        _hash(slot["id"], 1),
    )
    return Ask("t", slot["id"], 1, "k")


async def _reused(client: Client, world: World, conn: asyncpg.Connection) -> Ask:
    (slot,) = await make_slots(client, world)
    assert (await book(client, world, "t", slot["id"], 1, key="k")).status_code == 201
    return Ask("t", slot["id"], 2, "k")


# outcome -> (situation, HTTP status, machine code, sentence)
CASES: dict[Outcome, tuple[Setup, int, str, str]] = {
    Outcome.BOOKED: (_fresh, 201, "", ""),
    Outcome.SLOT_NOT_FOUND: (_unknown, 404, "slots.not_found", "No such slot."),
    Outcome.VENUE_INACTIVE: (
        _inactive,
        409,
        "venues.inactive",
        "This venue is closed: it takes no bookings.",
    ),
    Outcome.SLOT_CANCELLED: (
        _cancelled,
        409,
        "slots.cancelled",
        "This slot has been cancelled by the venue.",
    ),
    Outcome.PARTY_TOO_LARGE: (
        _too_large,
        422,
        "bookings.party_too_large",
        "This venue takes parties of at most 10.",
    ),
    Outcome.SALE_CLOSED: (
        _closed,
        422,
        "bookings.outside_window",
        "Sale for this slot has closed (walk-up ends the venue's late grace before its end).",
    ),
    Outcome.OUTSIDE_WINDOW: (
        _far,
        422,
        "bookings.outside_window",
        "This venue takes bookings at most 14 days ahead.",
    ),
    Outcome.LOTTERY_OPEN: (
        _lottery,
        409,
        "bookings.lottery_open",
        "This day's places are given by lottery: apply before its deadline.",
    ),
    Outcome.DAILY_LIMIT: (
        _daily,
        409,
        "bookings.daily_limit",
        "At most 1 booking(s) per traveller, venue and day.",
    ),
    Outcome.SLOT_FULL: (_full, 409, "bookings.slot_full", "Not enough places left in this slot."),
    Outcome.KEY_IN_PROGRESS: (
        _in_progress,
        409,
        "idempotency.in_progress",
        "A request with this Idempotency-Key is still being processed.",
    ),
    Outcome.KEY_REUSED: (
        _reused,
        422,
        "idempotency.key_reused",
        "This Idempotency-Key was used with a different request body.",
    ),
}


def _hash(slot_id: str, party: int) -> bytes:
    return hashlib.sha256(f"{uuid.UUID(slot_id)}|{party}".encode()).digest()


def test_the_table_covers_every_outcome() -> None:
    assert set(CASES) == BOOK_OUTCOMES
    assert set(REFUSALS) == set(Outcome) - SUCCESSES


@pytest.mark.parametrize("outcome", sorted(BOOK_OUTCOMES))
async def test_outcome(
    client: Client, world: World, conn: asyncpg.Connection, outcome: Outcome
) -> None:
    setup, status, code, sentence = CASES[outcome]
    await world.traveller("t")
    ask = await setup(client, world, conn)
    tx = conn.transaction()
    await tx.start()
    try:
        row = await conn.fetchrow(
            Q()["bookings_insert_booking"],
            uuid.UUID(world.ids["traveller_t"]),
            uuid.UUID(ask.slot_id),
            ask.party,
            ask.key,
            _hash(ask.slot_id, ask.party),
            24,
        )
    finally:
        await tx.rollback()
    assert row is not None
    assert row["outcome"] == outcome.value
    # SQL speaks the domain: no HTTP status, no sentence in its answer
    facts = json.loads(row["body"])  # this connection has no jsonb codec
    assert "detail" not in facts and "code" not in facts, facts

    r = await book(client, world, ask.who, ask.slot_id, ask.party, key=ask.key)
    if status == 201:
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "booked"
        return
    body = assert_problem(r, status, code)
    assert body["detail"] == sentence


def test_an_unmapped_outcome_is_a_bug_and_a_missing_fact_reads_plainly() -> None:
    with pytest.raises(ValueError, match="http_409"):
        refusal("http_409")
    error = refusal("daily_limit", {})
    assert isinstance(error, Conflict)
    assert error.detail == "At most the venue's limit booking(s) per traveller, venue and day."


async def test_keys_stored_before_outcomes(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """A key written with an HTTP status (before migration 0050): a 201 replays its
    booking, a stored refusal is decided afresh."""
    (slot,) = await make_slots(client, world, capacity=4)
    await world.traveller("t")
    traveller = uuid.UUID(world.ids["traveller_t"])
    stored = {
        "id": str(uuid.uuid4()),
        "status": "booked",
        "slot_id": slot["id"],
        "venue_id": world.ids["venue_a"],
        "party_size": 1,
        "starts_at": slot["starts_at"],
        "ends_at": slot["ends_at"],
    }
    await conn.execute(
        "INSERT INTO idempotency_keys (traveller_id, key, request_hash, status_code, response)"
        " VALUES ($1, 'old-ok', $2, 201, convert_to($3::jsonb::text, 'UTF8')),"
        "        ($1, 'old-full', $2, 409, convert_to($4::jsonb::text, 'UTF8'))",
        traveller,
        _hash(slot["id"], 1),
        json.dumps(stored),
        json.dumps({"code": "bookings.slot_full", "detail": "Not enough places left."}),
    )
    r = await book(client, world, "t", slot["id"], 1, key="old-ok")
    assert r.status_code == 201, r.text
    assert r.json()["id"] == stored["id"]
    assert r.headers.get("idempotent-replayed") == "true"
    assert await conn.fetchval("SELECT booked FROM slot_counters") == 0
    r = await book(client, world, "t", slot["id"], 1, key="old-full")
    assert r.status_code == 201, r.text
    assert (
        await conn.fetchval("SELECT outcome FROM idempotency_keys WHERE key = 'old-full'")
        == "booked"
    )
