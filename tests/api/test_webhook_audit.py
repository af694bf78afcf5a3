"""Webhook subscriptions and the host allow-list are admin and operator changes: each is
in the audit trail, without the secret and without the URL's path or query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onecode.settings import Settings
from tests.conftest import ADMIN, World
from tests.support.webhooks import Client, allow_loopback, subscribe, webhook_settings


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return webhook_settings(db_url, tmp_path)


async def test_subscription_changes_are_audited_without_secrets(
    client: Client, world: World
) -> None:
    await allow_loopback(client)
    op = world.auth("operator_a")
    va = world.ids["venue_a"]
    url = "http://127.0.0.1:9/hooks/onecode?token=receiver-secret-123"
    created = await subscribe(client, url, op, venue_ids=[va])
    sub = created["subscription"]["id"]
    r = await client.patch(f"/v1/webhooks/{sub}", json={"enabled": False}, headers=op)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/webhooks/{sub}/rotate", headers=op)
    assert r.status_code == 200, r.text
    rotated = r.json()["secret"]
    assert (await client.delete(f"/v1/webhooks/{sub}", headers=op)).status_code == 204

    r = await client.get(f"/v1/venues/{va}/audit", headers=op)
    mine = [e for e in r.json()["items"] if e["object_kind"] == "webhook"]
    assert [e["action"] for e in reversed(mine)] == [
        "webhook.created",
        "webhook.changed",
        "webhook.secret_rotated",
        "webhook.deleted",
    ]
    assert all(e["actor_kind"] == "operator" and e["object_id"] == sub for e in mine)
    assert mine[2]["before"] == {"enabled": True} and mine[2]["after"] == {"enabled": False}
    assert mine[3]["after"]["url_host"] == "127.0.0.1"
    r = await client.get("/v1/admin/audit", params={"object_kind": "webhook_host"}, headers=ADMIN)
    assert [e["action"] for e in r.json()["items"]] == ["webhook_host.allowed"]
    trail = json.dumps((await client.get("/v1/admin/audit", headers=ADMIN)).json())
    for secret in (created["secret"], rotated, "receiver-secret-123", "/hooks/onecode"):
        assert secret not in trail
