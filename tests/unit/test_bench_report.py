"""The README's benchmark tables are generated from bench/results/*.json, never typed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench import report

SAMPLE: dict[str, Any] = {
    "benchmark": "gates",
    "measures": "POST /v1/gate/scans",
    "started_at": "2026-12-03T17:00:00+00:00",
    "machine": {"cpus": 2, "cpu_model": "x", "load_average_at_start": [0.5], "commit": "abc"},
    "settings": {"durability": "durable commits (fsync on, synchronous_commit on)"},
    "rows": [
        {
            "scenario": "c=64, 64 gates",
            "scans_per_s": 1277.4,
            "p50_ms": 41.7,
            "p99_ms": 190.6,
            "ratio_to_baseline": 0.512,
            "decisions": {"accept/ok": 3928},
        }
    ],
    "checks_passed": True,
}


def test_a_table_shows_the_measured_figures_and_how_they_were_measured() -> None:
    table = report.render(SAMPLE)
    assert "| c=64, 64 gates | 1,277 | 41.7 | 190.6 | 0.51 | accept/ok 3,928 |" in table
    assert "durable commits" in table and "checks passed" in table
    failed = report.render({**SAMPLE, "checks_passed": False})
    assert "CHECKS FAILED" in failed


def test_only_marked_blocks_are_rewritten() -> None:
    text = (
        "intro 19,011 scans/s\n<!-- bench:gates -->\nold typed figure\n<!-- /bench:gates -->\n"
        "<!-- bench:unknown -->\nkept\n<!-- /bench:unknown -->\n"
    )
    out = report.rewrite(text, {"gates": SAMPLE})
    assert "old typed figure" not in out and "1,277" in out
    assert out.startswith("intro 19,011 scans/s\n") and "kept" in out
    assert report.rewrite(out, {"gates": SAMPLE}) == out


def test_the_documents_match_the_committed_results() -> None:
    docs = report.load()
    for path in report.DOCUMENTS:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        names = re.findall(r"<!-- bench:([a-z0-9_-]+) -->", text)
        missing = [n for n in names if n not in docs]
        assert not missing, f"{path.name} shows benchmarks with no result file: {missing}"
    assert report.main(["--check"]) == 0, "run: python -m bench.report"


def test_a_run_kept_for_comparison_has_its_own_name_and_file(tmp_path: Path) -> None:
    results = tmp_path / "bench" / "results"
    (results / "before").mkdir(parents=True)
    (results / "gates.json").write_text(json.dumps(SAMPLE))
    older = {**SAMPLE, "rows": [{**SAMPLE["rows"][0], "scans_per_s": 611.0}]}
    (results / "before" / "gates.json").write_text(json.dumps(older))
    docs = report.load(results)
    assert set(docs) == {"gates", "gates-before"}
    table = report.render(docs["gates-before"])
    assert "| c=64, 64 gates | 611.0 |" in table
    assert "`bench/results/before/gates.json`" in table
    assert "`bench/results/gates.json`" in report.render(docs["gates"])
