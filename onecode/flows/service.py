"""Planner indicators: scope, range, k-anonymity and the shaping of each answer.

Every count reaches a planner only when at least ``k`` distinct travellers stand
behind it. :func:`hide_cells` applies the rule to one breakdown: cells with
``0 < travellers < k`` are hidden, and when a total of the breakdown is published and
exactly one cell would be hidden, the smallest remaining non-zero cell is hidden too
(complementary suppression), or the total when no such cell exists, so a hidden cell
is never ``total - sum(visible)``. Empty cells (no traveller at all) are published as 0.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import msgspec

from onecode.auth import Kind, Principal
from onecode.crowd import THRESHOLDS, level_of
from onecode.errors import NotFound, Unprocessable
from onecode.flows import privacy
from onecode.flows.models import (
    Arrivals,
    ArrivalsRow,
    Bookings,
    BookingVenueRow,
    Dwell,
    DwellBin,
    Feedback,
    FeedbackVenueRow,
    Grain,
    HeatCell,
    Heatmap,
    LeadTimeBin,
    Noise,
    Occupancy,
    OccupancyHour,
    Od,
    OdLink,
    OdNode,
    OriginRow,
    Origins,
    PlannerVenue,
    PlannerVenues,
    RatingBin,
    Scope,
    Window,
)
from onecode.sql import Q

MAX_SPAN_DAYS = 366
DWELL_EDGES = (0, 30, 60, 120, 240, 480)
LEAD_EDGES = (0, 1, 2, 4, 8, 15)
# the one row that stands for every home region below k: never named
OTHER_ORIGIN = "other"


# --- rules -----------------------------------------------------------------------


def check_range(start: date | None, end: date | None) -> tuple[date, date]:
    """``from`` and ``to`` are required, ordered, and at most a leap year apart."""
    if start is None or end is None:
        raise Unprocessable("Both 'from' and 'to' dates are required.", "planner.bad_range")
    if end < start:
        raise Unprocessable("'to' is before 'from'.", "planner.bad_range")
    if (end - start).days + 1 > MAX_SPAN_DAYS:
        raise Unprocessable(f"The range spans more than {MAX_SPAN_DAYS} days.", "planner.bad_range")
    return start, end


def hide_cells(
    travellers: Sequence[int], values: Sequence[int], k: int, *, total: bool
) -> tuple[list[bool], bool]:
    """Which cells of one breakdown to hide, and whether its published total must go."""
    hidden = [0 < t < k for t in travellers]
    total_hidden = False
    if total and sum(hidden) == 1:
        spare = [i for i, h in enumerate(hidden) if not h and values[i] > 0]
        if spare:
            hidden[min(spare, key=lambda i: (values[i], travellers[i], i))] = True
        else:
            total_hidden = True
    return hidden, total_hidden


def _ratio(num: int | float | None, den: int | float | None) -> float | None:
    if num is None or not den:
        return None
    return round(float(num) / float(den), 4)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


# --- scope -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """A scope the caller may see, with its venues (ids stay server-side in order)."""

    scope: Scope
    venues: list[asyncpg.Record]

    @property
    def venue_ids(self) -> list[uuid.UUID]:
        return [v["id"] for v in self.venues]


def _visible(principal: Principal, path: Sequence[str] | None) -> bool:
    if principal.kind is Kind.ADMIN:
        return True
    return bool(path) and not principal.region_codes.isdisjoint(path or ())


async def resolve_scope(
    conn: asyncpg.Connection,
    principal: Principal,
    region: str | None,
    venue_id: uuid.UUID | None,
) -> Resolved:
    """A region (with the regions below) or a venue; outside the caller's regions is 404."""
    if region is not None and venue_id is not None:
        raise Unprocessable("Give either 'region' or 'venue', not both.", "planner.bad_scope")
    if region is None and venue_id is None:
        if principal.kind is Kind.PLANNER and len(principal.region_codes) == 1:
            region = next(iter(principal.region_codes))
        else:
            raise Unprocessable("A scope is required: 'region' or 'venue'.", "planner.bad_scope")
    if venue_id is not None:
        row = await conn.fetchrow(Q()["flows_select_venue_path"], venue_id)
        if row is None or not _visible(principal, row["path"]):
            raise NotFound("No such venue.", "venues.not_found")
        venues = await conn.fetch(Q()["flows_select_scope_venues"], None, venue_id)
        scope = Scope(kind="venue", venue_id=venue_id, name=row["name"], venues=len(venues))
        return Resolved(scope, list(venues))
    row = await conn.fetchrow(Q()["flows_select_region_path"], region)
    if row is None or row["name"] is None or not _visible(principal, row["path"]):
        raise NotFound("No such region.", "regions.not_found")
    venues = await conn.fetch(Q()["flows_select_scope_venues"], region, None)
    scope = Scope(kind="region", region=region, name=row["name"], venues=len(venues))
    return Resolved(scope, list(venues))


