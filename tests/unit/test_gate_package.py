"""The gate agent is its own package (issue #14, item 5): it needs only the TQ1 codes and
the gate rules, never the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# what onecode_gate may load of the onecode distribution: the codes, the gate rules and
# the message catalogs (the reason label on the gate's screen; Babel only, no server)
ALLOWED = ("onecode.codes", "onecode.gates.rules", "onecode.i18n")


def test_the_agent_loads_only_codes_and_the_gate_rules() -> None:
    probe = (
        "import json, sys\n"
        "import onecode_gate.agent\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('onecode', 'onecode_gate', 'litestar', 'asyncpg', 'uvicorn', 'msgspec'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    server = [
        m
        for m in loaded
        if m.startswith("onecode.")
        and not any(m == a or m.startswith(a + ".") for a in ALLOWED)
        and m != "onecode.gates"  # the package of gates.rules (a docstring only)
    ]
    assert server == [], server
    assert not [m for m in loaded if m.split(".")[0] in ("litestar", "asyncpg", "uvicorn")]


def test_the_agent_runs_on_its_own() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "onecode_gate", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--url" in out.stdout and "--skew" in out.stdout


def test_the_wheel_ships_the_agent_package() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'packages = ["onecode", "onecode_gate"]' in text
    assert 'onecode-gate = "onecode_gate.agent:main"' in text
