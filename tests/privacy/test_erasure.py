"""Item 5 of issue #16: erasure removes the traveller's free text, not only the name.
Ratings, categories and counts stay, so venue ratings and planner figures do not move."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import World

Client = AsyncTestClient[Litestar]
SECRET = "Wang Fang from room 1207 says the guide was rude"


async def test_erasure_redacts_review_and_complaint_text(
    client: Client, conn: asyncpg.Connection, world: World
) -> None:
    me = await world.traveller("e", display_name="Wang Fang", home_region="CN-BJ")
    traveller = uuid.UUID(me["traveller_id"])
    venue = uuid.UUID(world.ids["venue_a"])
    await conn.execute(
        "INSERT INTO reviews (traveller_id, id, venue_id, visit_day, rating, text)"
        " VALUES ($1, gen_random_uuid(), $2, $3, 4, $4)",
        traveller,
        venue,
        date(2026, 5, 4),
        SECRET,
    )
    await conn.execute(
        "INSERT INTO complaints (traveller_id, id, venue_id, category, text, status, answer,"
        " answered_at, answer_rating) VALUES ($1, gen_random_uuid(), $2, 'staff', $3,"
        " 'answered', $4, now(), 2)",
        traveller,
        venue,
        SECRET,
        "Sorry, Ms Wang of room 1207",
    )
    r = await client.get(f"/v1/venues/{venue}/reviews")
    assert r.status_code == 200 and SECRET in r.text  # before: the text is public
    assert (await client.delete("/v1/me", headers=world.auth("traveller_e"))).status_code == 204

    review = await conn.fetchrow(
        "SELECT rating, text FROM reviews WHERE traveller_id = $1", traveller
    )
    assert review is not None and (review["rating"], review["text"]) == (4, "[erased]")
    complaint = await conn.fetchrow(
        "SELECT category, status, text, answer, answer_rating FROM complaints"
        " WHERE traveller_id = $1",
        traveller,
    )
    assert complaint is not None
    assert tuple(complaint.values()) == ("staff", "answered", "[erased]", "[erased]", 2)
    r = await client.get(f"/v1/venues/{venue}/reviews")
    assert r.status_code == 200 and SECRET not in r.text and "1207" not in r.text
    # nothing else of it anywhere in the database's text columns
    dump = await conn.fetchval(
        "SELECT string_agg(t::text, ' ') FROM (SELECT text FROM reviews UNION ALL"
        " SELECT text FROM complaints UNION ALL SELECT answer FROM complaints) t"
    )
    assert "1207" not in (dump or "")
