"""Traveller identity through the API: rotate, erase, QR images, revocation checks, guards."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
import pytest
import zxingcpp
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image

from onecode.app import create_app
from onecode.codes import KeyRing, screenshot_suffix, verify
from onecode.codes import qr as qr_module
from onecode.codes.b64url import b64url_decode, b64url_encode
from onecode.identity import routes as identity_routes
from onecode.settings import Settings
from tests.conftest import World, bearer
from tests.support.db import fetch_row
from tests.support.problems import assert_problem

Client = AsyncTestClient[Litestar]


def _secret(text: str) -> bytes:
    raw = b64url_decode(text)
    assert len(raw) == 32
    return raw


async def _verified(client: Client, code: str) -> Any:
    ring = KeyRing.from_public_list((await client.get("/v1/keys")).json()["keys"])
    outcome = verify(code, ring, time.time())
    assert outcome.ok, outcome.reason
    assert outcome.credential is not None
    return outcome


# --- rotation ------------------------------------------------------------------------------


async def _gate_reason(client: Client, world: World, code: str, direction: str = "in") -> str:
    """What the real gate (venue A, booking required) says of a code: ``no_booking`` for
    a code that is current (nobody booked), ``revoked_code`` for one that is not."""
    r = await client.post(
        "/v1/gate/scans",
        json={
            "code": code,
            "direction": direction,
            "scan_id": str(uuid.uuid4()),
            "scanned_at": datetime.now(UTC).isoformat(),
        },
        headers=world.auth("gate_a"),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["reason"])


def _live(code: str, secret: bytes) -> str:
    return code + screenshot_suffix(code, secret, time.time())


async def test_rotation_issues_a_new_credential_id_and_revokes_the_old(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    reg = await world.traveller("a")
    old_code = await world.code("a")
    old = (await _verified(client, old_code)).credential
    old_secret = _secret(reg["code_secret"])
    assert await _gate_reason(client, world, _live(old_code, old_secret)) == "no_booking"

    r = await client.post("/v1/me/code/rotate", headers=world.auth("traveller_a"))
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert set(rotated) == {"code", "generation", "expires_at", "code_secret"}
    assert rotated["code"] != old_code
    assert rotated["code_secret"] != reg["code_secret"]
    new = (await _verified(client, rotated["code"])).credential
    # a new random credential id: a photo of the old code links nothing to the new one
    assert new.cred_id != old.cred_id

    # the old code still carries a good signature; the database revokes it
    assert await _gate_reason(client, world, _live(old_code, old_secret)) == "revoked_code"
    new_secret = _secret(rotated["code_secret"])
    assert await _gate_reason(client, world, _live(rotated["code"], new_secret)) == "no_booking"
    # the old secret makes no valid suffix for the new code
    assert await _gate_reason(client, world, _live(rotated["code"], old_secret)) == (
        "screenshot_code"
    )
    # GET /v1/me/code now serves the new credential
    assert await world.code("a") == rotated["code"]
    traveller_id = uuid.UUID(reg["traveller_id"])
    rows = await conn.fetch(
        "SELECT cred_id, revoked_all, suffix_secret, changed_at FROM credentials "
        "WHERE traveller_id = $1 ORDER BY issued_at",
        traveller_id,
    )
    assert [(bytes(r["cred_id"]), r["revoked_all"]) for r in rows] == [
        (old.cred_id, True),
        (new.cred_id, False),
    ]
    assert bytes(rows[1]["suffix_secret"]) == new_secret
    # the gate pack lists the old credential as revoked
    pack = (await client.get("/v1/gate/pack", headers=world.auth("gate_a"))).json()
    revoked = {cred_id for cred_id, _ in pack["revocations"]}
    assert b64url_encode(old.cred_id) in revoked


async def test_racing_rotations_each_get_their_own_credential(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    reg = await world.traveller("a")
    n = 20
    answers = await asyncio.gather(
        *(client.post("/v1/me/code/rotate", headers=world.auth("traveller_a")) for _ in range(n))
    )
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    await _one_current_credential(client, conn, uuid.UUID(reg["traveller_id"]), answers, n)


async def _one_current_credential(
    client: Client, conn: asyncpg.Connection, traveller_id: uuid.UUID, answers: list[Any], n: int
) -> None:
    rows = await conn.fetch(
        "SELECT cred_id, revoked_all, suffix_secret FROM credentials WHERE traveller_id = $1",
        traveller_id,
    )
    assert len(rows) == n + 1
    current = [r for r in rows if not r["revoked_all"]]
    assert len(current) == 1
    handed_out = {}
    for a in answers:
        body = a.json() if isinstance(a, Response) else msgspec.structs.asdict(a)
        cred = (await _verified(client, body["code"])).credential
        handed_out[cred.cred_id] = body["code_secret"]
    assert len(handed_out) == n  # every rotation its own credential id
    # the current row is one of them, with the secret that was handed out with it
    cred_id = bytes(current[0]["cred_id"])
    assert bytes(current[0]["suffix_secret"]) == _secret(handed_out[cred_id])


async def test_racing_rotations_on_many_connections(
    client: Client, world: World, db_url: str, conn: asyncpg.Connection
) -> None:
    """The same race without the app: 16 real connections rotate one traveller."""
    from onecode.identity.service import rotate_code

    reg = await world.traveller("a")
    traveller_id = uuid.UUID(reg["traveller_id"])
    keys = client.app.state.keystore
    conns = [await asyncpg.connect(db_url) for _ in range(16)]
    try:
        results = await asyncio.gather(*(rotate_code(c, keys, traveller_id, 30) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    await _one_current_credential(client, conn, traveller_id, list(results), 16)


# --- erasure -------------------------------------------------------------------------------


async def test_erasure_removes_personal_data_and_revokes_tokens_and_code(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    reg = await world.traveller("a", display_name="Li Wei", home_region="CN-44")
    await world.traveller("b", display_name="Other", home_region="CN-GZ")
    traveller_id = uuid.UUID(reg["traveller_id"])
    code = await world.live_code("a")
    # a recorded scan must survive erasure (aggregates keep counting)
    await conn.execute(
        "INSERT INTO scans (gate_id, scan_id, venue_id, traveller_id, direction, decision, "
        "reason, party_size, device_time) VALUES ($1, $2, $3, $4, 'in', 'accept', 'ok', 1, now())",
        uuid.UUID(world.ids["gate_a"]),
        uuid.uuid4(),
        uuid.UUID(world.ids["venue_a"]),
        traveller_id,
    )

    r = await client.delete("/v1/me", headers=world.auth("traveller_a"))
    assert r.status_code == 204, r.text
    assert r.content == b""

    row = await fetch_row(conn, "SELECT * FROM travellers WHERE id = $1", traveller_id)
    assert row["display_name"] is None and row["home_region"] is None
    assert row["erased_at"] is not None
    cred_row = await fetch_row(
        conn, "SELECT * FROM credentials WHERE traveller_id = $1", traveller_id
    )
    assert cred_row["revoked_all"] is True
    assert cred_row["changed_at"] >= row["erased_at"]
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM api_tokens WHERE principal_id = $1 AND revoked_at IS NULL",
            traveller_id,
        )
        == 0
    )
    assert (
        await conn.fetchval("SELECT count(*) FROM scans WHERE traveller_id = $1", traveller_id) == 1
    )
    assert await _gate_reason(client, world, code) == "revoked_code"

    # the token is dead: every traveller route answers 401
    assert_problem(await client.delete("/v1/me", headers=world.auth("traveller_a")), 401)
    assert_problem(await client.get("/v1/me", headers=world.auth("traveller_a")), 401)
    assert_problem(await client.get("/v1/me/code.png", headers=world.auth("traveller_a")), 401)
    assert_problem(await client.post("/v1/me/code/rotate", headers=world.auth("traveller_a")), 401)
    # the other traveller is untouched
    other = (await client.get("/v1/me", headers=world.auth("traveller_b"))).json()
    assert other["display_name"] == "Other" and other["home_region"] == "CN-GZ"


async def test_erasure_racing_rotations_leaves_no_valid_code(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    reg = await world.traveller("a")
    auth = world.auth("traveller_a")
    calls = [client.post("/v1/me/code/rotate", headers=auth) for _ in range(10)]
    calls.insert(5, client.delete("/v1/me", headers=auth))
    answers = await asyncio.gather(*calls)
    assert answers[5].status_code == 204
    # a rotation either won before the erasure or was refused; never a 500
    assert {r.status_code for r in answers} <= {200, 204, 401, 404}, [r.text for r in answers]
    rows = await conn.fetch(
        "SELECT revoked_all FROM credentials WHERE traveller_id = $1",
        uuid.UUID(reg["traveller_id"]),
    )
    assert rows and all(r["revoked_all"] for r in rows)
    for a in answers:
        if a.status_code == 200:
            body = a.json()
            live = _live(body["code"], _secret(body["code_secret"]))
            assert await _gate_reason(client, world, live) == "revoked_code"


async def test_erasure_takes_effect_at_once_despite_the_token_cache(
    settings: Settings, world: World
) -> None:
    """With a long token cache, erasure must still lock the token out in this process."""
    reg = await world.traveller("a", display_name="Li Wei")
    headers = bearer(reg["access_token"])
    cached = msgspec.structs.replace(settings, token_cache_seconds=600)
    async with AsyncTestClient(app=create_app(cached), raise_server_exceptions=False) as c:
        assert (await c.get("/v1/me", headers=headers)).status_code == 200  # now cached
        assert (await c.delete("/v1/me", headers=headers)).status_code == 204
        assert_problem(await c.get("/v1/me", headers=headers), 401, "auth.invalid_token")
        assert_problem(await c.get("/v1/me/code", headers=headers), 401, "auth.invalid_token")


# --- images --------------------------------------------------------------------------------


async def test_png_decodes_to_exactly_the_code_text(client: Client, world: World) -> None:
    await world.traveller("a")
    code = await world.code("a")
    r = await client.get("/v1/me/code.png", headers=world.auth("traveller_a"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "no-store"
    image = Image.open(io.BytesIO(r.content))
    image.load()
    assert image.format == "PNG"
    found = zxingcpp.read_barcodes(image)
    assert [b.text for b in found] == [code]
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode


async def test_svg_is_valid_xml_of_the_code(client: Client, world: World) -> None:
    await world.traveller("a")
    r = await client.get("/v1/me/code.svg", headers=world.auth("traveller_a"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.content)  # noqa: S314 (our own output, under test)
    assert root.tag.endswith("svg")
    paths = [el for el in root.iter() if el.tag.endswith("path")]
    assert paths and paths[0].get("d")
    # the same text rendered directly gives the same SVG
    assert r.content == qr_module.render_svg(await world.code("a"))


async def test_dotted_paths_route_next_to_the_json_code(client: Client, world: World) -> None:
    await world.traveller("a")
    auth = world.auth("traveller_a")
    r = await client.get("/v1/me/code", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert set(r.json()) == {"code", "generation", "expires_at"}
    for path in ("/v1/me/code.jpg", "/v1/me/codeXsvg", "/v1/me/code.svg/x", "/v1/me/code.PNG"):
        assert (await client.get(path, headers=auth)).status_code == 404, path


async def test_images_are_rendered_once_per_generation(
    client: Client, world: World, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def counting(real: Callable[..., bytes], fmt: str) -> Callable[..., bytes]:
        def render(text: str, **kw: Any) -> bytes:
            calls.append(fmt)
            return real(text, **kw)

        return render

    monkeypatch.setattr(qr_module, "render_png", counting(qr_module.render_png, "png"))
    monkeypatch.setattr(qr_module, "render_svg", counting(qr_module.render_svg, "svg"))
    await world.traveller("a")
    await world.traveller("b")
    auth = world.auth("traveller_a")

    first = await client.get("/v1/me/code.png", headers=auth)
    again = await asyncio.gather(*(client.get("/v1/me/code.png", headers=auth) for _ in range(8)))
    assert calls == ["png"]
    assert all(r.content == first.content for r in again)
    await client.get("/v1/me/code.svg", headers=auth)
    await client.get("/v1/me/code.svg", headers=auth)
    assert calls == ["png", "svg"]
    # another traveller has another image
    other = await client.get("/v1/me/code.png", headers=world.auth("traveller_b"))
    assert other.content != first.content
    assert calls == ["png", "svg", "png"]
    # rotation makes a new generation: rendered once more, and it is the new code
    rotated = (await client.post("/v1/me/code/rotate", headers=auth)).json()
    fresh = await client.get("/v1/me/code.png", headers=auth)
    await client.get("/v1/me/code.png", headers=auth)
    assert calls == ["png", "svg", "png", "png"]
    assert fresh.content != first.content
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(fresh.content)))
    assert [b.text for b in decoded] == [rotated["code"]]
    cache = app.state.code_images
    assert len(cache) == 4 and cache.hits >= 10


# --- guards and bad input ------------------------------------------------------------------


async def test_register_refuses_unknown_fields_and_bad_values(client: Client) -> None:
    assert_problem(
        await client.post("/v1/travellers", json={"nickname": "x"}), 400, "request.invalid"
    )
    assert_problem(await client.post("/v1/travellers", json={"home_region": 44}), 400)
    assert_problem(await client.post("/v1/travellers", json={"display_name": "x" * 101}), 400)
    assert_problem(await client.post("/v1/travellers", json=[]), 400)
    r = await client.post(
        "/v1/travellers", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(r, 400)
    r = await client.post("/v1/travellers", json={})
    assert r.status_code == 201, r.text


ME_ROUTES = [
    ("GET", "/v1/me"),
    ("DELETE", "/v1/me"),
    ("GET", "/v1/me/code"),
    ("GET", "/v1/me/code.svg"),
    ("GET", "/v1/me/code.png"),
    ("POST", "/v1/me/code/rotate"),
]


async def test_traveller_routes_refuse_other_principals_and_no_token(
    client: Client, world: World
) -> None:
    for method, path in ME_ROUTES:
        for who in ("gate_a", "operator_a", "planner_x", "admin"):
            r = await client.request(method, path, headers=world.auth(who))
            assert_problem(r, 403, "auth.wrong_principal")
        assert_problem(await client.request(method, path), 401, "auth.missing_token")
        r = await client.request(method, path, headers={"Authorization": "Basic eDp5"})
        assert_problem(r, 401, "auth.malformed")
        r = await client.request(method, path, headers=bearer("oc_traveller_nope"))
        assert_problem(r, 401, "auth.invalid_token")


def test_rate_limit_tags_are_on_the_routes(app: Litestar) -> None:
    opts: dict[tuple[str, str], Any] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in handler.http_methods:
                opts[(method, route.path)] = handler.opt.get("rate_limit")
    assert opts[("POST", "/v1/travellers")] == "register"
    assert opts[("POST", "/v1/me/code/rotate")] == "code_rotate"
    assert identity_routes.image_cache_lifespan in identity_routes.LIFESPANS


async def test_openapi_lists_the_identity_paths(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in ("/v1/me", "/v1/me/code", "/v1/me/code.svg", "/v1/me/code.png"):
        assert path in paths, path
    assert "delete" in paths["/v1/me"]
    assert "/v1/me/code/rotate" in paths
