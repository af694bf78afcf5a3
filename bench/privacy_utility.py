"""Utility of the differentially private planner releases on the demo data (issue #16).

Runs ``onecode demo`` (default 1,500 travellers, 7 days) into an embedded PostgreSQL (or
``DATABASE_URL``, a scratch database), releases the closed days at the configured
epsilon (``ONECODE_DP_EPSILON``, default 4) and compares, per closed day:

- daily visitors per venue: released (noisy, rounded up to 0) against the true
  distinct travellers of the venue-day, and against the bounded truth (what the
  noise is added to: each traveller's first 3 venues of the day);
- region totals per day (the sum over the region's venues) the same way.

Prints median and 90th-percentile relative errors, the share of venue-days hidden by k.
``--repeats N`` releases N times afresh (fresh noise) and pools the errors.
Run from the repository root: ``PYTHONPATH=. python bench/privacy_utility.py``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import asyncpg

from onecode.demo import run as demo
from onecode.flows import privacy
from onecode.settings import Settings

TRUE_PER_VENUE_DAY = """
SELECT venue_id, local_hour::date AS day, count(DISTINCT traveller_id) AS visitors
  FROM flow_visit_hours GROUP BY 1, 2
"""
RELEASED = """
SELECT venue_id, local_day AS day, value FROM flow_releases WHERE indicator = 'visitors'
"""


def _rel(noisy: float, true: float) -> float:
    return abs(noisy - true) / true


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def measure(dsn: str, epsilon: float, k: int, repeats: int) -> None:
    params = privacy.Params(epsilon=epsilon)
    conn = await asyncpg.connect(dsn)
    try:
        true = {
            (r["venue_id"], r["day"]): int(r["visitors"])
            for r in await conn.fetch(TRUE_PER_VENUE_DAY)
        }
        days = sorted({d for _, d in true})
        venue_err: list[float] = []
        venue_err_bounded: list[float] = []
        region_err: list[float] = []
        hidden = shown = 0
        bounded: dict[tuple[object, object], int] = {}
        for _ in range(repeats):
            await conn.execute("DELETE FROM flow_releases")
            await conn.execute("DELETE FROM flow_release_days")
            released_days = await privacy.ensure_released(conn, days[0], days[-1], params)
            if not bounded:
                for day in released_days:
                    ids = [v["id"] for v in await conn.fetch("SELECT id FROM venues")]
                    rows = await conn.fetch(
                        privacy.Q()["flows_select_release_truth"],
                        day,
                        ids,
                        privacy.VENUES_PER_DAY,
                        privacy.ENTRIES_PER_VISIT,
                        privacy.TRIPS_PER_DAY,
                    )
                    for r in rows:
                        if r["indicator"] == "visitors":
                            bounded[(r["venue_id"], day)] = int(r["value"])
            noisy = {(r["venue_id"], r["day"]): int(r["value"]) for r in await conn.fetch(RELEASED)}
            for day in released_days:
                region_true = region_noisy = 0
                for (venue, d), t in true.items():
                    if d != day:
                        continue
                    n = noisy.get((venue, d), 0)
                    region_true += t
                    region_noisy += n
                    if t >= k:
                        venue_err.append(_rel(max(n, 0), t))
                        venue_err_bounded.append(_rel(max(n, 0), bounded.get((venue, d), 0) or t))
                    if max(n, 0) < k:
                        hidden += 1
                    else:
                        shown += 1
                if region_true:
                    region_err.append(_rel(max(region_noisy, 0), region_true))
        print(
            f"epsilon per traveller-day {params.total_epsilon():.2f}, k {k}, {repeats} release(s)"
        )
        print(f"closed days released: {len(released_days)} of {len(days)} with data")
        print(
            f"daily visitors per venue (venue-days with >= k true visitors, n={len(venue_err)}):"
            f" median relative error {statistics.median(venue_err):.1%},"
            f" p90 {_pct(venue_err, 0.9):.1%};"
            f" against the bounded truth {statistics.median(venue_err_bounded):.1%}"
        )
        print(
            f"daily region total (sum of its venues, n={len(region_err)}):"
            f" median relative error {statistics.median(region_err):.2%},"
            f" p90 {_pct(region_err, 0.9):.2%}"
        )
        print(f"venue-days shown {shown}, hidden below k {hidden}")
        print(
            f"95% noise on one venue-day's visitors: ±{privacy.ci95(params.scale('visitors'), 1)}"
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--travellers", type=int, default=1500)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--epsilon", type=float, default=float(os.environ.get("ONECODE_DP_EPSILON", 4.0))
    )
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="onecode-utility-"))
    dsn = os.environ.get("DATABASE_URL")
    embedded = None
    if dsn is None:
        from onecode.devdb import EmbeddedPostgres

        embedded = EmbeddedPostgres(base / "pg", cleanup="delete")
        dsn = embedded.start()
    try:
        settings = Settings(
            database_url=dsn, data_dir=base / "data", rate_limit=False, log_json=False
        )
        rc = demo.demo(
            argparse.Namespace(
                days=args.days, travellers=args.travellers, seed=11, url=None, quiet=True
            ),
            settings,
        )
        assert rc == 0, rc
        asyncio.run(measure(dsn, args.epsilon, settings.k_anonymity, args.repeats))
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
