"""Differentially private releases of the planner indicators (issue #16, docs/flows.md).

The design is *fixed releases*: each closed local day is released once, for every
venue at once. Its cells (per venue: visitors, visits, arrivals by hour, dwell bins,
home regions, trips to each other venue of the same top region) get discrete Laplace
noise drawn by OpenDP and are stored in ``flow_releases``. A planner answer is a sum
of stored cells, post-processed (rounded up to 0, small values hidden), so:

- asking again, or through CSV instead of JSON, gives the same numbers (the noise is
  stored, not drawn per request: averaging repeats removes nothing);
- two answers differ by a sum of whole noisy cells: subtracting overlapping ranges or
  a venue from its region leaves noise, not a person;
- no ledger is needed: the privacy loss of a traveller-day is fixed when its day is
  released, whatever is asked afterwards (post-processing costs nothing).

The unit is a traveller-day. One traveller's contribution to a day is bounded before
noise: their first ``VENUES_PER_DAY`` venues of the day count (later ones are dropped
from every cell), each once (``visits`` counts at most ``ENTRIES_PER_VISIT`` entries),
with their first dwell pair there, and at most ``TRIPS_PER_DAY`` trips between those
venues. The epsilon of each indicator is its share of ``Settings.dp_epsilon``; the
scale of its noise is sensitivity / epsilon; a day's total epsilon per traveller-day
is the sum over the indicators (basic composition), recorded with the release.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

import asyncpg
import msgspec
import opendp.prelude as dp

from onecode.sql import Q

dp.enable_features("contrib")

VENUES_PER_DAY = 3  # a traveller's first venues of a local day that count
ENTRIES_PER_VISIT = 2  # entries of one traveller at one venue in one day that count
TRIPS_PER_DAY = 3  # trips of one traveller in one day that count
DWELL_BINS = 6
CONFIDENCE = 0.95
_LOCK = 7306916064829212754  # pg_advisory_xact_lock(_LOCK, day) around a day's release

# share of the total epsilon per traveller-day, by indicator
SHARES: dict[str, float] = {
    "visitors": 0.25,
    "visits": 0.15,
    "arrivals": 0.20,
    "dwell": 0.10,
    "origins": 0.15,
    "od": 0.15,
}

# Home regions released one by one: a public, fixed list (ISO 3166-2:CN provinces, the
# special administrative regions and Taiwan as travellers give them), "abroad" for any
# other country, "unknown" for none. A traveller's own free choice never adds a category.
PROVINCES: dict[str, str] = {
    "BJ": "11", "TJ": "12", "HE": "13", "SX": "14", "NM": "15", "LN": "21", "JL": "22",
    "HL": "23", "SH": "31", "JS": "32", "ZJ": "33", "AH": "34", "FJ": "35", "JX": "36",
    "SD": "37", "HA": "41", "HB": "42", "HN": "43", "GD": "44", "GX": "45", "HI": "46",
    "CQ": "50", "SC": "51", "GZ": "52", "YN": "53", "XZ": "54", "SN": "61", "GS": "62",
    "QH": "63", "NX": "64", "XJ": "65",
}  # fmt: skip
_NUMERIC = {num: f"CN-{letters}" for letters, num in PROVINCES.items()}
_SARS = {"CN-HK": "HK", "CN-MO": "MO", "CN-TW": "TW", "CN-71": "TW", "CN-91": "HK", "CN-92": "MO"}
ORIGINS: tuple[str, ...] = (
    *(f"CN-{letters}" for letters in PROVINCES),
    "HK",
    "MO",
    "TW",
    "abroad",
    "unknown",
)


def origin_label(raw: str | None) -> str:
    """The released category of a home region as a traveller gave it."""
    if not raw or raw == "CN":
        return "unknown"
    if raw in _SARS:
        return _SARS[raw]
    if raw in ("HK", "MO", "TW"):
        return raw
    if raw.startswith("CN-"):
        tail = raw[3:]
        if tail in PROVINCES:
            return raw
        return _NUMERIC.get(tail, "unknown")
    return "abroad"


@dataclass(frozen=True, slots=True)
class Params:
    """The privacy parameters of a release (from settings)."""

    epsilon: float = 4.0  # per traveller-day, all indicators together
    delay_hours: float = 3.0  # a day is released this long after it ends everywhere

    def sensitivity(self, indicator: str) -> int:
        """How much one traveller-day can change the L1 norm of the indicator's cells."""
        if indicator == "visits":
            return VENUES_PER_DAY * ENTRIES_PER_VISIT
        if indicator == "od":
            return TRIPS_PER_DAY
        return VENUES_PER_DAY

    def scale(self, indicator: str) -> float:
        return self.sensitivity(indicator) / (self.epsilon * SHARES[indicator])

    def describe(self) -> dict[str, Any]:
        per = {}
        for name in SHARES:
            scale = self.scale(name)
            per[name] = {
                "sensitivity": self.sensitivity(name),
                "scale": round(scale, 6),
                "epsilon": laplace(scale).map(self.sensitivity(name)),
                "ci95_one_cell": ci95(scale, 1),
            }
        return {
            "mechanism": "discrete Laplace (OpenDP make_laplace over integer vectors)",
            "unit": "traveller-day",
            "venues_per_day": VENUES_PER_DAY,
            "entries_per_visit": ENTRIES_PER_VISIT,
            "trips_per_day": TRIPS_PER_DAY,
            "indicators": per,
        }

    def total_epsilon(self) -> float:
        """Basic composition over the indicators, each epsilon from OpenDP's privacy map."""
        return float(sum(laplace(self.scale(n)).map(self.sensitivity(n)) for n in SHARES))


DEFAULT = Params()


