"""The command line as an operator reads it: help without raw reStructuredText, every
option with its help and default, and the database a command uses named (never its
password)."""

from __future__ import annotations

import argparse
import re

import pytest

from onecode import cli
from onecode.devdb import describe
from onecode_gate import agent

RST = re.compile(r"``|:(class|func|ref|mod|meth):`")


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_help_shows_no_raw_rst(capsys: pytest.CaptureFixture[str]) -> None:
    top = _help(capsys)
    assert not RST.search(top), top
    assert "onecode COMMAND --help" in top
    for command in cli.COMMANDS:
        text = _help(capsys, command.name)
        assert not RST.search(text), (command.name, text)


def test_every_gate_agent_option_has_help_and_a_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    agent.add_arguments(parser)
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in options} >= {"upload_interval", "sync_interval", "lang", "direction"}
    for action in options:
        assert action.help, action.dest
        assert action.required or action.default is not None, action.dest
    text = _help(capsys, "gate-agent")
    for shown in ("(default: 2.0)", "(default: 60.0)", "(default: in)", "(default: zh-CN)"):
        assert shown in text, (shown, text)
    assert "(default: None)" not in text


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://onecode:s3cret@db:5432/onecode", "postgresql://onecode@db:5432/onecode"),
        (
            "postgres://u:s3cret@[::1]:5433/x?sslmode=require",
            "postgres://u@[::1]:5433/x?sslmode=require",
        ),
        ("postgresql://db/onecode?user=u&password=s3cret", "postgresql://db/onecode?user=u"),
        (
            "host=db user=onecode password=s3cret dbname=onecode",
            "host=db user=onecode dbname=onecode",
        ),
        ("postgresql://onecode@localhost/onecode", "postgresql://onecode@localhost/onecode"),
    ],
)
def test_a_database_is_named_without_its_password(dsn: str, shown: str) -> None:
    assert describe(dsn) == shown
    assert "s3cret" not in describe(dsn, embedded=True)
    assert describe(dsn, embedded=True) == shown + " (embedded)"
