"""Reviews after a real gate entry (the online gate of onecode.gates), not a test row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import World, bearer
from tests.support.db import fetch_row
from tests.support.problems import assert_problem

Client = AsyncTestClient[Litestar]


async def test_an_accepted_gate_entry_allows_one_review(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    park = await world.venue("CN-GZ-AS", "Tianxing Bridge", requires_booking=False)
    gate = await world.post(f"/v1/admin/venues/{park['id']}/gates", {"name": "north"})
    await world.traveller("t", "Ming")
    await world.traveller("u", "Hua")
    path = f"/v1/venues/{park['id']}/reviews"
    body = {"rating": 5, "text": "Stone bridges in the mist."}

    async def enter(code: str) -> dict[str, object]:
        r = await client.post(
            "/v1/gate/scans",
            json={
                "code": code,
                "direction": "in",
                "scan_id": str(uuid.uuid4()),
                "scanned_at": datetime.now(UTC).isoformat(),
            },
            headers=bearer(gate["token"]),
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    assert_problem(
        await client.post(path, json=body, headers=world.auth("traveller_t")),
        403,
        "reviews.no_visit",
    )
    assert (await enter(await world.live_code("t")))["decision"] == "accept"
    # a code the gate rejects is no visit for anybody
    assert (await enter("TQ1:garbage"))["decision"] == "reject"
    r = await client.post(path, json=body, headers=world.auth("traveller_t"))
    assert r.status_code == 201, r.text
    assert r.json()["display_name"] == "Ming"
    assert_problem(
        await client.post(path, json=body, headers=world.auth("traveller_t")),
        409,
        "reviews.duplicate",
    )
    assert_problem(
        await client.post(path, json=body, headers=world.auth("traveller_u")),
        403,
        "reviews.no_visit",
    )
    row = await fetch_row(
        conn, "SELECT rating_sum, rating_count FROM venues WHERE id = $1", uuid.UUID(park["id"])
    )
    assert (row["rating_sum"], row["rating_count"]) == (5, 1)
