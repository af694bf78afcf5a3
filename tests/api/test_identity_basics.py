"""Registration, profile, the current code and the public key list."""

from __future__ import annotations

import time

from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.codes import KeyRing, Reason, verify
from tests.conftest import World


async def test_register_read_me_and_verify_code_with_published_keys(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    reg = await world.traveller("a", display_name="Li Wei", home_region="CN-44")
    assert reg["access_token"].startswith("oc_traveller_")
    r = await client.get("/v1/me", headers=world.auth("traveller_a"))
    assert r.status_code == 200
    assert r.json()["display_name"] == "Li Wei"
    assert r.json()["home_region"] == "CN-44"
    code = await world.code("a")
    assert code.startswith("TQ1:")
    assert reg["traveller_id"] not in code
    keys = (await client.get("/v1/keys")).json()["keys"]
    assert keys and keys[0]["alg"] == "Ed25519"
    ring = KeyRing.from_public_list(keys)
    result = verify(code, ring, time.time())
    assert result.ok and result.reason is Reason.OK
    assert result.credential is not None and result.credential.generation == 1


async def test_register_refuses_bad_home_region(client: AsyncTestClient[Litestar]) -> None:
    for bad in ("cn-44", "CHINA", "C", "CN-", "CN-4444"):
        r = await client.post("/v1/travellers", json={"home_region": bad})
        assert r.status_code == 400, bad
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/v1/travellers", json={"display_name": ""})
    assert r.status_code == 400