async def _window(
    conn: asyncpg.Connection,
    resolved: Resolved,
    start: date,
    end: date,
    k: int,
    noise: Noise | None = None,
) -> Window:
    mark = await conn.fetchrow(Q()["flows_select_watermark"])
    as_of = mark["advanced_at"].isoformat() if mark and mark["advanced_at"] else None
    return Window(scope=resolved.scope, from_=start, to=end, k=k, as_of=as_of, noise=noise)


# --- released cells ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Privacy:
    """What a planner answer is released under: k, the DP parameters, the mechanism."""

    k: int
    params: privacy.Params = privacy.DEFAULT
    mechanism: privacy.Noise = privacy.opendp_noise


Cells = dict[tuple[date, str], tuple[int, int]]  # (day, bucket) -> (noisy sum, cells summed)


async def _released(
    conn: asyncpg.Connection, start: date, end: date, p: Privacy
) -> tuple[set[date], float | None]:
    """Release what is due in the range; the released days and their epsilon."""
    await privacy.ensure_released(conn, start, end, p.params, p.mechanism)
    rows = await conn.fetch(Q()["flows_select_release_days"], start, end)
    days = {r["local_day"] for r in rows}
    return days, max((float(r["epsilon"]) for r in rows), default=None)


async def _cells(
    conn: asyncpg.Connection, resolved: Resolved, start: date, end: date, indicator: str
) -> Cells:
    rows = await conn.fetch(Q()["flows_select_released"], resolved.venue_ids, start, end, indicator)
    return {(r["local_day"], r["bucket"]): (int(r["value"]), int(r["cells"])) for r in rows}


def _publish(raw: int, k: int) -> int | None:
    """A noisy sum as published: rounded up to 0, hidden below k (a second layer)."""
    value = max(raw, 0)
    return None if 0 < value < k else value


def _noise(
    p: Privacy,
    epsilon: float | None,
    days: set[date],
    *,
    totals_add_up: bool = False,
    **fields: tuple[str, int],
) -> Noise:
    """The noise statement of an answer: per field, (indicator, cells summed) -> ±95%."""
    return Noise(
        totals_add_up=totals_add_up,
        epsilon=None if epsilon is None else round(epsilon, 4),
        released_through=max(days) if days else None,
        ci95={
            name: privacy.ci95(p.params.scale(indicator), cells)
            for name, (indicator, cells) in fields.items()
        },
    )


# --- indicators --------------------------------------------------------------------


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