@cache
def laplace(scale: float) -> Any:
    """OpenDP's discrete Laplace measurement on integer vectors with L1 distance."""
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    return dp.m.make_laplace(*space, scale=scale)


Noise = Callable[[list[int], float], list[int]]


def opendp_noise(values: list[int], scale: float) -> list[int]:
    """The production mechanism: OpenDP samples (from its own CSPRNG), nothing seeded."""
    if not values:
        return []
    return [int(v) for v in laplace(scale)(values)]


@cache
def _variance(scale: float) -> float:
    q = math.exp(-1.0 / scale)
    return 2.0 * q / (1.0 - q) ** 2


@cache
def interval(scale: float, cells: int, alpha: float = 1.0 - CONFIDENCE) -> int:
    """Half-width N with P(|noise| >= N) <= alpha for a sum of ``cells`` noisy cells of
    one scale: OpenDP's exact accuracy for one cell, a normal approximation for sums."""
    if cells <= 0 or scale < 1e-3:
        return 0
    if cells == 1:
        accuracy = float(dp.discrete_laplacian_scale_to_accuracy(scale, alpha))
        return int(accuracy) if math.isfinite(accuracy) else 0
    z = statistics.NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return math.ceil(z * math.sqrt(cells * _variance(scale)))


def ci95(scale: float, cells: int) -> int:
    """Half-width of the 95% interval of the noise on a sum of ``cells`` cells."""
    return interval(scale, cells)


def threshold(scale: float, cells: int, categories: int) -> int:
    """The least noisy count at which a category of a sparse breakdown (home regions,
    links) is named: a category with no traveller at all reaches it with probability
    at most 5% / ``categories`` (one-sided), so 5% of answers show any phantom."""
    return interval(scale, cells, 2.0 * (1.0 - CONFIDENCE) / max(categories, 1))


# --- the release ------------------------------------------------------------------


class ReleaseSummary(msgspec.Struct, frozen=True, kw_only=True):
    local_day: date
    venues: int
    cells: int
    epsilon: float


def _domains(venues: Sequence[asyncpg.Record]) -> dict[str, Callable[[asyncpg.Record], list[str]]]:
    by_root: dict[str, list[str]] = defaultdict(list)
    for v in venues:
        by_root[v["root"]].append(str(v["id"]))
    return {
        "visitors": lambda v: [""],
        "visits": lambda v: [""],
        "arrivals": lambda v: [f"{h:02d}" for h in range(24)],
        "dwell": lambda v: [str(i) for i in range(DWELL_BINS)],
        "origins": lambda v: list(ORIGINS),
        "od": lambda v: [o for o in by_root[v["root"]] if o != str(v["id"])],
    }


async def release_day(
    conn: asyncpg.Connection, day: date, params: Params, noise: Noise = opendp_noise
) -> ReleaseSummary | None:
    """Release one closed local day (every venue open by then); ``None`` if it already was.

    One transaction under an advisory lock per day: concurrent callers release it once.
    """
    async with conn.transaction():
        await conn.execute(Q()["flows_lock_release_day"], _LOCK, day.toordinal())
        if await conn.fetchval(Q()["flows_select_release_day"], day):
            return None
        venues = await conn.fetch(Q()["flows_select_release_venues"], day)
        truth: dict[tuple[str, str, str], int] = defaultdict(int)
        if venues:
            rows = await conn.fetch(
                Q()["flows_select_release_truth"],
                day,
                [v["id"] for v in venues],
                VENUES_PER_DAY,
                ENTRIES_PER_VISIT,
                TRIPS_PER_DAY,
            )
            for r in rows:
                bucket = r["bucket"]
                if r["indicator"] == "origins":
                    bucket = origin_label(bucket or None)
                truth[(str(r["venue_id"]), r["indicator"], bucket)] += int(r["value"])
        records: list[tuple[uuid.UUID, date, str, str, int]] = []
        domains = _domains(venues)
        for indicator, domain in domains.items():
            keys = [(v["id"], b) for v in venues for b in domain(v)]
            true = [truth.get((str(vid), indicator, b), 0) for vid, b in keys]
            noisy = noise(true, params.scale(indicator))
            records.extend(
                (vid, day, indicator, b, value) for (vid, b), value in zip(keys, noisy, strict=True)
            )
        if records:
            await conn.copy_records_to_table(
                "flow_releases",
                records=records,
                columns=["venue_id", "local_day", "indicator", "bucket", "value"],
            )
        epsilon = params.total_epsilon()
        await conn.execute(
            Q()["flows_insert_release_day"],
            day,
            epsilon,
            msgspec.json.encode(params.describe()).decode(),
        )
        return ReleaseSummary(
            local_day=day, venues=len(venues), cells=len(records), epsilon=epsilon
        )


async def ensure_released(
    conn: asyncpg.Connection,
    first: date,
    last: date,
    params: Params,
    noise: Noise = opendp_noise,
) -> list[date]:
    """Release the closed days of the range not released yet; return the released days."""
    out = []
    for row in await conn.fetch(
        Q()["flows_select_closed_days"], first, last, params.delay_hours * 3600.0
    ):
        if not row["released"]:
            await release_day(conn, row["local_day"], params, noise)
        out.append(row["local_day"])
    return out


async def release_due(conn: asyncpg.Connection, params: Params, *, limit: int = 31) -> int:
    """Release the closed days after the last released one (at most ``limit``), so a
    planner's first question about yesterday does not wait for the release."""
    start = await conn.fetchval(Q()["flows_select_release_start"])
    if start is None:
        return 0
    done = 0
    last = start + timedelta(days=limit - 1)
    for row in await conn.fetch(
        Q()["flows_select_closed_days"], start, last, params.delay_hours * 3600.0
    ):
        if not row["released"] and await release_day(conn, row["local_day"], params):
            done += 1
    return done
