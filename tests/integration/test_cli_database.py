"""``onecode migrate`` and ``onecode rollup`` say which database they use, never with its
password; ``onecode demo`` keeps the access log out of its progress output."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from onecode import cli
from onecode.demo import run as demo
from onecode.devdb import describe
from onecode.settings import Settings


def _with_password(dsn: str, password: str) -> str:
    parts = urlsplit(dsn)
    user = parts.username or "postgres"
    netloc = f"{user}:{password}@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@pytest.mark.parametrize("command", ["migrate", "rollup"])
def test_the_database_is_named_without_its_password(
    command: str,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = _with_password(db_url, "s3cret-pw")  # the test cluster trusts local connections
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("ONECODE_DATA_DIR", str(tmp_path))
    assert cli.main([command]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("database: "))
    assert line == f"database: {describe(db_url)}", out  # user, host, database: no password
    assert urlsplit(db_url).path in line
    assert "s3cret-pw" not in out
    assert "(embedded)" not in line


def test_demo_progress_has_no_access_log_lines(
    settings: Settings, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    args = argparse.Namespace(days=1, travellers=15, seed=3, url=None, quiet=False)
    try:
        assert demo.demo(args, settings) == 0
    finally:
        logging.getLogger("onecode.access").setLevel(logging.NOTSET)
    access = [r for r in caplog.records if r.name == "onecode.access"]
    assert not access, f"{len(access)} access-log lines, e.g. {access[0].getMessage()}"
    captured = capsys.readouterr()
    assert "POST /v1/" not in captured.err and "POST /v1/" not in captured.out