async def arrivals(
    conn: asyncpg.Connection,
    resolved: Resolved,
    start: date,
    end: date,
    grain: Grain,
    k: int,
    *,
    p: Privacy | None = None,
) -> Arrivals:
    p = p or Privacy(k)
    days, epsilon = await _released(conn, start, end, p)
    n = len(resolved.venue_ids)
    rows: list[ArrivalsRow] = []
    raw_visits = raw_visitors = 0
    if grain == "day":
        visits = await _cells(conn, resolved, start, end, "visits")
        people = await _cells(conn, resolved, start, end, "visitors")
        for day in _days(start, end):
            v, pv = visits.get((day, ""), (0, 0))[0], people.get((day, ""), (0, 0))[0]
            if day in days:
                raw_visits, raw_visitors = raw_visits + v, raw_visitors + pv
            rows.append(_arrivals_row(day.isoformat(), v, pv, day in days, k))
        noise = _noise(
            p,
            epsilon,
            days,
            visits=("visits", n),
            visitors=("visitors", n),
            total_visits=("visits", n * len(days)),
            total_visitors=("visitors", n * len(days)),
        )
    else:
        # hour grain: a traveller's arrival (first entry of the day) at each venue
        hours = await _cells(conn, resolved, start, end, "arrivals")
        for day in _days(start, end):
            for hour in range(24):
                v = hours.get((day, f"{hour:02d}"), (0, 0))[0]
                if day in days:
                    raw_visits, raw_visitors = raw_visits + v, raw_visitors + v
                label = f"{day.isoformat()}T{hour:02d}:00"
                rows.append(_arrivals_row(label, v, v, day in days, k))
        cells = n * 24 * len(days)
        noise = _noise(
            p,
            epsilon,
            days,
            visits=("arrivals", n),
            visitors=("arrivals", n),
            total_visits=("arrivals", cells),
            total_visitors=("arrivals", cells),
        )
    total_visits, total_visitors = _publish(raw_visits, k), _publish(raw_visitors, k)
    total_hidden = total_visits is None or total_visitors is None
    return Arrivals(
        window=await _window(conn, resolved, start, end, k, noise),
        grain=grain,
        rows=rows,
        total_visits=None if total_hidden else total_visits,
        total_visitors=None if total_hidden else total_visitors,
        total_suppressed=total_hidden,
    )


def _arrivals_row(label: str, visits: int, visitors: int, released: bool, k: int) -> ArrivalsRow:
    v = _publish(visits, k) if released else None
    pv = _publish(visitors, k) if released else None
    hidden = v is None or pv is None
    return ArrivalsRow(
        bucket=label,
        visits=None if hidden else v,
        visitors=None if hidden else pv,
        suppressed=hidden,
    )


async def occupancy(
    conn: asyncpg.Connection,
    principal: Principal,
    venue_id: uuid.UUID,
    day: date,
    k: int,
    *,
    p: Privacy | None = None,
) -> Occupancy:
    """A venue's day for planners: the crowd level at the end of each hour (what anyone
    saw live: not a count), and arrivals per hour and the day's visitors from the
    differentially private release (``None`` until the day is released)."""
    p = p or Privacy(k)
    venue = await conn.fetchrow(Q()["flows_select_venue_path"], venue_id)
    if venue is None or not _visible(principal, venue["path"]):
        raise NotFound("No such venue.", "venues.not_found")
    rows = await conn.fetch(Q()["flows_select_occupancy"], venue_id, day)
    cap = int(venue["capacity_instant"])
    days, epsilon = await _released(conn, day, day, p)
    released = day in days
    one = Resolved(Scope(kind="venue", venue_id=venue_id, name=venue["name"], venues=1), [venue])
    arrivals_cells = await _cells(conn, one, day, day, "arrivals") if released else {}
    visitors_cells = await _cells(conn, one, day, day, "visitors") if released else {}
    hours: list[OccupancyHour] = []
    inside = 0
    peak: tuple[int, int] | None = None
    order = {"green": 0, "yellow": 1, "orange": 2, "red": 3}
    for r in rows:
        inside = max(inside + int(r["people_in"]) - int(r["people_out"]), 0)
        level = level_of(inside / cap)
        if peak is None or order[level] > peak[1]:
            peak = (int(r["hour"]), order[level])
        entries = (
            _publish(arrivals_cells.get((day, f"{int(r['hour']):02d}"), (0, 0))[0], k)
            if released
            else None
        )
        hours.append(
            OccupancyHour(
                hour=r["hour"],
                entries=entries,
                exits=None,
                inside=None,
                load=None,
                level=level,
                suppressed=entries is None,
            )
        )
    daily = _publish(visitors_cells.get((day, ""), (0, 0))[0], k) if released else None
    mark = await conn.fetchrow(Q()["flows_select_watermark"])
    return Occupancy(
        venue_id=venue_id,
        name=venue["name"],
        date=day,
        timezone=venue["timezone"],
        capacity_instant=cap,
        capacity_daily=int(venue["capacity_daily"]),
        thresholds=dict(THRESHOLDS),
        hours=hours,
        peak_inside=None,
        peak_hour=None if peak is None or peak[1] == 0 else peak[0],
        daily_entries=daily,
        daily_load=None if daily is None else _ratio(daily, int(venue["capacity_daily"])),
        suppressed=daily is None,
        k=k,
        as_of=mark["advanced_at"].isoformat() if mark and mark["advanced_at"] else None,
        noise=_noise(p, epsilon, days, entries=("arrivals", 1), daily_entries=("visitors", 1)),
    )


