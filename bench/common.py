"""What every benchmark shares: the durability it ran with, the machine it ran on, the
decision mix it checks, and the JSON result it writes (bench/results/<name>.json).

A benchmark says exactly what it measures:

- commits are durable (fsync, synchronous_commit, full_page_writes on) unless it was
  started with ``--unsafe-fast``, and then every line it prints says so;
- a figure named for a decision ("first entries") is checked against the decisions the
  database recorded; a run whose mix is not what it claims exits non-zero;
- the same-run baseline sits beside the figure as a ratio;
- the result goes to JSON; README tables are generated from it (``bench/report.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg

from tests.support.postgres import FAST_UNSAFE

RESULTS = Path(__file__).resolve().parent / "results"

# A throwaway cluster only: a crash loses committed transactions.
UNSAFE_FAST = FAST_UNSAFE

_PACKAGES = ("litestar", "msgspec", "asyncpg", "uvicorn", "uvloop", "httptools", "pynacl")


def add_common_args(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument(
        "--unsafe-fast",
        action="store_true",
        help="turn fsync, synchronous_commit and full_page_writes off (figures are then "
        "NOT durable commits, and say so)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=RESULTS / f"{name}.json",
        help=f"where the JSON result goes (default bench/results/{name}.json)",
    )


def durability(unsafe_fast: bool) -> str:
    if unsafe_fast:
        return "UNSAFE-FAST (fsync, synchronous_commit, full_page_writes off: not durable)"
    return "durable commits (fsync on, synchronous_commit on)"


async def apply_durability(dsn: str, unsafe_fast: bool) -> dict[str, str]:
    """Set (or reset) the durability settings, and read back what the server runs with."""
    conn = await asyncpg.connect(dsn)
    try:
        for name, value in UNSAFE_FAST.items():
            if unsafe_fast:
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            else:
                await conn.execute(f"ALTER SYSTEM RESET {name}")
        await conn.execute("SELECT pg_reload_conf()")
        got = {name: str(await conn.fetchval(f"SHOW {name}")) for name in UNSAFE_FAST}
        got["server_version"] = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
    if not unsafe_fast and any(got[n] != "on" for n in UNSAFE_FAST):
        raise SystemExit(f"the server is not durable though the run claims it: {got}")
    return got


def machine() -> dict[str, Any]:
    """Where the figures come from: CPU, load, Python and the stack's versions."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "commit": commit,
    }


def check_mix(
    label: str, mix: Mapping[str, int], claimed: str, at_least: int, at_most: int
) -> bool:
    """Print the decision mix; False (and a loud line) when it is not what is claimed:
    every recorded decision is ``claimed`` and their number is within the bounds (a load
    generator stopping at its deadline leaves up to one request per connection in
    flight, which the server completes and records but the generator does not count)."""
    print(f"  decision mix of {label}: {dict(sorted(mix.items()))}")
    others = {k: v for k, v in mix.items() if k != claimed}
    got = mix.get(claimed, 0)
    if others or not at_least <= got <= at_most:
        print(
            f"  MIX CHECK FAILED for {label}: claimed {at_least}..{at_most} x {claimed} "
            f"and nothing else, recorded {dict(mix)}",
            file=sys.stderr,
        )
        return False
    return True


def ratio(value: float, baseline: float) -> float | None:
    return round(value / baseline, 3) if baseline else None


class Result:
    """One run's figures, written as JSON with the machine and settings beside them."""

    def __init__(self, name: str, what: str, settings: dict[str, Any]) -> None:
        self.doc: dict[str, Any] = {
            "benchmark": name,
            "measures": what,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "settings": settings,
            "rows": [],
            "checks_passed": True,
        }

    def row(self, **fields: Any) -> None:
        self.doc["rows"].append(fields)

    def failed_check(self) -> None:
        self.doc["checks_passed"] = False

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.doc["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        path.write_text(json.dumps(self.doc, indent=2, sort_keys=False) + "\n")
        print(f"result written to {path}")

    @property
    def ok(self) -> bool:
        return bool(self.doc["checks_passed"])
