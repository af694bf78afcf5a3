"""Complaints through the API: file, follow, answer within scope, rate the answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import ADMIN, World
from tests.support.db import fetch_row
from tests.support.problems import assert_problem

Client = AsyncTestClient[Litestar]


async def _file(
    client: Client, world: World, who: str, venue: str = "a", text: str = "Rude staff"
) -> str:
    r = await client.post(
        "/v1/complaints",
        json={"venue_id": world.ids[f"venue_{venue}"], "category": "service", "text": text},
        headers=world.auth(f"traveller_{who}"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_complaint_lifecycle_within_scope(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("a")
    await world.traveller("b")
    r = await client.post(
        "/v1/complaints",
        json={
            "venue_id": world.ids["venue_a"],
            "category": "cleanliness",
            "text": "  Dirty toilets <3 ",
        },
        headers=world.auth("traveller_a"),
    )
    assert r.status_code == 201, r.text
    filed = r.json()
    cid = filed["id"]
    assert filed["status"] == "open" and filed["text"] == "Dirty toilets <3"
    assert filed["answer"] is None and filed["answered_at"] is None
    assert world.ids["traveller_a"] not in r.text

    # the traveller sees their own; another traveller sees nothing
    mine = (await client.get("/v1/me/complaints", headers=world.auth("traveller_a"))).json()
    assert [c["id"] for c in mine["complaints"]] == [cid]
    theirs = (await client.get("/v1/me/complaints", headers=world.auth("traveller_b"))).json()
    assert theirs == {"items": [], "complaints": [], "next_cursor": None}

    # operators of venue A (and admin) see it; operator B does not know venue A
    path = f"/v1/venues/{world.ids['venue_a']}/complaints"
    listed = (await client.get(path, headers=world.auth("operator_a"))).json()
    assert [c["id"] for c in listed["complaints"]] == [cid]
    assert world.ids["traveller_a"] not in str(listed)
    assert (await client.get(path, headers=ADMIN)).json()["complaints"][0]["id"] == cid
    assert_problem(await client.get(path, headers=world.auth("operator_b")), 404)
    assert_problem(await client.get(path, headers=world.auth("traveller_a")), 403)
    other = (
        await client.get(
            f"/v1/venues/{world.ids['venue_b']}/complaints", headers=world.auth("operator_b")
        )
    ).json()
    assert other["complaints"] == []

    # rating before an answer
    rate = f"/v1/complaints/{cid}/rating"
    assert_problem(
        await client.post(rate, json={"rating": 4}, headers=world.auth("traveller_a")),
        409,
        "complaints.not_answered",
    )

    # operator B cannot answer venue A's complaint; travellers cannot answer
    answer = f"/v1/complaints/{cid}/answer"
    r = await client.post(answer, json={"text": "Not ours"}, headers=world.auth("operator_b"))
    assert_problem(r, 404, "complaints.not_found")
    assert_problem(
        await client.post(answer, json={"text": "x"}, headers=world.auth("traveller_a")), 403
    )
    assert await conn.fetchval("SELECT answer FROM complaints") is None

    r = await client.post(
        answer, json={"text": "Cleaned, sorry."}, headers=world.auth("operator_a")
    )
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["status"] == "answered" and first["answer"] == "Cleaned, sorry."
    answered_at = datetime.fromisoformat(first["answered_at"])
    assert answered_at >= datetime.fromisoformat(filed["created_at"])
    # editing the answer keeps the first answer time (time to answer)
    r = await client.post(answer, json={"text": "Cleaned twice."}, headers=world.auth("operator_a"))
    again = r.json()
    assert again["answer"] == "Cleaned twice."
    assert datetime.fromisoformat(again["answered_at"]) == answered_at
    assert datetime.fromisoformat(again["answer_updated_at"]) >= answered_at

    # only the complaint's traveller rates; another traveller does not know it
    assert_problem(
        await client.post(rate, json={"rating": 4}, headers=world.auth("traveller_b")),
        404,
        "complaints.not_found",
    )
    assert_problem(
        await client.post(rate, json={"rating": 4}, headers=world.auth("operator_a")), 403
    )
    r = await client.post(rate, json={"rating": 4}, headers=world.auth("traveller_a"))
    assert r.status_code == 200, r.text
    assert r.json()["answer_rating"] == 4 and r.json()["rated_at"]
    mine = (await client.get("/v1/me/complaints", headers=world.auth("traveller_a"))).json()[
        "complaints"
    ][0]
    assert (mine["status"], mine["answer"], mine["answer_rating"]) == (
        "answered",
        "Cleaned twice.",
        4,
    )
    assert datetime.fromisoformat(mine["answered_at"]) == answered_at
    # the status filter of the operator list
    for status, expected in (("answered", [cid]), ("open", [])):
        r = await client.get(path, params={"status": status}, headers=world.auth("operator_a"))
        assert [c["id"] for c in r.json()["complaints"]] == expected
    assert_problem(
        await client.get(path, params={"status": "bogus"}, headers=world.auth("operator_a")), 400
    )


async def test_first_answer_time_is_fixed_under_repeated_answers(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("a")
    cid = await _file(client, world, "a")
    results = await asyncio.gather(
        *(
            client.post(
                f"/v1/complaints/{cid}/answer",
                json={"text": f"answer {i}"},
                headers=world.auth("operator_a"),
            )
            for i in range(8)
        )
    )
    assert all(r.status_code == 200 for r in results)
    first_times = {r.json()["answered_at"] for r in results}
    assert len(first_times) == 1  # every answer saw the same first-answer time
    row = await fetch_row(conn, "SELECT answered_at, answer_updated_at FROM complaints")
    assert row["answered_at"] <= row["answer_updated_at"]


async def test_complaint_pages(client: Client, world: World) -> None:
    await world.traveller("a")
    ids = [await _file(client, world, "a", text=f"complaint {i}") for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/v1/me/complaints", params=params, headers=world.auth("traveller_a"))
        ).json()
        seen += [c["id"] for c in page["complaints"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    assert_problem(
        await client.get(
            "/v1/me/complaints", params={"cursor": "nope"}, headers=world.auth("traveller_a")
        ),
        400,
    )


async def test_bad_complaint_input_is_a_clean_4xx(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("a")
    auth = world.auth("traveller_a")
    venue = world.ids["venue_a"]
    for body in (
        {"venue_id": venue, "category": "bogus", "text": "x"},
        {"venue_id": venue, "category": "service"},
        {"venue_id": "not-a-uuid", "category": "service", "text": "x"},
        {"venue_id": 5, "category": "service", "text": "x"},
        {"venue_id": venue, "category": "service", "text": ""},
        {"venue_id": venue, "category": "service", "text": "x" * 8001},
        {"venue_id": venue, "category": "service", "text": "x", "status": "answered"},
        {"venue_id": venue, "category": "service", "text": "x", "traveller_id": str(uuid.uuid4())},
    ):
        assert_problem(await client.post("/v1/complaints", json=body, headers=auth), 400)
    for text, code in (
        ("   ", "complaints.bad_text"),
        ("x" * 4001, "complaints.bad_text"),
        ("a\x00b", "request.control_character"),  # the body decoder, as in every text field
    ):
        r = await client.post(
            "/v1/complaints",
            json={"venue_id": venue, "category": "other", "text": text},
            headers=auth,
        )
        assert_problem(r, 422, code)
    r = await client.post(
        "/v1/complaints",
        json={"venue_id": str(uuid.uuid4()), "category": "other", "text": "x"},
        headers=auth,
    )
    assert_problem(r, 404, "venues.not_found")
    assert await conn.fetchval("SELECT count(*) FROM complaints") == 0

    cid = await _file(client, world, "a")
    op = world.auth("operator_a")
    await client.post(f"/v1/complaints/{cid}/answer", json={"text": "Sorry"}, headers=op)
    for body in (
        {"rating": 0},
        {"rating": 6},
        {"rating": "5"},
        {"rating": 4.0},
        {},
        {"rating": 5, "x": 1},
    ):
        assert_problem(
            await client.post(f"/v1/complaints/{cid}/rating", json=body, headers=auth), 400
        )
    for body in ({"text": ""}, {"text": 1}, {}, {"text": "ok", "status": "closed"}):
        assert_problem(
            await client.post(f"/v1/complaints/{cid}/answer", json=body, headers=op), 400
        )
    assert_problem(
        await client.post(f"/v1/complaints/{cid}/answer", json={"text": "  "}, headers=op), 422
    )
    assert_problem(
        await client.post("/v1/complaints/not-a-uuid/rating", json={"rating": 5}, headers=auth), 404
    )
    assert_problem(
        await client.post(
            f"/v1/complaints/{uuid.uuid4()}/rating", json={"rating": 5}, headers=auth
        ),
        404,
    )
    assert_problem(
        await client.post(
            f"/v1/complaints/{uuid.uuid4()}/answer", json={"text": "x"}, headers=ADMIN
        ),
        404,
    )
    assert_problem(await client.get("/v1/venues/not-a-uuid/complaints", headers=op), 404)
    for params in ({"limit": 0}, {"limit": 1000}, {"limit": "x"}):
        assert_problem(await client.get("/v1/me/complaints", params=params, headers=auth), 400)
    row = await fetch_row(conn, "SELECT answer_rating, answer FROM complaints")
    assert (row["answer_rating"], row["answer"]) == (None, "Sorry")