async def od(
    conn: asyncpg.Connection,
    resolved: Resolved,
    start: date,
    end: date,
    k: int,
    *,
    p: Privacy | None = None,
) -> Od:
    """Trips between the scope's venues. A link is shown only when its noisy count is at
    least k and above the noise a link without any trip could reach (``threshold``:
    else many links would be noise); hidden links are left out, never listed by name,
    and the total is the sum of the links shown."""
    p = p or Privacy(k)
    days, epsilon = await _released(conn, start, end, p)
    ids = resolved.venue_ids
    rows = await conn.fetch(
        Q()["flows_select_released_links"], ids, start, end, [str(i) for i in ids]
    )
    scale = p.params.scale("od")
    pairs = max(len(ids) * (len(ids) - 1), 1)
    links = []
    for r in rows:
        value = int(r["value"])
        if value >= max(k, privacy.threshold(scale, int(r["cells"]), pairs), 1):
            links.append(OdLink(from_=r["from_venue"], to=r["to_venue"], trips=value))
    links.sort(key=lambda link: (-(link.trips or 0), str(link.from_), str(link.to)))
    nodes = [
        OdNode(id=v["id"], name=v["name"], region_code=v["region_code"], lat=v["lat"], lon=v["lon"])
        for v in resolved.venues
    ]
    return Od(
        window=await _window(
            conn,
            resolved,
            start,
            end,
            k,
            _noise(p, epsilon, days, totals_add_up=True, trips=("od", len(days))),
        ),
        nodes=nodes,
        links=links,
        total_trips=sum(link.trips or 0 for link in links),
        total_suppressed=False,
    )


def _edge_label(edges: Sequence[int], i: int) -> tuple[int, int | None, str]:
    low = edges[i]
    high = edges[i + 1] if i + 1 < len(edges) else None
    return low, high, (f"{low}-{high}" if high is not None else f"{low}+")


