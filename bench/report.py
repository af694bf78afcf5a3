"""Tables for README.md (and any other document) generated from bench/results/*.json.

A document marks where a benchmark's table goes:

    <!-- bench:gates -->
    (generated; do not edit)
    <!-- /bench:gates -->

``python -m bench.report`` rewrites every marked block from the result files;
``python -m bench.report --check`` exits 1 when a block differs from what the results
say (a unit test runs the check, so typed figures cannot drift from measured ones).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOCUMENTS = [ROOT / "README.md", ROOT / "deploy" / "README.md", ROOT / "docs" / "benchmarks.md"]

_BLOCK = re.compile(
    r"(?P<open><!-- bench:(?P<name>[a-z0-9_-]+) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- /bench:(?P=name) -->)",
    re.DOTALL,
)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) < 10:
            return f"{value:.2f}"
        if abs(value) < 1000:
            return f"{value:.1f}"
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_num(v)}" for k, v in sorted(value.items()))
    return str(value)


# per benchmark: the columns shown, as (header, row key)
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "gates": [
        ("scenario", "scenario"),
        ("scans/s", "scans_per_s"),
        ("p50 ms", "p50_ms"),
        ("p99 ms", "p99_ms"),
        ("of bare stack", "ratio_to_baseline"),
        ("decisions recorded", "decisions"),
    ],
    "bookings": [
        ("scenario", "scenario"),
        ("bookings/s", "bookings_per_s"),
        ("p50 ms", "p50_ms"),
        ("p99 ms", "p99_ms"),
        ("answers", "statuses"),
    ],
    "waitlist": [
        ("scenario", "scenario"),
        ("bookings/s", "bookings_per_s"),
        ("attempts/s", "attempts_per_s"),
        ("p50 ms", "p50_ms"),
        ("p99 ms", "p99_ms"),
        ("answers", "answers"),
    ],
    "webhooks": [
        ("webhook worker", "mode"),
        ("receiver", "receiver"),
        ("scans/s", "scans_per_s"),
        ("p50 ms", "p50_ms"),
        ("p99 ms", "p99_ms"),
        ("decisions recorded", "decisions"),
    ],
    "offline": [
        ("upload", "scenario"),
        ("scans/s", "scans_per_s"),
        ("of raw executemany", "ratio_to_baseline"),
        ("item statuses", "statuses"),
    ],
}

_DEFAULT = [("scenario", "scenario"), ("figure", "figure"), ("unit", "unit")]


def render(doc: dict[str, Any]) -> str:
    """One result as a Markdown table plus a line saying how it was measured."""
    name = str(doc["benchmark"])
    columns = COLUMNS.get(name, _DEFAULT)
    where = str(doc.get("_file", f"bench/results/{name}.json"))
    lines = [
        "| " + " | ".join(h for h, _ in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in doc["rows"]:
        lines.append("| " + " | ".join(_num(row.get(k)) for _, k in columns) + " |")
    machine = doc.get("machine", {})
    settings = doc.get("settings", {})
    checks = "decision-mix checks passed" if doc.get("checks_passed") else "CHECKS FAILED"
    lines.append("")
    lines.append(
        f"`{where}`: {doc.get('measures', '')}. "
        f"{settings.get('durability', 'durability not recorded')}; "
        f"{machine.get('cpus', '?')} CPUs ({machine.get('cpu_model', '?')}), load at start "
        f"{_num(machine.get('load_average_at_start', [None])[0])}; "
        f"commit {machine.get('commit', '?')}, {doc.get('started_at', '?')}; {checks}."
    )
    return "\n".join(lines) + "\n"


def load(results: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Each result by its benchmark's name; a run kept for comparison in a sub-folder
    (``bench/results/before/gates.json``) as ``gates-before``."""
    out = {}
    for path in sorted(results.glob("*.json")) + sorted(results.glob("*/*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        key = str(doc["benchmark"])
        if path.parent != results:
            key += "-" + path.parent.name
            doc["_file"] = str(path.relative_to(results.parents[1]))
        out[key] = doc
    return out


def rewrite(text: str, docs: dict[str, dict[str, Any]]) -> str:
    """The document with every marked block regenerated (unknown names left alone)."""

    def block(m: re.Match[str]) -> str:
        doc = docs.get(m.group("name"))
        if doc is None:
            return m.group(0)
        return m.group("open") + render(doc) + m.group("close")

    return _BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="fail if a document is out of date")
    args = p.parse_args(argv)
    docs = load()
    stale = []
    for path in DOCUMENTS:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, docs)
        if new != text:
            if args.check:
                stale.append(str(path.relative_to(ROOT)))
            else:
                path.write_text(new, encoding="utf-8")
                print(f"updated {path.relative_to(ROOT)}")
    if stale:
        print("out of date with bench/results: " + ", ".join(stale), file=sys.stderr)
        print("run: python -m bench.report", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
