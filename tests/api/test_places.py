"""Place codes through the API: resolve, self check-in, rotation, posters, forgeries."""

from __future__ import annotations

import asyncio
import io
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import asyncpg
import zxingcpp
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image

from tests.conftest import ADMIN, World
from tests.support.problems import assert_problem

Client = AsyncTestClient[Litestar]


async def _ungated(world: World) -> dict[str, Any]:
    return await world.venue("CN-GZ-AS", "Red Maple Lake", gated=False, requires_booking=False)


async def test_place_code_resolves_to_public_venue_info(client: Client, world: World) -> None:
    code = world.ids["place_a"]
    assert len(code) == 60  # signed at creation
    r = await client.get(f"/v1/places/{code}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["venue"]["id"] == world.ids["venue_a"]
    assert body["venue"]["name"] == "Huangguoshu Waterfall"
    assert body["crowd_level"] == "green" and "inside" not in body
    assert body["self_checkin"] is False
    # scanners may lower-case it
    assert (await client.get(f"/v1/places/{code.lower()}")).status_code == 200


async def test_forged_and_garbage_codes_are_404(client: Client, world: World) -> None:
    code = world.ids["place_a"]
    swapped = code[:30] + ("A" if code[30] != "A" else "B") + code[31:]
    for bad in (
        swapped,
        "A" * 60,
        "x",
        "abcdefghijklmnopqrstu_",  # legacy-shaped but unknown
        "A" * 5000,
        "%C3%BC" * 30,
        "..%2F..%2Fetc",
        "' OR 1=1 --",
        code + "A",
    ):
        r = await client.get(f"/v1/places/{bad}")
        assert_problem(r, 404)
        r = await client.post(f"/v1/places/{bad}/checkin", headers=world.auth("operator_a"))
        assert r.status_code in (403, 404), r.text  # guard first, never a 500
    # a control character in any parameter is refused before routing to the service
    assert_problem(await client.get("/v1/places/%00"), 422, "request.control_character")


async def test_self_checkin_once_a_day_at_ungated_venues(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    lake = await _ungated(world)
    await world.traveller("t")
    auth = world.auth("traveller_t")
    r = await client.get(f"/v1/places/{lake['place_code']}")
    assert r.json()["self_checkin"] is True
    r = await client.post(f"/v1/places/{lake['place_code']}/checkin", headers=auth)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["venue_id"] == lake["id"] and first["created"] is True
    today = await conn.fetchval("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")
    assert first["local_day"] == today.isoformat()
    # the same local day again: 200 with the first check-in, nothing new written
    r = await client.post(f"/v1/places/{lake['place_code']}/checkin", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == first["id"] and r.json()["created"] is False
    assert await conn.fetchval("SELECT count(*) FROM checkins") == 1
    # gated venue: the gate records visits
    r = await client.post(f"/v1/places/{world.ids['place_a']}/checkin", headers=auth)
    assert_problem(r, 409, "places.gated_venue")
    # only travellers check in
    assert_problem(
        await client.post(f"/v1/places/{lake['place_code']}/checkin", headers=ADMIN), 403
    )
    assert_problem(await client.post(f"/v1/places/{lake['place_code']}/checkin"), 401)


async def test_repeated_checkins_through_the_api_return_the_first(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    lake = await _ungated(world)
    await world.traveller("t")
    path = f"/v1/places/{lake['place_code']}/checkin"
    results = await asyncio.gather(
        *(client.post(path, headers=world.auth("traveller_t")) for _ in range(12))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 11 + [201], [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert await conn.fetchval("SELECT count(*) FROM checkins") == 1


async def test_rotation_retires_the_old_code(client: Client, world: World) -> None:
    venue = world.ids["venue_a"]
    old = world.ids["place_a"]
    r = await client.get(f"/v1/venues/{venue}/place-code", headers=world.auth("operator_a"))
    assert r.status_code == 200 and r.json()["place_code"] == old and r.json()["version"] == 0
    r = await client.post(f"/v1/venues/{venue}/place-code/rotate", headers=world.auth("operator_a"))
    assert r.status_code == 200, r.text
    new = r.json()["place_code"]
    assert new != old and r.json()["version"] == 1 and r.json()["rotated_at"]
    assert_problem(await client.get(f"/v1/places/{old}"), 404, "places.not_found")
    assert (await client.get(f"/v1/places/{new}")).json()["venue"]["id"] == venue
    r = await client.get(f"/v1/venues/{venue}/place-code", headers=world.auth("operator_a"))
    assert r.json()["place_code"] == new
    # admin rotates too; the code before stops resolving again
    r = await client.post(f"/v1/venues/{venue}/place-code/rotate", headers=ADMIN)
    assert r.json()["version"] == 2
    assert_problem(await client.get(f"/v1/places/{new}"), 404)
    # other operators do not know the venue; travellers may not rotate
    r = await client.post(f"/v1/venues/{venue}/place-code/rotate", headers=world.auth("operator_b"))
    assert_problem(r, 404, "venues.not_found")
    await world.traveller("t")
    r = await client.post(
        f"/v1/venues/{venue}/place-code/rotate", headers=world.auth("traveller_t")
    )
    assert_problem(r, 403)
    r = await client.post(f"/v1/venues/{uuid.uuid4()}/place-code/rotate", headers=ADMIN)
    assert_problem(r, 404, "venues.not_found")


async def test_rotations_through_the_api_count_up(client: Client, world: World) -> None:
    venue = world.ids["venue_a"]
    results = await asyncio.gather(
        *(client.post(f"/v1/venues/{venue}/place-code/rotate", headers=ADMIN) for _ in range(8))
    )
    assert sorted(r.json()["version"] for r in results) == list(range(1, 9))
    current = (await client.get(f"/v1/venues/{venue}/place-code", headers=ADMIN)).json()
    assert current["version"] == 8
    live = [r.json()["place_code"] for r in results]
    answers = [(await client.get(f"/v1/places/{c}")).status_code for c in live]
    assert answers.count(200) == 1 and answers.count(404) == 7


async def test_poster_images_decode_to_the_code(client: Client, world: World) -> None:
    venue = world.ids["venue_a"]
    r = await client.get(f"/v1/venues/{venue}/place-code.png", headers=world.auth("operator_a"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/png")
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(r.content)))
    assert [d.text for d in decoded] == [world.ids["place_a"]]
    r = await client.get(f"/v1/venues/{venue}/place-code.svg", headers=ADMIN)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(r.content).tag.endswith("svg")  # noqa: S314 - our own output
    r = await client.get(f"/v1/venues/{venue}/place-code.png", headers=world.auth("operator_b"))
    assert_problem(r, 404)
    assert_problem(await client.get(f"/v1/venues/{venue}/place-code.svg"), 401)


async def test_legacy_random_code_still_resolves_until_rotated(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    # TEST SETUP: a venue made before signed codes carries 128 random bits
    legacy = "Zx9_k2LmQp4-Rt7vWy0aBc"
    await conn.execute(
        "UPDATE venues SET place_code = $1 WHERE id = $2", legacy, uuid.UUID(world.ids["venue_b"])
    )
    r = await client.get(f"/v1/places/{legacy}")
    assert r.status_code == 200 and r.json()["venue"]["id"] == world.ids["venue_b"]
    r = await client.get(f"/v1/venues/{world.ids['venue_b']}/place-code.png", headers=ADMIN)
    assert [d.text for d in zxingcpp.read_barcodes(Image.open(io.BytesIO(r.content)))] == [legacy]
    r = await client.post(f"/v1/venues/{world.ids['venue_b']}/place-code/rotate", headers=ADMIN)
    assert len(r.json()["place_code"]) == 60
    assert_problem(await client.get(f"/v1/places/{legacy}"), 404)
