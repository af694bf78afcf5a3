"""`onecode keys list|rotate|retire` on the data-folder key store, and a restarted app
picking the new key up."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.cli import main
from onecode.codes import KeyRing, Reason, verify
from onecode.settings import Settings


def _run(
    args: list[str],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    for name in ("ONECODE_SIGNING_KEYS", "ONECODE_SIGNING_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONECODE_DATA_DIR", str(data_dir))
    rc = main(["keys", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _seeds(data_dir: Path) -> list[str]:
    return [json.loads(p.read_text())["seed"] for p in (data_dir / "keys").glob("key-*.json")]


def test_rotate_list_retire_print_public_keys_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    rc, out, _ = _run(["list"], data, monkeypatch, capsys)
    assert rc == 0 and "no signing keys" in out
    assert not (data / "keys").exists()  # listing creates nothing

    rc, out, _ = _run(["rotate"], data, monkeypatch, capsys)
    assert rc == 0 and "kid 1" in out and "restart" in out
    rc, out, _ = _run(["rotate"], data, monkeypatch, capsys)
    assert rc == 0 and "new signing key: kid 2" in out and "restart" in out
    rc, listing, _ = _run(["list"], data, monkeypatch, capsys)
    assert rc == 0
    seeds = _seeds(data)
    assert len(seeds) == 2
    publics = [json.loads(p.read_text())["public_key"] for p in (data / "keys").glob("*.json")]
    for seed in seeds:
        assert seed not in out and seed not in listing
    for public in publics:
        assert public in listing
    lines = [line.split() for line in listing.splitlines() if line.strip()[:1].isdigit()]
    assert [(cols[0], cols[-1]) for cols in lines] == [("1", "active"), ("2", "signing")]

    rc, out, _ = _run(["retire", "1"], data, monkeypatch, capsys)
    assert rc == 0 and "retired key 1" in out
    rc, _, err = _run(["retire", "2"], data, monkeypatch, capsys)
    assert rc == 1 and "last active key" in err
    rc, _, err = _run(["retire", "9"], data, monkeypatch, capsys)
    assert rc == 1 and "no active key with kid 9" in err
    for seed in _seeds(data):
        assert seed not in out and seed not in err


def test_configured_keys_are_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    monkeypatch.setenv("ONECODE_SIGNING_KEYS", f"5:{seed}")
    monkeypatch.setenv("ONECODE_DATA_DIR", str(tmp_path))
    assert main(["keys", "rotate"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert "  5  " in out and seed not in out
    assert not (tmp_path / "keys").exists()


async def test_a_restarted_app_signs_with_the_rotated_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with AsyncTestClient(app=create_app(settings), raise_server_exceptions=False) as c:
        reg = (await c.post("/v1/travellers", json={})).json()
        auth = {"Authorization": f"Bearer {reg['access_token']}"}
        old_code = (await c.get("/v1/me/code", headers=auth)).json()["code"]
        old_keys = (await c.get("/v1/keys")).json()["keys"]
    assert [k["kid"] for k in old_keys] == [1]

    rc, _, _ = _run(["rotate"], settings.data_dir, monkeypatch, capsys)
    assert rc == 0
    async with AsyncTestClient(app=create_app(settings), raise_server_exceptions=False) as c:
        keys = (await c.get("/v1/keys")).json()["keys"]
        new_code = (await c.get("/v1/me/code", headers=auth)).json()["code"]
    assert [k["kid"] for k in keys] == [1, 2]
    ring = KeyRing.from_public_list(keys)
    now = time.time()
    new = verify(new_code, ring, now)
    assert new.ok and new.credential is not None and new.credential.kid == 2
    assert verify(old_code, ring, now).ok  # codes on phones keep working

    rc, _, _ = _run(["retire", "1"], settings.data_dir, monkeypatch, capsys)
    assert rc == 0
    async with AsyncTestClient(app=create_app(settings), raise_server_exceptions=False) as c:
        keys = (await c.get("/v1/keys")).json()["keys"]
    assert [k["kid"] for k in keys] == [2]
    assert verify(old_code, KeyRing.from_public_list(keys), now).reason is Reason.UNKNOWN_KEY