def _by_bucket(cells: Cells, days: set[date]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for (day, bucket), (value, n) in cells.items():
        if day in days:
            v, c = out.get(bucket, (0, 0))
            out[bucket] = (v + value, c + n)
    return out


async def dwell(
    conn: asyncpg.Connection,
    resolved: Resolved,
    start: date,
    end: date,
    k: int,
    *,
    p: Privacy | None = None,
) -> Dwell:
    """Dwell of each counted visit's first entry/exit pair (see privacy.py)."""
    p = p or Privacy(k)
    days, epsilon = await _released(conn, start, end, p)
    cells = _by_bucket(await _cells(conn, resolved, start, end, "dwell"), days)
    bins = []
    raw_total = 0
    for i in range(len(DWELL_EDGES)):
        raw = cells.get(str(i), (0, 0))[0]
        raw_total += raw
        value = _publish(raw, k) if days else None
        low, high, label = _edge_label(DWELL_EDGES, i)
        bins.append(
            DwellBin(
                min_minutes=low,
                max_minutes=high,
                label=label,
                visits=value,
                suppressed=value is None,
            )
        )
    total = _publish(raw_total, k) if days else None
    n = len(resolved.venue_ids) * len(days)
    return Dwell(
        window=await _window(
            conn,
            resolved,
            start,
            end,
            k,
            _noise(p, epsilon, days, visits=("dwell", n), total_visits=("dwell", n * 6)),
        ),
        bins=bins,
        total_visits=total,
        total_suppressed=total is None,
    )


async def origins(
    conn: asyncpg.Connection,
    resolved: Resolved,
    start: date,
    end: date,
    k: int,
    *,
    p: Privacy | None = None,
) -> Origins:
    """Visitors by home region. A region is named only when its noisy count is at least
    k and above the noise a region without visitors could reach (``threshold``); every
    other region is in the one unnamed "other" row,
    which is the total (the visitors release) less the named rows: it is always there,
    so its presence tells nothing."""
    p = p or Privacy(k)
    days, epsilon = await _released(conn, start, end, p)
    cells = _by_bucket(await _cells(conn, resolved, start, end, "origins"), days)
    people = await _cells(conn, resolved, start, end, "visitors")
    raw_total = sum(v for (day, _), (v, _) in people.items() if day in days)
    total = _publish(raw_total, k) if days else None
    scale = p.params.scale("origins")
    named = sorted(
        (
            (label, value)
            for label, (value, n) in cells.items()
            if value >= max(k, privacy.threshold(scale, n, len(privacy.ORIGINS)), 1)
        ),
        key=lambda cell: (-cell[1], cell[0]),
    )
    rows: list[OriginRow] = []
    if total is not None:
        while named and sum(v for _, v in named) > total:
            named.pop()  # noise can make the named rows outgrow the total: drop the smallest
        for label, value in named:
            rows.append(OriginRow(home_region=label, visitors=value, share=_ratio(value, total)))
        other = _publish(total - sum(v for _, v in named), k)
        rows.append(
            OriginRow(
                home_region=OTHER_ORIGIN,
                visitors=other,
                share=None if other is None else _ratio(other, total),
                suppressed=other is None,
            )
        )
    else:
        rows.append(OriginRow(home_region=OTHER_ORIGIN, visitors=None, share=None, suppressed=True))
    n = len(resolved.venue_ids) * len(days)
    return Origins(
        window=await _window(
            conn,
            resolved,
            start,
            end,
            k,
            _noise(p, epsilon, days, visitors=("origins", n), total_visitors=("visitors", n)),
        ),
        rows=rows,
        total_visitors=total,
        total_suppressed=total is None,
    )


async def heatmap(
    conn: asyncpg.Connection,
    resolved: Resolved,
    start: date,
    end: date,
    k: int,
    *,
    p: Privacy | None = None,
) -> Heatmap:
    """Arrivals by weekday and hour: the released arrivals cells of the days summed."""
    p = p or Privacy(k)
    days, epsilon = await _released(conn, start, end, p)
    cells = await _cells(conn, resolved, start, end, "arrivals")
    sums: dict[tuple[int, int], int] = {}
    weeks: dict[int, int] = {}
    for day in days:
        weeks[day.isoweekday()] = weeks.get(day.isoweekday(), 0) + 1
    for (day, bucket), (value, _) in cells.items():
        if day in days:
            key = (day.isoweekday(), int(bucket))
            sums[key] = sums.get(key, 0) + value
    out = []
    for weekday in range(1, 8):
        for hour in range(24):
            cell = _publish(sums.get((weekday, hour), 0), k) if weekday in weeks else None
            out.append(HeatCell(weekday=weekday, hour=hour, visits=cell, suppressed=cell is None))
    n = len(resolved.venue_ids) * max(weeks.values(), default=0)
    return Heatmap(
        window=await _window(
            conn, resolved, start, end, k, _noise(p, epsilon, days, visits=("arrivals", n))
        ),
        cells=out,
    )


async def bookings(
    conn: asyncpg.Connection, resolved: Resolved, start: date, end: date, k: int
) -> Bookings:
    venues = await conn.fetch(Q()["flows_select_booking_venues"], resolved.venue_ids, start, end)
    leads = await conn.fetch(Q()["flows_select_booking_lead_times"], resolved.venue_ids, start, end)
    v_hidden, _ = hide_cells(
        [int(r["travellers"]) for r in venues], [int(r["bookings"]) for r in venues], k, total=True
    )
    by_bin = {int(r["bin"]): r for r in leads if not r["is_total"]}
    total = next((r for r in leads if r["is_total"]), None)
    n = len(LEAD_EDGES)
    lead_counts = [int(by_bin[i]["bookings"]) if i in by_bin else 0 for i in range(n)]
    lead_people = [int(by_bin[i]["travellers"]) if i in by_bin else 0 for i in range(n)]
    l_hidden, total_hidden = hide_cells(lead_people, lead_counts, k, total=True)
    total_people = int(total["travellers"]) if total else 0
    # the venue rows add up to the same total: one leftover hidden venue row hides it too
    venue_gap = sum(v_hidden) == 1 and not any(
        not h and int(r["bookings"]) > 0 for r, h in zip(venues, v_hidden, strict=True)
    )
    total_hidden = total_hidden or venue_gap or 0 < total_people < k
    rows = []
    for r, h in zip(venues, v_hidden, strict=True):
        used, no_show = int(r["used"]), int(r["no_show"])
        rows.append(
            BookingVenueRow(
                venue_id=r["venue_id"],
                name=r["name"],
                slots=int(r["slots"]),
                capacity=int(r["capacity"]),
                places_booked=None if h else int(r["places"]),
                fill_rate=None if h else _ratio(int(r["places"]), int(r["capacity"])),
                bookings=None if h else int(r["bookings"]),
                used=None if h else used,
                no_show=None if h else no_show,
                cancelled=None if h else int(r["cancelled"]),
                no_show_rate=None if h else _ratio(no_show, used + no_show),
                suppressed=h,
            )
        )
    lead_time = []
    for i, (c, h) in enumerate(zip(lead_counts, l_hidden, strict=True)):
        low, high, label = _edge_label(LEAD_EDGES, i)
        lead_time.append(
            LeadTimeBin(
                min_days=low, max_days=high, label=label, bookings=None if h else c, suppressed=h
            )
        )
    capacity = sum(int(r["capacity"]) for r in venues)
    places = sum(int(r["places"]) for r in venues)
    t_used = int(total["used"]) if total else 0
    t_no_show = int(total["no_show"]) if total else 0
    return Bookings(
        window=await _window(conn, resolved, start, end, k),
        venues=rows,
        lead_time=lead_time,
        total_bookings=None if total_hidden else (int(total["bookings"]) if total else 0),
        no_show_rate=None if total_hidden else _ratio(t_no_show, t_used + t_no_show),
        fill_rate=None if total_hidden else _ratio(places, capacity),
        total_suppressed=total_hidden,
    )


async def feedback(
    conn: asyncpg.Connection, resolved: Resolved, start: date, end: date, k: int
) -> Feedback:
    ratings = await conn.fetch(Q()["flows_select_ratings"], resolved.venue_ids, start, end)
    venues = await conn.fetch(Q()["flows_select_feedback_venues"], resolved.venue_ids, start, end)
    per_venue = [r for r in venues if r["venue_id"] is not None]
    total = next(r for r in venues if r["venue_id"] is None)
    by_rating = {int(r["rating"]): r for r in ratings if not r["is_total"]}
    counts = [int(by_rating[i]["reviews"]) if i in by_rating else 0 for i in range(1, 6)]
    people = [int(by_rating[i]["travellers"]) if i in by_rating else 0 for i in range(1, 6)]
    r_hidden, r_total_hidden = hide_cells(people, counts, k, total=True)
    rv_hidden, rv_total_hidden = hide_cells(
        [int(r["reviewers"]) for r in per_venue],
        [int(r["reviews"]) for r in per_venue],
        k,
        total=True,
    )
    cp_hidden, cp_total_hidden = hide_cells(
        [int(r["complainants"]) for r in per_venue],
        [int(r["complaints"]) for r in per_venue],
        k,
        total=True,
    )
    reviews_hidden = r_total_hidden or rv_total_hidden or 0 < int(total["reviewers"]) < k
    complaints_hidden = cp_total_hidden or 0 < int(total["complainants"]) < k
    rows = []
    for r, rh, ch in zip(per_venue, rv_hidden, cp_hidden, strict=True):
        rows.append(
            FeedbackVenueRow(
                venue_id=r["venue_id"],
                name=r["name"],
                reviews=None if rh else int(r["reviews"]),
                rating_mean=None if rh else _round(r["rating_mean"]),
                complaints=None if ch else int(r["complaints"]),
                answered=None if ch else int(r["answered"]),
                median_hours_to_answer=None if ch else _round(r["median_hours"]),
                mean_hours_to_answer=None if ch else _round(r["mean_hours"]),
                answer_rating_mean=None if ch else _round(r["answer_rating_mean"]),
                suppressed=rh or ch,
            )
        )
    return Feedback(
        window=await _window(conn, resolved, start, end, k),
        ratings=[
            RatingBin(rating=i + 1, reviews=None if h else c, suppressed=h)
            for i, (c, h) in enumerate(zip(counts, r_hidden, strict=True))
        ],
        venues=rows,
        total_reviews=None if reviews_hidden else int(total["reviews"]),
        rating_mean=None if reviews_hidden else _round(total["rating_mean"]),
        complaints=None if complaints_hidden else int(total["complaints"]),
        answered=None if complaints_hidden else int(total["answered"]),
        median_hours_to_answer=None if complaints_hidden else _round(total["median_hours"]),
        mean_hours_to_answer=None if complaints_hidden else _round(total["mean_hours"]),
        answer_rating_mean=None if complaints_hidden else _round(total["answer_rating_mean"]),
        total_suppressed=reviews_hidden or complaints_hidden,
    )


# --- CSV -----------------------------------------------------------------------------


def to_csv(
    row_type: type[msgspec.Struct], rows: Sequence[msgspec.Struct], noise: Noise | None = None
) -> bytes:
    """The rows of one table as CSV with a header; a hidden cell is empty.

    A differentially private answer adds, for each noised column ``x``, a column
    ``x_ci95``: the ±N at 95% of the noise on that column's values."""
    columns = [f.encode_name for f in msgspec.structs.fields(row_type)]
    ci = {c: noise.ci95[c] for c in columns if noise is not None and c in noise.ci95}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*columns, *(f"{c}_ci95" for c in ci)])
    for row in rows:
        data: dict[str, Any] = msgspec.to_builtins(row)
        cells = ["" if data.get(c) is None else _cell(data[c]) for c in columns]
        writer.writerow([*cells, *(str(v) for v in ci.values())])
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- venues of a scope -------------------------------------------------------------


async def venues(
    conn: asyncpg.Connection,
    resolved: Resolved,
    start: date,
    end: date,
    k: int,
    *,
    p: Privacy | None = None,
) -> PlannerVenues:
    """The scope's venues, busiest first (server side: only what the caller may see).

    Busiest by the released, noisy visitors of the range (post-processing of the
    differentially private release, so the order costs no privacy); a venue whose
    published count is below k, or a range not released yet, sorts by name after."""
    p = p or Privacy(k)
    days, _ = await _released(conn, start, end, p)
    rows = await conn.fetch(Q()["flows_select_venue_activity"], resolved.venue_ids, start, end)

    def rank(r: asyncpg.Record) -> tuple[int, str, str]:
        published = _publish(int(r["visitors"]), k) if days else None
        return (-(published or 0), str(r["name"]), str(r["id"]))

    ordered = sorted(rows, key=rank)
    items = [
        PlannerVenue(id=r["id"], name=r["name"], region_code=r["region_code"], gated=r["gated"])
        for r in ordered
    ]
    busiest = next((v.id for v in items if v.gated), None)
    return PlannerVenues(
        window=await _window(conn, resolved, start, end, k), items=items, busiest=busiest
    )
