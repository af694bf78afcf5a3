"""``onecode gates|operators|planners|venues|audit`` against a real database: the same
rules as the API, audited as the ``cli`` actor, revocations heard by running servers."""

from __future__ import annotations

import asyncio
import json

import pytest

from onecode.cli import main
from tests.conftest import ADMIN, World, bearer
from tests.support.apps import Client


async def _cli(monkeypatch: pytest.MonkeyPatch, db_url: str, *argv: str) -> int:
    monkeypatch.setenv("DATABASE_URL", db_url)
    # main() runs its own event loop (asyncio.run): give it a thread
    return await asyncio.to_thread(main, list(argv))


async def test_cli_revokes_reissues_deactivates_and_reads_the_audit(
    client: Client,
    world: World,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate = world.ids["gate_a"]
    old = world.tokens["gate_a"]
    assert (await client.get("/v1/gate/pack", headers=bearer(old))).status_code == 200
    capsys.readouterr()
    assert await _cli(monkeypatch, db_url, "gates", "list", "--venue", world.ids["venue_a"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [g["id"] for g in listed] == [gate]

    assert await _cli(monkeypatch, db_url, "gates", "revoke", gate) == 0
    assert (await client.get("/v1/gate/pack", headers=bearer(old))).status_code == 401
    capsys.readouterr()
    assert await _cli(monkeypatch, db_url, "gates", "token", gate) == 0
    out = capsys.readouterr().out
    new = out.split("stored hashed): ", 1)[1].split()[0]
    assert new.startswith("oc_gate_")
    assert (await client.get("/v1/gate/pack", headers=bearer(new))).status_code == 200

    assert await _cli(monkeypatch, db_url, "venues", "deactivate", world.ids["venue_b"]) == 0
    r = await client.get(f"/v1/admin/venues/{world.ids['venue_b']}", headers=ADMIN)
    assert r.json()["active"] is False
    # an unknown id is a clean message and exit status 1
    capsys.readouterr()
    assert await _cli(monkeypatch, db_url, "operators", "revoke", gate) == 1
    assert "operators.not_found" in capsys.readouterr().err

    assert await _cli(monkeypatch, db_url, "audit", "--limit", "3") == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in entries] == [
        "venue.deactivated",
        "gate.token_issued",
        "gate.revoked",
    ]
    assert {e["actor_kind"] for e in entries} == {"cli"}
    assert new not in json.dumps(entries)
