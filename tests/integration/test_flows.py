"""Flow rollups on a hand-built dataset: every indicator equals a number known by hand,
the watermark never loses or double-counts a row, late uploads land in their hour."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg

from onecode.auth import ADMIN_ID, Kind, Principal
from onecode.flows import privacy, service
from onecode.flows.rollup import advance
from tests.conftest import World
from tests.support.flows_data import D, Dataset, at, build

ADMIN = Principal(kind=Kind.ADMIN, id=ADMIN_ID)
# the release pipeline with an epsilon so large that OpenDP's noise is 0: the arithmetic
EXACT = service.Privacy(1, privacy.Params(epsilon=1e9))
EXACT_K10 = service.Privacy(10, privacy.Params(epsilon=1e9))
TABLES = ("flow_visit_hours", "flow_occupancy_hours", "flow_dwell", "flow_trips")


async def _setup(conn: asyncpg.Connection, world: World) -> Dataset:
    data = await build(conn, world)
    assert await advance(conn) > 0
    return data


async def _snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    for table in TABLES:
        rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")
        out[table] = [tuple(r.values()) for r in rows]
    return out


async def _scope(
    conn: asyncpg.Connection, region: str | None = None, venue: uuid.UUID | None = None
) -> service.Resolved:
    return await service.resolve_scope(conn, ADMIN, region, venue)


async def _hour_entries(conn: asyncpg.Connection, venue: uuid.UUID) -> dict[str, int]:
    """The visit-set rollup of one venue: entries per local hour (the rollup itself)."""
    rows = await conn.fetch(
        "SELECT to_char(local_hour, 'YYYY-MM-DD\"T\"HH24:00') AS h, sum(entries) AS n"
        " FROM flow_visit_hours WHERE venue_id = $1 GROUP BY 1",
        venue,
    )
    return {r["h"]: int(r["n"]) for r in rows}


async def test_arrivals_and_unique_visitors(conn: asyncpg.Connection, world: World) -> None:
    data = await _setup(conn, world)
    a = await _scope(conn, venue=data.venue_a)
    # the rollup: every accepted entry in its hour
    assert await _hour_entries(conn, data.venue_a) == {
        "2026-05-04T09:00": 12,
        "2026-05-04T10:00": 9,
        "2026-05-04T14:00": 15,
        "2026-05-04T19:00": 15,
    }
    # released (noise-free here): hour grain counts each traveller once, in the hour of
    # their first entry of the day at the venue (G3's 19:00 re-entry is not an arrival)
    hourly = await service.arrivals(conn, a, D, D, "hour", 1, p=EXACT)
    got = {r.bucket: (r.visits, r.visitors) for r in hourly.rows if r.visits}
    assert got == {
        "2026-05-04T09:00": (12, 12),
        "2026-05-04T10:00": (9, 9),
        "2026-05-04T14:00": (15, 15),
    }
    assert len(hourly.rows) == 24
    assert (hourly.total_visits, hourly.total_visitors) == (36, 36)
    assert hourly.window.noise is not None and hourly.window.noise.released_through == D
    region = await _scope(conn, region="CN-GZ")
    daily = await service.arrivals(conn, region, D, D + timedelta(days=1), "day", 1, p=EXACT)
    assert [(r.bucket, r.visits, r.visitors) for r in daily.rows] == [
        # visits: A 12 + 9 + 2 x 15, C 12 entries and 9 check-ins; visitors are
        # traveller-venue-days (A 36, C 21), the unit of the release
        ("2026-05-04", 72, 57),
        ("2026-05-05", 0, 0),  # B is in Yunnan
    ]


async def test_contributions_are_bounded_per_traveller_day(
    conn: asyncpg.Connection, world: World
) -> None:
    """One traveller-day counts at most VENUES_PER_DAY venues and ENTRIES_PER_VISIT
    entries at each: what bounds the sensitivity the noise is scaled to."""
    data = await _setup(conn, world)
    x = await world.venue("CN-GZ", "Fourth venue", requires_booking=False)
    gate_x = await world.post(f"/v1/admin/venues/{x['id']}/gates", {"name": "gate x"})
    t = data.g3[0]
    for i in range(5):  # five more entries at A on D: still 2 count
        await data.scan(conn, t, "a", "in", at(D, 20, i))
    for venue in ("c", "b", "a"):  # G1[0] again at C and A (+1 entry each), then B
        await data.scan(conn, data.g1[0], venue, "in", at(D, 21, 0))
    await conn.execute(  # and a fourth venue of the day: not counted at all
        "INSERT INTO scans (gate_id, scan_id, venue_id, traveller_id, direction, decision,"
        " reason, party_size, device_time) VALUES ($1, gen_random_uuid(), $2, $3, 'in',"
        " 'accept', 'ok', 1, $4)",
        uuid.UUID(gate_x["id"]),
        uuid.UUID(x["id"]),
        data.g1[0],
        at(D, 22, 0),
    )
    await advance(conn)
    region = await _scope(conn, region="CN-GZ")
    daily = await service.arrivals(conn, region, D, D, "day", 1, p=EXACT)
    assert [(r.visits, r.visitors) for r in daily.rows] == [(74, 57)]
    yunnan = await _scope(conn, region="CN-YN")
    rows = (await service.arrivals(conn, yunnan, D, D, "day", 1, p=EXACT)).rows
    assert [(r.visits, r.visitors) for r in rows] == [(1, 1)]
    fourth = await _scope(conn, venue=uuid.UUID(x["id"]))
    rows = (await service.arrivals(conn, fourth, D, D, "day", 1, p=EXACT)).rows
    assert [(r.visits, r.visitors) for r in rows] == [(0, 0)]


async def test_small_cell_is_suppressed_as_a_second_layer(
    conn: asyncpg.Connection, world: World
) -> None:
    data = await _setup(conn, world)
    a = await _scope(conn, venue=data.venue_a)
    hourly = await service.arrivals(conn, a, D, D, "hour", 10, p=EXACT_K10)
    cells = {r.bucket[11:13]: r for r in hourly.rows}
    assert cells["10"].suppressed and cells["10"].visits is None and cells["10"].visitors is None
    assert (cells["09"].visits, cells["14"].visits, cells["11"].visits) == (12, 15, 0)
    # what protects the 9 is the noise (tests/privacy), not this layer: without noise
    # total - visible gives it back, which is why the release is never noise-free
    assert hourly.total_visits == 36


def test_hide_cells_rule() -> None:
    assert service.hide_cells([12, 9, 15], [12, 9, 15], 10, total=True) == (
        [True, True, False],
        False,
    )
    assert service.hide_cells([12, 9, 15], [12, 9, 15], 10, total=False) == (
        [False, True, False],
        False,
    )
    assert service.hide_cells([3, 4, 20], [3, 4, 20], 10, total=True) == (
        [True, True, False],
        False,
    )
    # one hidden cell and nothing to hide beside it: the total goes instead
    assert service.hide_cells([9, 0], [9, 0], 10, total=True) == ([True, False], True)


async def test_od_dwell_origins_heatmap(conn: asyncpg.Connection, world: World) -> None:
    data = await _setup(conn, world)
    region = await _scope(conn, region="CN-GZ")
    od = await service.od(conn, region, D, D, 1, p=EXACT)
    links = {(link.from_, link.to): link.trips for link in od.links}
    assert links == {(data.venue_a, data.venue_c): 12, (data.venue_c, data.venue_a): 9}
    assert od.total_trips == 21
    assert od.window.noise is not None and od.window.noise.totals_add_up  # the links shown
    assert {n.id for n in od.nodes} == {data.venue_a, data.venue_c}
    od10 = await service.od(conn, region, D, D, 10, p=EXACT_K10)
    # a link below k is left out, not named
    assert [(link.from_, link.to, link.trips) for link in od10.links] == [
        (data.venue_a, data.venue_c, 12)
    ]
    assert od10.total_trips == 12

    a = await _scope(conn, venue=data.venue_a)
    dwell = await service.dwell(conn, a, D, D, 1, p=EXACT)
    # each traveller's first in/out pair of the day at the venue
    assert [(b.label, b.visits) for b in dwell.bins] == [
        ("0-30", 9),
        ("30-60", 0),
        ("60-120", 12),
        ("120-240", 0),
        ("240-480", 15),
        ("480+", 0),
    ]
    assert dwell.total_visits == 36
    # C has entries without exits: no dwell is invented
    c = await _scope(conn, venue=data.venue_c)
    assert (await service.dwell(conn, c, D, D, 1, p=EXACT)).total_visits == 0

    origins = await service.origins(conn, region, D, D, 1, p=EXACT)
    assert [(o.home_region, o.visitors) for o in origins.rows] == [
        ("CN-BJ", 24),
        ("CN-SH", 18),
        ("unknown", 15),
        ("other", 0),
    ]
    assert origins.total_visitors == 57
    o10 = await service.origins(conn, a, D, D, 10, p=EXACT_K10)
    # CN-SH (9 at A) is below k: not named, inside "other"
    assert [(o.home_region, o.visitors, o.suppressed) for o in o10.rows] == [
        ("unknown", 15, False),
        ("CN-BJ", 12, False),
        ("other", None, True),
    ]

    heat = await service.heatmap(conn, a, D, D, 1, p=EXACT)
    assert len(heat.cells) == 168
    nonzero = {(h.weekday, h.hour): h.visits for h in heat.cells if h.visits}
    assert nonzero == {(1, 9): 12, (1, 10): 9, (1, 14): 15}
    # weekdays the range does not cover have no number at all
    assert all(h.visits is None for h in heat.cells if h.weekday != 1)


async def test_occupancy_levels(conn: asyncpg.Connection, world: World) -> None:
    data = await _setup(conn, world)
    occ = await service.occupancy(conn, ADMIN, data.venue_a, D, 10, p=EXACT_K10)
    by_hour = {h.hour: h for h in occ.hours}
    # levels from the people inside (what anyone saw live), never the count itself
    assert [(h.hour, h.level) for h in occ.hours if h.level != "green"] == [
        (14, "orange"),
        (15, "orange"),
        (16, "orange"),
        (17, "orange"),
    ]
    assert all(h.inside is None and h.load is None and h.exits is None for h in occ.hours)
    # entries: the released arrivals (travellers), 9 at 10h is below k
    assert (by_hour[9].entries, by_hour[14].entries, by_hour[19].entries) == (12, 15, 0)
    assert by_hour[10].entries is None and by_hour[10].suppressed
    assert (occ.peak_inside, occ.peak_hour, occ.daily_entries) == (None, 14, 36)
    assert occ.thresholds == {"yellow": 80, "orange": 90, "red": 95}
    assert occ.noise is not None and occ.noise.released_through == D


async def test_bookings_and_feedback(conn: asyncpg.Connection, world: World) -> None:
    data = await _setup(conn, world)
    a = await _scope(conn, venue=data.venue_a)
    b = await service.bookings(conn, a, D, D, 10)
    row = b.venues[0]
    assert (row.slots, row.capacity, row.bookings, row.used, row.no_show, row.cancelled) == (
        1,
        50,
        21,
        15,
        5,
        1,
    )
    assert row.no_show_rate == 0.25 and b.no_show_rate == 0.25
    assert row.places_booked == 20 and row.fill_rate == 0.4
    leads = {bin_.label: (bin_.bookings, bin_.suppressed) for bin_ in b.lead_time}
    assert leads["0-1"] == (None, True)  # 9 travellers
    assert leads["2-4"] == (None, True)  # complementary
    assert b.total_bookings == 21
    b1 = await service.bookings(conn, a, D, D, 1)
    assert {x.label: x.bookings for x in b1.lead_time}["2-4"] == 12

    f = await service.feedback(conn, a, D, D, 1)
    assert [(r.rating, r.reviews) for r in f.ratings] == [(1, 0), (2, 0), (3, 0), (4, 5), (5, 10)]
    assert f.total_reviews == 15 and f.rating_mean == round((50 + 20) / 15, 2)
    assert (f.complaints, f.answered) == (10, 8)
    assert (f.median_hours_to_answer, f.mean_hours_to_answer, f.answer_rating_mean) == (
        3.0,
        3.0,
        4.5,
    )
    f10 = await service.feedback(conn, a, D, D, 10)
    assert [r.suppressed for r in f10.ratings] == [False, False, False, True, True]
    assert f10.complaints == 10  # ten distinct complainants: published


async def test_advance_twice_changes_nothing(conn: asyncpg.Connection, world: World) -> None:
    await _setup(conn, world)
    before = await _snapshot(conn)
    assert await advance(conn) == 0
    assert await _snapshot(conn) == before


async def test_late_offline_upload_lands_in_its_hour(
    conn: asyncpg.Connection, world: World
) -> None:
    data = await _setup(conn, world)
    t = data.g2[0]
    # uploaded after the advance, scanned at 16:30 on D and 17:10 out
    await data.scan(conn, t, "a", "in", at(D, 16, 30), offline=True)
    await data.scan(conn, t, "a", "out", at(D, 17, 10), offline=True)
    assert "2026-05-04T16:00" not in await _hour_entries(conn, data.venue_a)
    assert await advance(conn) == 2
    assert (await _hour_entries(conn, data.venue_a))["2026-05-04T16:00"] == 1
    dwell_sql = (
        "SELECT minutes FROM flow_dwell WHERE traveller_id = $1 AND venue_id = $2 ORDER BY entry_at"
    )
    assert [r[0] for r in await conn.fetch(dwell_sql, t, data.venue_a)] == [20, 40]
    # a late in before an earlier-recorded out re-pairs: G1[0] gets an in at 09:50
    await data.scan(conn, data.g1[0], "a", "in", at(D, 9, 50), offline=True)
    await advance(conn)
    assert [r[0] for r in await conn.fetch(dwell_sql, data.g1[0], data.venue_a)] == [25]


async def test_a_released_day_is_final(conn: asyncpg.Connection, world: World) -> None:
    """Once released, a day's numbers never change: a later upload cannot be told apart
    by asking again (the noise would otherwise be the same and the difference exact)."""
    data = await _setup(conn, world)
    a = await _scope(conn, venue=data.venue_a)
    before = await service.arrivals(conn, a, D, D, "day", 1, p=EXACT)
    for t in data.g3[:3]:
        await data.scan(conn, t, "a", "in", at(D, 21, 0), offline=True)
    await advance(conn)
    after = await service.arrivals(conn, a, D, D, "day", 1, p=EXACT)
    assert after.rows == before.rows and after.total_visits == before.total_visits


async def test_erasure_keeps_origin_history(conn: asyncpg.Connection, world: World) -> None:
    data = await _setup(conn, world)
    await conn.execute(
        "UPDATE travellers SET home_region = NULL, display_name = NULL, erased_at = now()"
        " WHERE id = ANY($1::uuid[])",
        data.g1,
    )
    for t in data.g1:
        await data.scan(conn, t, "a", "in", at(D, 21, 0))
    await advance(conn)
    region = await _scope(conn, region="CN-GZ")
    origins = await service.origins(conn, region, D, D, 1, p=EXACT)
    assert {(o.home_region, o.visitors) for o in origins.rows} == {
        ("CN-BJ", 24),
        ("CN-SH", 18),
        ("unknown", 15),
        ("other", 0),
    }


async def test_in_flight_transaction_is_not_skipped(
    db_url: str, conn: asyncpg.Connection, world: World
) -> None:
    """A row with a lower seq that commits after a higher one is still consumed once."""
    data = await build(conn, world)
    await advance(conn)
    slow = await asyncpg.connect(db_url)
    try:
        tx = slow.transaction()
        await tx.start()
        t_slow, t_fast = data.g3[0], data.g3[1]
        await data.scan(slow, t_slow, "a", "in", at(D, 22, 0))  # lower seq, not committed
        await data.scan(conn, t_fast, "a", "in", at(D, 22, 5))  # higher seq, committed
        seqs = await conn.fetch("SELECT seq FROM scans ORDER BY seq DESC LIMIT 1")
        assert seqs  # the committed row's seq is above the in-flight one's
        consumed_while_open = await advance(conn)
        await tx.commit()
        consumed_after = await advance(conn)
        assert consumed_while_open == 0  # held back behind the open transaction
        assert consumed_after == 2
        assert await advance(conn) == 0
    finally:
        await slow.close()
    assert (await _hour_entries(conn, data.venue_a))["2026-05-04T22:00"] == 2


async def test_concurrent_advances_do_not_double_count(
    db_url: str, conn: asyncpg.Connection, world: World
) -> None:
    data = await build(conn, world)
    expected_rows = await conn.fetchval("SELECT count(*) FROM scans") + await conn.fetchval(
        "SELECT count(*) FROM checkins"
    )
    conns = [await asyncpg.connect(db_url) for _ in range(8)]
    try:
        writers = [
            data.scan(c, data.g3[i], "a", "in", at(D, 23, i)) for i, c in enumerate(conns[:4])
        ]
        advances = [advance(c) for c in conns[4:]]
        results = await asyncio.gather(*writers, *advances, *[advance(conn)])
        consumed = sum(r for r in results if isinstance(r, int))
        consumed += await advance(conn)
        assert consumed == expected_rows + 4
        assert await advance(conns[0]) == 0
    finally:
        for c in conns:
            await c.close()
    cells = await _hour_entries(conn, data.venue_a)
    assert cells["2026-05-04T09:00"] == 12 and cells["2026-05-04T23:00"] == 4
    assert sum(cells.values()) == 51 + 4
    assert await conn.fetchval("SELECT rows_consumed FROM flow_watermark") == expected_rows + 4


async def test_planner_queries_never_read_raw_scans(conn: asyncpg.Connection, world: World) -> None:
    import re

    from onecode.sql import Q

    data = await _setup(conn, world)
    ids = [data.venue_a, data.venue_c]
    calls: dict[str, tuple[object, ...]] = {
        "flows_select_occupancy": (data.venue_a, D),
        "flows_select_release_truth": (D, ids, 3, 2, 3),
        "flows_select_release_venues": (D,),
        "flows_select_closed_days": (D, D, 0.0),
        "flows_select_released": (ids, D, D, "visits"),
        "flows_select_released_links": (ids, D, D, [str(i) for i in ids]),
        "flows_select_release_days": (D, D),
        "flows_select_release_start": (),
        "flows_select_release_ledger": (D, D),
    }
    for name in Q().names():
        if name.startswith("flows_select_") and name not in calls:
            if name in {
                "flows_select_watermark",
                "flows_select_region_path",
                "flows_select_venue_path",
                "flows_select_scope_venues",
                "flows_select_release_day",
            }:
                continue
            calls[name] = (ids, D, D)
    assert len(calls) >= 13  # every flows_select_ query is planned (new ones too)
    raw = re.compile(r"\bon (scans|checkins)\b")
    for name, args in calls.items():
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + Q()[name], *args))
        assert not raw.search(plan), (name, plan)


async def test_loop_skips_while_another_advance_runs(
    db_url: str, conn: asyncpg.Connection, world: World
) -> None:
    await build(conn, world)
    holder = await asyncpg.connect(db_url)
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT pg_advisory_xact_lock(7306916064829212753)")
        assert await advance(conn, wait=False) == 0  # busy: skipped, nothing lost
        waiting = asyncio.create_task(advance(conn))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # a waiting advance queues behind the lock
        await tx.rollback()
        assert await waiting > 0
    finally:
        await holder.close()
    assert await advance(conn, wait=False) == 0
    assert await conn.fetchval("SELECT sum(entries) FROM flow_visit_hours") == 51 + 12 + 9 + 11
