"""Racing reviews, check-ins and rotations: the venue's rating aggregates stay exactly the
sum and count of its reviews, one traveller racing themself gets one review per visit.

The AsyncTestClient runs requests nearly one after another, so the races that prove
something run the route's own service call on many separate asyncpg connections at once;
the API-level tests here check the answers' shape under repetition."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import World
from tests.support.db import fetch_row
from tests.support.visits import insert_entry_scan

Client = AsyncTestClient[Litestar]


async def test_many_reviews_through_the_api_keep_exact_aggregates(
    client: Client, world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    n = 40
    for i in range(n):
        await world.traveller(f"t{i}", f"t{i}")
        await insert_entry_scan(conn, world, f"t{i}")
    path = f"/v1/venues/{world.ids['venue_a']}/reviews"
    results = await asyncio.gather(
        *(
            client.post(
                path,
                json={"rating": 1 + i % 5, "text": f"visit {i}"},
                headers=world.auth(f"traveller_t{i}"),
            )
            for i in range(n)
        )
    )
    assert [r.status_code for r in results] == [201] * n, [
        r.text for r in results if r.status_code != 201
    ]
    venue = uuid.UUID(world.ids["venue_a"])
    row = await fetch_row(
        conn,
        "SELECT v.rating_sum, v.rating_count,"
        " (SELECT sum(rating) FROM reviews WHERE venue_id = v.id) AS s,"
        " (SELECT count(*) FROM reviews WHERE venue_id = v.id) AS c"
        " FROM venues v WHERE v.id = $1",
        venue,
    )
    assert row["rating_count"] == row["c"] == n
    assert row["rating_sum"] == row["s"] == sum(1 + i % 5 for i in range(n))


async def test_racing_reviews_by_many_connections_add_up(
    world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    """The same statement the route runs, from many separate connections at once."""
    from onecode.sql import Q

    venue = uuid.UUID(world.ids["venue_a"])
    travellers = []
    for i in range(24):
        await world.traveller(f"c{i}")
        await insert_entry_scan(conn, world, f"c{i}")
        travellers.append(uuid.UUID(world.ids[f"traveller_c{i}"]))
    conns = [await asyncpg.connect(db_url) for _ in travellers]
    try:
        await asyncio.gather(
            *(
                c.fetchrow(Q()["reviews_insert_review"], t, venue, uuid.uuid4(), 1 + i % 5, "ok")
                for i, (c, t) in enumerate(zip(conns, travellers, strict=True))
            )
        )
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    s, c = await fetch_row(conn, "SELECT rating_sum, rating_count FROM venues WHERE id = $1", venue)
    assert (s, c) == tuple(
        await fetch_row(
            conn, "SELECT sum(rating), count(*) FROM reviews WHERE venue_id = $1", venue
        )
    )
    assert c == 24


async def test_one_traveller_racing_gets_one_review_per_visit(
    world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    """One traveller, twelve visit days, twelve connections reviewing at once: twelve
    reviews, one per day. The losers of a race for a day move on to the next open day
    instead of answering 409 while days remain; the thirteenth review is a duplicate."""
    from onecode.errors import Conflict
    from onecode.reviews.models import ReviewIn
    from onecode.reviews.service import create_review

    await world.traveller("t", "Ming")
    now = datetime.now(UTC)
    for days in range(0, 24, 2):
        await insert_entry_scan(conn, world, "t", at=now - timedelta(days=days))
    traveller = uuid.UUID(world.ids["traveller_t"])
    venue = uuid.UUID(world.ids["venue_a"])
    conns = [await asyncpg.connect(db_url) for _ in range(12)]
    try:
        results = await asyncio.gather(
            *(
                create_review(c, traveller, venue, ReviewIn(rating=4, text=f"try {i}"))
                for i, c in enumerate(conns)
            ),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(made) == 12, results
    assert len({r.visit_day for r in made}) == 12
    with pytest.raises(Conflict) as refused:
        await create_review(conn, traveller, venue, ReviewIn(rating=4, text="once more"))
    assert refused.value.code == "reviews.duplicate"
    row = await fetch_row(conn, "SELECT rating_sum, rating_count FROM venues WHERE id = $1", venue)
    assert (row["rating_sum"], row["rating_count"]) == (48, 12)


async def test_one_traveller_reviewing_repeatedly_through_the_api(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("t", "Ming")
    now = datetime.now(UTC)
    for days in (0, 2, 5):
        await insert_entry_scan(conn, world, "t", at=now - timedelta(days=days))
    path = f"/v1/venues/{world.ids['venue_a']}/reviews"
    results = await asyncio.gather(
        *(
            client.post(
                path, json={"rating": 5, "text": f"try {i}"}, headers=world.auth("traveller_t")
            )
            for i in range(10)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 3 + [409] * 7, [r.text for r in results]
    assert all(r.json()["code"] == "reviews.duplicate" for r in results if r.status_code == 409)
    assert len({r.json()["visit_day"] for r in results if r.status_code == 201}) == 3


async def test_racing_checkins_on_many_connections_make_one(
    world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    """Twelve connections check the same traveller in at once: one check-in, and every
    caller gets that one back (the losers read it after the unique key stopped them)."""
    from onecode.catalog.place_keys import load_place_keys
    from onecode.places.service import check_in

    lake = await world.venue("CN-GZ-AS", "Red Maple Lake", gated=False, requires_booking=False)
    await world.traveller("t")
    traveller = uuid.UUID(world.ids["traveller_t"])
    keys = await load_place_keys(conn)
    conns = [await asyncpg.connect(db_url) for _ in range(12)]
    try:
        results = await asyncio.gather(
            *(check_in(c, keys, lake["place_code"], traveller) for c in conns)
        )
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    assert sum(r.created for r in results) == 1
    assert len({r.id for r in results}) == 1
    assert await conn.fetchval("SELECT count(*) FROM checkins") == 1


async def test_racing_rotations_on_many_connections_serialize(
    world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    """Eight rotations at once get versions 1..8; only the last code is stored."""
    from onecode.catalog.place_keys import load_place_keys
    from onecode.places.service import rotate

    venue = uuid.UUID(world.ids["venue_a"])
    keys = await load_place_keys(conn)
    conns = [await asyncpg.connect(db_url) for _ in range(8)]
    try:
        results = await asyncio.gather(*(rotate(c, keys, venue) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    assert sorted(r.version for r in results) == list(range(1, 9))
    stored = await fetch_row(
        conn, "SELECT place_code, place_code_version FROM venues WHERE id = $1", venue
    )
    assert stored["place_code_version"] == 8
    assert stored["place_code"] == keys.sign(venue, 8)
    assert [r.place_code for r in results if r.version == 8] == [stored["place_code"]]


async def test_racing_answers_keep_one_first_answer_time(
    world: World, conn: asyncpg.Connection, db_url: str
) -> None:
    """Ten operators' connections answer one complaint at once: one first-answer time."""
    from onecode.complaints.models import AnswerIn, ComplaintIn
    from onecode.complaints.service import answer, file_complaint

    await world.traveller("t")
    venue = uuid.UUID(world.ids["venue_a"])
    filed = await file_complaint(
        conn,
        uuid.UUID(world.ids["traveller_t"]),
        ComplaintIn(venue_id=venue, category="safety", text="Loose railing"),
    )
    conns = [await asyncpg.connect(db_url) for _ in range(10)]
    try:
        results = await asyncio.gather(
            *(
                answer(c, filed.id, [venue], uuid.uuid4(), AnswerIn(text=f"fixed {i}"))
                for i, c in enumerate(conns)
            )
        )
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    assert len({r.answered_at for r in results}) == 1
    row = await fetch_row(conn, "SELECT answered_at, answer_updated_at, answer FROM complaints")
    assert row["answered_at"] == results[0].answered_at
    # the last writer's answer and edit time, together
    assert (row["answer"], row["answer_updated_at"]) in {
        (r.answer, r.answer_updated_at) for r in results
    }
