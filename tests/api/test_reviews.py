"""Reviews through the API: only after a visit, one per visit, public pages, exact ratings."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import World
from tests.support.db import fetch_row
from tests.support.problems import assert_problem
from tests.support.visits import insert_entry_scan

Client = AsyncTestClient[Litestar]


def _path(world: World, venue: str = "a") -> str:
    return f"/v1/venues/{world.ids['venue_' + venue]}/reviews"


async def _review(
    client: Client, world: World, who: str, rating: int = 5, text: str = "Lovely falls."
) -> Any:
    return await client.post(
        _path(world), json={"rating": rating, "text": text}, headers=world.auth(f"traveller_{who}")
    )


async def test_review_needs_a_visit(client: Client, world: World, conn: asyncpg.Connection) -> None:
    await world.traveller("t", "Ming")
    assert_problem(await _review(client, world, "t"), 403, "reviews.no_visit")
    # a rejected entry, an exit, or an entry elsewhere is not a visit here
    await insert_entry_scan(conn, world, "t", decision="reject")
    await insert_entry_scan(conn, world, "t", direction="out")
    await insert_entry_scan(conn, world, "t", venue="b")
    assert_problem(await _review(client, world, "t"), 403, "reviews.no_visit")
    assert await conn.fetchval("SELECT count(*) FROM reviews") == 0
    # unknown venue
    r = await client.post(
        f"/v1/venues/{uuid.uuid4()}/reviews",
        json={"rating": 5, "text": "x"},
        headers=world.auth("traveller_t"),
    )
    assert_problem(r, 404, "venues.not_found")
    # not a traveller
    r = await client.post(
        _path(world), json={"rating": 5, "text": "x"}, headers=world.auth("operator_a")
    )
    assert_problem(r, 403)
    assert_problem(await client.post(_path(world), json={"rating": 5, "text": "x"}), 401)


async def test_one_review_per_visit_day(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("t", "Ming")
    # 17:00 UTC is 01:00 the next day in Asia/Shanghai: the visit day is the local day
    day1 = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
    await insert_entry_scan(conn, world, "t", at=day1)
    await insert_entry_scan(conn, world, "t", at=day1 + timedelta(hours=2))  # same local day
    r = await _review(client, world, "t", 4, "  Great <b>views</b> & mist  ")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["visit_day"] == "2026-03-02"
    assert body["text"] == "Great <b>views</b> & mist"  # trimmed, stored as given
    assert body["rating"] == 4
    assert body["display_name"] == "Ming"
    assert world.ids["traveller_t"] not in r.text
    assert_problem(await _review(client, world, "t"), 409, "reviews.duplicate")

    # two later visits: each gets one review, most recent first
    await insert_entry_scan(conn, world, "t", at=day1 + timedelta(days=3))
    await insert_entry_scan(conn, world, "t", at=day1 + timedelta(days=7))
    r = await _review(client, world, "t", 2)
    assert r.status_code == 201 and r.json()["visit_day"] == "2026-03-09"
    r = await _review(client, world, "t", 3)
    assert r.status_code == 201 and r.json()["visit_day"] == "2026-03-05"
    assert_problem(await _review(client, world, "t"), 409, "reviews.duplicate")
    assert await conn.fetchval("SELECT count(*) FROM reviews") == 3


async def test_place_code_checkin_counts_as_a_visit(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    lake = await world.venue("CN-GZ-AS", "Red Maple Lake", gated=False, requires_booking=False)
    await world.traveller("t", "Ming")
    path = f"/v1/venues/{lake['id']}/reviews"
    r = await client.post(
        path, json={"rating": 5, "text": "Calm."}, headers=world.auth("traveller_t")
    )
    assert_problem(r, 403, "reviews.no_visit")
    r = await client.post(
        f"/v1/places/{lake['place_code']}/checkin", headers=world.auth("traveller_t")
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        path, json={"rating": 5, "text": "Calm."}, headers=world.auth("traveller_t")
    )
    assert r.status_code == 201, r.text
    local_day = await conn.fetchval("SELECT local_day FROM checkins")
    assert date.fromisoformat(r.json()["visit_day"]) == local_day
    r = await client.post(
        path, json={"rating": 1, "text": "Again"}, headers=world.auth("traveller_t")
    )
    assert_problem(r, 409, "reviews.duplicate")


async def test_ratings_are_exact_and_public(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    for tag, rating in (("p", 5), ("q", 4), ("r", 1)):
        await world.traveller(tag, f"name {tag}")
        await insert_entry_scan(conn, world, tag)
        assert (await _review(client, world, tag, rating)).status_code == 201
    venue = (await client.get(f"/v1/venues/{world.ids['venue_a']}")).json()
    assert venue["rating_count"] == 3
    assert venue["rating"] == 3.33
    page = (await client.get(_path(world))).json()
    assert page["rating"] == 3.33 and page["rating_count"] == 3
    assert [x["rating"] for x in page["reviews"]] == [1, 4, 5]  # newest first
    row = await fetch_row(
        conn,
        "SELECT rating_sum, rating_count FROM venues WHERE id = $1",
        uuid.UUID(world.ids["venue_a"]),
    )
    assert (row["rating_sum"], row["rating_count"]) == (10, 3)
    # venue b untouched
    page_b = (await client.get(_path(world, "b"))).json()
    assert page_b == {
        "items": [],
        "reviews": [],  # deprecated, the same as items
        "next_cursor": None,
        "rating": None,
        "rating_count": 0,
    }


async def test_reviewer_shows_as_display_name_or_anonymous(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("named", "Li Na")
    await world.traveller("nameless")
    await world.traveller("erased", "Wang")
    for tag in ("named", "nameless", "erased"):
        await insert_entry_scan(conn, world, tag)
        assert (await _review(client, world, tag)).status_code == 201
    # erasure (identity's DELETE /v1/me) keeps the review, not the name
    r = await client.delete("/v1/me", headers=world.auth("traveller_erased"))
    assert r.status_code == 204, r.text
    assert await conn.fetchval(
        "SELECT erased_at IS NOT NULL FROM travellers WHERE id = $1",
        uuid.UUID(world.ids["traveller_erased"]),
    )
    r = await client.get(_path(world))
    names = [x["display_name"] for x in r.json()["reviews"]]
    assert names == ["anonymous", "anonymous", "Li Na"]
    for tag in ("named", "nameless", "erased"):
        assert world.ids[f"traveller_{tag}"] not in r.text
    assert "traveller_id" not in r.text


async def test_pages_are_stable_under_inserts(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    async def add(n: int, prefix: str) -> list[str]:
        ids = []
        for i in range(n):
            tag = f"{prefix}{i}"
            await world.traveller(tag, tag)
            await insert_entry_scan(conn, world, tag)
            r = await _review(client, world, tag, 1 + i % 5, f"review {tag}")
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        return ids

    old = await add(7, "old")
    r = await client.get(_path(world), params={"limit": 3})
    page1 = r.json()
    assert [x["id"] for x in page1["reviews"]] == old[::-1][:3]
    assert page1["next_cursor"]
    new = await add(4, "new")  # written between page 1 and page 2
    seen = [x["id"] for x in page1["reviews"]]
    cursor = page1["next_cursor"]
    while cursor:
        page = (await client.get(_path(world), params={"limit": 3, "cursor": cursor})).json()
        seen += [x["id"] for x in page["reviews"]]
        cursor = page["next_cursor"]
    assert seen == old[::-1]  # every old review exactly once, in order; none of the new
    first = (await client.get(_path(world), params={"limit": 4})).json()
    assert [x["id"] for x in first["reviews"]] == new[::-1]
    # same timestamps cannot split a page: ties are broken by id
    await conn.execute("UPDATE reviews SET created_at = '2026-01-01T00:00:00Z'")
    everything = (await client.get(_path(world), params={"limit": 100})).json()["reviews"]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(_path(world), params=params)).json()
        seen += [x["id"] for x in page["reviews"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [x["id"] for x in everything] and len(set(seen)) == 11


async def test_bad_review_input_is_a_clean_4xx(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("t", "Ming")
    await insert_entry_scan(conn, world, "t")
    auth = world.auth("traveller_t")
    bad_bodies: list[tuple[Any, str]] = [  # (body, what the problem's detail names)
        ({"rating": 0, "text": "x"}, "rating"),
        ({"rating": 6, "text": "x"}, "rating"),
        ({"rating": "5", "text": "x"}, "rating"),  # no coercion of "5" to 5
        ({"rating": 4.5, "text": "x"}, "rating"),
        ({"rating": None, "text": "x"}, "rating"),
        ({"rating": 5}, "text"),
        ({"text": "x"}, "rating"),
        ({"rating": 5, "text": ""}, "text"),
        ({"rating": 5, "text": 5}, "text"),
        ({"rating": 5, "text": "x" * 4001}, "text"),
        ({"rating": 5, "text": "x", "traveller_id": str(uuid.uuid4())}, "traveller_id"),
        ([1, 2], "object"),
        ("five", "object"),
    ]
    for body, named in bad_bodies:
        problem = assert_problem(
            await client.post(_path(world), json=body, headers=auth), 400, "request.invalid"
        )
        assert named in problem["detail"], (body, problem)
    for text in ("   ", "\n\t", "x" * 2001):
        assert_problem(
            await client.post(_path(world), json={"rating": 5, "text": text}, headers=auth),
            422,
            "reviews.bad_text",
        )
    # NUL is refused by the body decoder, as in every text field (onecode/http/bodies.py)
    assert_problem(
        await client.post(_path(world), json={"rating": 5, "text": "a\x00b"}, headers=auth),
        422,
        "request.control_character",
    )
    r = await client.post(
        _path(world),
        content=b'{"rating": 5, "text": "\\ud800 lone"}',
        headers={**auth, "content-type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text
    r = await client.post(
        _path(world), content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert_problem(r, 400)
    r = await client.post(
        _path(world), content=b"x" * 2_000_000, headers={**auth, "content-type": "application/json"}
    )
    assert_problem(r, 413)
    assert_problem(
        await client.post(
            "/v1/venues/not-a-uuid/reviews", json={"rating": 5, "text": "x"}, headers=auth
        ),
        404,
    )
    assert_problem(await client.get("/v1/venues/not-a-uuid/reviews"), 404)
    # exactly 2000 characters once trimmed is fine, and nothing above was stored
    assert await conn.fetchval("SELECT count(*) FROM reviews") == 0
    r = await client.post(
        _path(world), json={"rating": 5, "text": " " + "y" * 2000 + " "}, headers=auth
    )
    assert r.status_code == 201 and len(r.json()["text"]) == 2000
    # listing parameters
    for params in (
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"cursor": "%%%"},
        {"cursor": "AAAA"},
        {"cursor": "x" * 300},
        {"cursor": "kwHZJDEyMw"},
    ):
        assert_problem(await client.get(_path(world), params=params), 400)
    assert_problem(await client.get(f"/v1/venues/{uuid.uuid4()}/reviews"), 404, "venues.not_found")
