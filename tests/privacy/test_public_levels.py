"""Attack 4 of issue #16: an anonymous caller polling a venue must not see one person
enter and leave. Public and anonymous views give the crowd level, never a count."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.api.test_gates import new_gate, reason, scan, traveller_with_code
from tests.conftest import World

Client = AsyncTestClient[Litestar]


async def _public(client: Client, venue: dict[str, Any], place_code: str) -> list[bytes]:
    answers = []
    for path in (
        f"/v1/venues/{venue['id']}",
        f"/v1/venues?region={venue['region_code']}",
        f"/v1/places/{place_code}",
    ):
        r = await client.get(path)
        assert r.status_code == 200, (path, r.text)
        answers.append(r.content)
    return answers


async def test_one_person_entering_and_leaving_is_invisible_to_strangers(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    venue = await world.venue("CN-GZ-AS", "Quiet pavilion", requires_booking=False)
    place_code = str(
        await conn.fetchval("SELECT place_code FROM venues WHERE id = $1::uuid", venue["id"])
    )
    gate = await new_gate(world, venue["id"], "only gate")
    code = await traveller_with_code(world, "lone")
    before = await _public(client, venue, place_code)
    assert reason(await scan(client, gate, code)) == ("accept", "ok")
    during = await _public(client, venue, place_code)
    assert reason(await scan(client, gate, code, "out")) == ("accept", "ok")
    after = await _public(client, venue, place_code)
    # byte for byte the same answers: nothing tells the visit apart
    assert before == during == after
    for body in during:
        assert b'"inside"' not in body
    assert b'"crowd_level":"green"' in during[0]
    # the venue's operators and admins still see the exact live count
    live = await client.get(f"/v1/venues/{venue['id']}/live", headers=world.auth("admin"))
    assert live.status_code == 200 and live.json()["inside"] == 0
    assert live.json()["entries_today"] == 1
