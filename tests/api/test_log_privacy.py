"""Logs never hold a token, a code, a code secret or a name, whatever the route does."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

import pytest

from onecode.logs import JsonFormatter
from tests.conftest import ADMIN, ADMIN_TOKEN, World, bearer
from tests.support.apps import Client

NAME = "Zhang Xiaoming Privacy-Canary"


async def test_logs_hold_no_secret(
    client: Client, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = [ADMIN_TOKEN, NAME, world.tokens["gate_a"], world.tokens["operator_a"]]

    registered = await world.traveller("a", display_name=NAME, home_region="CN-GZ")
    token = registered["access_token"]
    secrets += [token, registered["code_secret"]]
    code = await world.code("a")
    secrets.append(code)
    me = bearer(token)
    assert (await client.get("/v1/me", headers=me)).status_code == 200
    await client.get("/v1/me/code.svg", headers=me)
    await client.post("/v1/me/code/rotate", headers=me)
    secrets.append(await world.code("a"))
    await client.post(
        "/v1/bookings",
        json={"slot_id": "00000000-0000-4000-8000-000000000000", "party_size": 1},
        headers={**me, "Idempotency-Key": "privacy-canary-idem-key"},
    )
    await client.post(
        "/v1/gate/scans",
        json={
            "code": code,
            "direction": "in",
            "scan_id": "00000000-0000-4000-8000-000000000001",
            "scanned_at": datetime.now(UTC).isoformat(),
        },
        headers=world.auth("gate_a"),
    )
    # refusals that quote input: an unknown token, a malformed token, a bad body, a bad code
    await client.get("/v1/me", headers=bearer("oc_traveller_" + "Q" * 40 + "canary"))
    secrets.append("oc_traveller_" + "Q" * 40 + "canary")
    await client.get("/v1/me", headers={"Authorization": f"Basic {token}"})
    r = await client.post("/v1/travellers", json={"display_name": NAME, "nickname": NAME})
    assert r.status_code == 400
    await client.post("/v1/gate/scans", json={"code": code + "X"}, headers=world.auth("gate_a"))
    await client.post(
        "/v1/admin/operators",
        json={"name": NAME, "venue_ids": [world.ids["venue_a"]]},
        headers=ADMIN,
    )
    await client.get(f"/v1/venues?region={NAME}")
    await client.delete("/v1/me", headers=me)

    formatter = JsonFormatter()
    # httpx is the test's own client logging the URLs it calls, not the service
    records = [rec for rec in caplog.records if not rec.name.startswith("httpx")]
    assert any(rec.name == "onecode.access" for rec in records)  # the logs were captured
    text = "\n".join(formatter.format(rec) + " " + repr(rec.__dict__) for rec in records)
    secrets += [hashlib.sha256(s.encode()).hexdigest() for s in secrets if s.startswith("oc_")]
    leaked = [s[:12] + "..." for s in secrets if s and s in text]
    assert not leaked, f"secrets in the logs: {leaked}"
    assert "Zhang" not in text
    assert "privacy-canary-idem-key" not in text
