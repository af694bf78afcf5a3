"""``onecode demo`` end to end: the command fills a region through the API, and the
planner API then tells the same story as the simulator's own count."""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.auth import hash_token
from onecode.demo import run as demo
from onecode.demo.data import ATTRACTIONS
from onecode.demo.plan import make_plan
from onecode.settings import Settings
from tests.conftest import bearer

NOW = datetime(2026, 5, 2, 7, 30, tzinfo=UTC)  # 15:30 in Guizhou, a Saturday


def test_plan_is_deterministic_and_true_to_life() -> None:
    a = make_plan(days=3, travellers=200, seed=7, now=NOW)
    b = make_plan(days=3, travellers=200, seed=7, now=NOW)
    c = make_plan(days=3, travellers=200, seed=8, now=NOW)
    assert a.visits == b.visits and a.homes == b.homes and a.bookings == b.bookings
    assert a.visits != c.visits
    assert a.days == [date(2026, 4, 30), date(2026, 5, 1), date(2026, 5, 2)]
    assert a.holiday == date(2026, 5, 1)  # no Saturday before today: the middle day
    per_day = Counter(v.day for v in a.visits)
    assert per_day[a.holiday] == max(per_day.values())  # the surge
    assert all(v.enter <= NOW for v in a.visits)  # nothing in the future
    assert all(v.leave is None or v.enter < v.leave <= NOW for v in a.visits)
    assert all(b.slot_start > NOW for b in a.bookings)  # no booking of a past slot
    # morning peak: more entries start between 8 and 11 than between 14 and 17 (local)
    hours = [(v.enter + timedelta(hours=8)).hour for v in a.visits]
    assert sum(8 <= h < 11 for h in hours) > 2 * sum(14 <= h < 17 for h in hours)
    # the busiest venue peaks near, not over, its instantaneous capacity
    assert set(a.capacity_instant) == {x.key for x in ATTRACTIONS}
    assert len({h for h in a.homes}) >= 8


def test_a_demo_started_at_night_simulates_days_that_have_happened() -> None:
    night = datetime(2026, 5, 1, 16, 30, tzinfo=UTC)  # 00:30 on 2 May in Guizhou
    plan = make_plan(days=2, travellers=200, seed=7, now=night)
    assert plan.days == [date(2026, 4, 30), date(2026, 5, 1)]
    per_day = Counter(v.day for v in plan.visits)
    assert all(per_day[d] > 20 for d in plan.days), per_day
    morning = make_plan(days=2, travellers=200, seed=7, now=NOW)
    assert morning.days[-1] == date(2026, 5, 2)


def _run_demo(settings: Settings, days: int, travellers: int) -> demo.Summary:
    summary, rc = _run_demo_rc(settings, days, travellers)
    assert rc == 0 and summary is not None
    return summary


def _run_demo_rc(settings: Settings, days: int, travellers: int) -> tuple[demo.Summary | None, int]:
    captured: list[demo.Summary] = []
    original = demo.print_summary

    def keep(s: demo.Summary, dashboard: str, rollups: str, out: object = None) -> None:
        captured.append(s)
        original(s, dashboard, rollups)

    demo.print_summary = keep
    try:
        args = argparse.Namespace(days=days, travellers=travellers, seed=11, url=None, quiet=True)
        rc = demo.demo(args, settings)
    finally:
        demo.print_summary = original
    return (captured[0] if captured else None), rc


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Days are released as soon as they end (no delay): the demo's yesterday is there."""
    return msgspec.structs.replace(settings, dp_release_delay_hours=0.0)


@pytest.fixture
def summary(settings: Settings) -> demo.Summary:
    return _run_demo(settings, days=2, travellers=60)


async def test_demo_then_planner_api_agree(
    summary: demo.Summary, client: AsyncTestClient[Litestar], conn: asyncpg.Connection
) -> None:
    s = summary
    assert s.venues == 12 and s.travellers > 40
    assert s.scan_results.get("rejected", 0) == 0, s.scan_results
    assert s.entries_recorded > 0
    assert s.planner_token.startswith("oc_planner_")
    planner = bearer(s.planner_token)
    window = {"region": "CN-GZ", "from": s.days[0], "to": s.days[-1]}

    r = await client.get("/v1/planner/arrivals", params={**window, "grain": "day"}, headers=planner)
    assert r.status_code == 200, r.text
    arrivals = r.json()
    # every accepted entry and check-in the simulator made is one visit, released with
    # noise (well within 3 x its 95% interval) once the day is over (this test releases
    # a day as soon as it ends; the demo's last day is today after 08:00 in Guizhou)
    noise = arrivals["window"]["noise"]
    released = noise["released_through"]
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert released == (s.days[-2] if s.days[-1] == today else s.days[-1])
    for row in arrivals["rows"]:
        day = row["bucket"]
        true = s.entries_by_day.get(day, 0) + s.checkins_by_day.get(day, 0)
        if day > released:
            assert row["visits"] is None and row["suppressed"]
        elif not row["suppressed"]:
            # at most 2 entries of a traveller at a venue in a day count (the bound)
            assert 0.8 * true - 3 * noise["ci95"]["visits"] <= row["visits"]
            assert row["visits"] <= true + 3 * noise["ci95"]["visits"]

    r = await client.get("/v1/planner/origins", params=window, headers=planner)
    assert r.status_code == 200, r.text
    origins = r.json()
    named = [row for row in origins["rows"] if row["home_region"] != "other"]
    # (with 60 travellers few regions, if any, stand above the noise)
    assert all(row["visitors"] >= 10 and not row["suppressed"] for row in named)
    # the rare home regions are there, folded into one unnamed row
    assert origins["rows"][-1]["home_region"] == "other"

    r = await client.get("/v1/planner/od", params=window, headers=planner)
    assert r.status_code == 200, r.text
    assert len(r.json()["nodes"]) >= 2

    # the same numbers straight from the facts (a cross-check, not the API under test)
    entries = await conn.fetchval(
        "SELECT count(*) FROM scans WHERE decision = 'accept' AND direction = 'in'"
    )
    checkins = await conn.fetchval("SELECT count(*) FROM checkins")
    assert entries == s.entries_recorded and checkins == s.checkins
    assert await conn.fetchval("SELECT count(*) FROM reviews") == s.reviews
    assert await conn.fetchval("SELECT count(*) FROM complaints") == s.complaints
    assert await conn.fetchval("SELECT count(*) FROM bookings") == s.bookings
    assert await conn.fetchval("SELECT count(*) FROM travellers") == s.travellers


def test_demo_on_a_fresh_database_mints_the_first_admin_token_once(
    settings: Settings, db_url: str
) -> None:
    fresh = msgspec.structs.replace(settings, admin_token=None)
    first, rc = _run_demo_rc(fresh, days=1, travellers=15)
    assert rc == 0 and first is not None
    assert first.admin_token and first.admin_token.startswith("oc_admin_")

    async def admin_hashes() -> list[bytes]:
        conn = await asyncpg.connect(db_url)
        try:
            rows = await conn.fetch("SELECT token_hash FROM api_tokens WHERE kind = 'admin'")
        finally:
            await conn.close()
        return [bytes(r["token_hash"]) for r in rows]

    # the one admin token of the database is the one printed: no hidden admin was left
    assert asyncio.run(admin_hashes()) == [hash_token(first.admin_token)]
    # a second run neither mints another admin nor fills the region twice
    again, rc = _run_demo_rc(fresh, days=1, travellers=15)
    assert rc == 1 and again is None
    again, rc = _run_demo_rc(msgspec.structs.replace(fresh, admin_token=first.admin_token), 1, 15)
    assert rc == 1 and again is None
    assert asyncio.run(admin_hashes()) == [hash_token(first.admin_token)]
