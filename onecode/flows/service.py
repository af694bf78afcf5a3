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
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from onecode.auth import Kind, Principal
from onecode.crowd import THRESHOLDS, level_of
from onecode.errors import NotFound, Unprocessable
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
    Occupancy,
    OccupancyHour,
    Od,
    OdLink,
    OdNode,
    OriginRow,
    Origins,
    RatingBin,
    Scope,
    Window,
)
from onecode.sql import Q

MAX_SPAN_DAYS = 366
DWELL_EDGES = (0, 30, 60, 120, 240, 480)
LEAD_EDGES = (0, 1, 2, 4, 8, 15)


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
    conn: asyncpg.Connection, resolved: Resolved, start: date, end: date, k: int
) -> Window:
    mark = await conn.fetchrow(Q()["flows_select_watermark"])
    as_of = mark["advanced_at"].isoformat() if mark and mark["advanced_at"] else None
    return Window(scope=resolved.scope, from_=start, to=end, k=k, as_of=as_of)


# --- indicators --------------------------------------------------------------------


def _buckets(start: date, end: date, grain: Grain) -> list[datetime]:
    first = datetime(start.year, start.month, start.day)
    last = datetime(end.year, end.month, end.day) + timedelta(days=1)
    step = timedelta(hours=1) if grain == "hour" else timedelta(days=1)
    out: list[datetime] = []
    at = first
    while at < last:
        out.append(at)
        at += step
    return out


def _bucket_label(at: datetime, grain: Grain) -> str:
    return at.strftime("%Y-%m-%dT%H:00") if grain == "hour" else at.strftime("%Y-%m-%d")


async def arrivals(
    conn: asyncpg.Connection, resolved: Resolved, start: date, end: date, grain: Grain, k: int
) -> Arrivals:
    rows = await conn.fetch(Q()["flows_select_arrivals"], resolved.venue_ids, start, end, grain)
    found = {r["bucket"]: r for r in rows if not r["is_total"]}
    total = next((r for r in rows if r["is_total"]), None)
    buckets = _buckets(start, end, grain)
    visits = [int(found[b]["visits"]) if b in found else 0 for b in buckets]
    people = [int(found[b]["visitors"]) if b in found else 0 for b in buckets]
    hidden, total_hidden = hide_cells(people, visits, k, total=True)
    total_people = int(total["visitors"]) if total else 0
    total_hidden = total_hidden or 0 < total_people < k
    out = [
        ArrivalsRow(
            bucket=_bucket_label(b, grain),
            visits=None if h else v,
            visitors=None if h else p,
            suppressed=h,
        )
        for b, v, p, h in zip(buckets, visits, people, hidden, strict=True)
    ]
    return Arrivals(
        window=await _window(conn, resolved, start, end, k),
        grain=grain,
        rows=out,
        total_visits=None if total_hidden else (int(total["visits"] or 0) if total else 0),
        total_visitors=None if total_hidden else total_people,
        total_suppressed=total_hidden,
    )


async def occupancy(
    conn: asyncpg.Connection, principal: Principal, venue_id: uuid.UUID, day: date, k: int
) -> Occupancy:
    venue = await conn.fetchrow(Q()["flows_select_venue_path"], venue_id)
    if venue is None or not _visible(principal, venue["path"]):
        raise NotFound("No such venue.", "venues.not_found")
    rows = await conn.fetch(Q()["flows_select_occupancy"], venue_id, day)
    cap = int(venue["capacity_instant"])
    day_travellers = int(rows[-1]["travellers"]) if rows else 0
    day_hidden = 0 < day_travellers < k
    # an hour's entries and exits follow the hour's own entrants (with complementary
    # suppression against the published daily total), as arrivals does for visits
    flows_hidden, _ = hide_cells(
        [int(r["hour_travellers"]) for r in rows],
        [int(r["people_in"]) for r in rows],
        k,
        total=True,
    )
    hours: list[OccupancyHour] = []
    inside = 0
    peak: tuple[int, int] | None = None
    for r, flow_hidden in zip(rows, flows_hidden, strict=True):
        inside = max(inside + int(r["people_in"]) - int(r["people_out"]), 0)
        if day_hidden or 0 < int(r["travellers"]) < k:
            hours.append(
                OccupancyHour(
                    hour=r["hour"],
                    entries=None,
                    exits=None,
                    inside=None,
                    load=None,
                    level=None,
                    suppressed=True,
                )
            )
            continue
        # the first hour after a hidden prefix hides its own flows too: otherwise
        # inside - entries + exits would give the hidden prefix away
        hide_flows = flow_hidden or (bool(hours) and hours[-1].inside is None)
        load = round(inside / cap, 4)
        if peak is None or inside > peak[1]:
            peak = (r["hour"], inside)
        hours.append(
            OccupancyHour(
                hour=r["hour"],
                entries=None if hide_flows else int(r["people_in"]),
                exits=None if hide_flows else int(r["people_out"]),
                inside=inside,
                load=load,
                level=level_of(load),
                suppressed=hide_flows,
            )
        )
    daily = sum(int(r["people_in"]) for r in rows)
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
        peak_inside=None if day_hidden or peak is None else peak[1],
        peak_hour=None if day_hidden or peak is None else peak[0],
        daily_entries=None if day_hidden else daily,
        daily_load=None if day_hidden else _ratio(daily, int(venue["capacity_daily"])),
        suppressed=day_hidden,
        k=k,
        as_of=mark["advanced_at"].isoformat() if mark and mark["advanced_at"] else None,
    )


async def od(conn: asyncpg.Connection, resolved: Resolved, start: date, end: date, k: int) -> Od:
    rows = await conn.fetch(Q()["flows_select_od_links"], resolved.venue_ids, start, end)
    links = [r for r in rows if not r["is_total"]]
    total = next((r for r in rows if r["is_total"]), None)
    hidden, total_hidden = hide_cells(
        [int(r["travellers"]) for r in links], [int(r["trips"]) for r in links], k, total=True
    )
    total_people = int(total["travellers"]) if total else 0
    total_hidden = total_hidden or 0 < total_people < k
    nodes = [
        OdNode(id=v["id"], name=v["name"], region_code=v["region_code"], lat=v["lat"], lon=v["lon"])
        for v in resolved.venues
    ]
    return Od(
        window=await _window(conn, resolved, start, end, k),
        nodes=nodes,
        links=[
            OdLink(
                from_=r["from_venue"],
                to=r["to_venue"],
                trips=None if h else int(r["trips"]),
                suppressed=h,
            )
            for r, h in zip(links, hidden, strict=True)
        ],
        total_trips=None if total_hidden else (int(total["trips"] or 0) if total else 0),
        total_suppressed=total_hidden,
    )


def _edge_label(edges: Sequence[int], i: int) -> tuple[int, int | None, str]:
    low = edges[i]
    high = edges[i + 1] if i + 1 < len(edges) else None
    return low, high, (f"{low}-{high}" if high is not None else f"{low}+")


async def dwell(
    conn: asyncpg.Connection, resolved: Resolved, start: date, end: date, k: int
) -> Dwell:
    rows = await conn.fetch(Q()["flows_select_dwell"], resolved.venue_ids, start, end)
    by_bin = {int(r["bin"]): r for r in rows if not r["is_total"]}
    total = next((r for r in rows if r["is_total"]), None)
    visits = [int(by_bin[i]["visits"]) if i in by_bin else 0 for i in range(len(DWELL_EDGES))]
    people = [int(by_bin[i]["travellers"]) if i in by_bin else 0 for i in range(len(DWELL_EDGES))]
    hidden, total_hidden = hide_cells(people, visits, k, total=True)
    total_people = int(total["travellers"]) if total else 0
    total_hidden = total_hidden or 0 < total_people < k
    bins = []
    for i, (v, h) in enumerate(zip(visits, hidden, strict=True)):
        low, high, label = _edge_label(DWELL_EDGES, i)
        bins.append(
            DwellBin(
                min_minutes=low,
                max_minutes=high,
                label=label,
                visits=None if h else v,
                suppressed=h,
            )
        )
    return Dwell(
        window=await _window(conn, resolved, start, end, k),
        bins=bins,
        total_visits=None if total_hidden else (int(total["visits"] or 0) if total else 0),
        total_suppressed=total_hidden,
    )


async def origins(
    conn: asyncpg.Connection, resolved: Resolved, start: date, end: date, k: int
) -> Origins:
    rows = await conn.fetch(Q()["flows_select_origins"], resolved.venue_ids, start, end)
    cells = [r for r in rows if not r["is_total"]]
    total = next((r for r in rows if r["is_total"]), None)
    people = [int(r["visitors"]) for r in cells]
    hidden, total_hidden = hide_cells(people, people, k, total=True)
    total_people = int(total["visitors"]) if total else 0
    total_hidden = total_hidden or 0 < total_people < k
    return Origins(
        window=await _window(conn, resolved, start, end, k),
        rows=[
            OriginRow(
                home_region=r["home_region"],
                visitors=None if h else p,
                share=None if h or total_hidden else _ratio(p, total_people),
                suppressed=h,
            )
            for r, p, h in zip(cells, people, hidden, strict=True)
        ],
        total_visitors=None if total_hidden else total_people,
        total_suppressed=total_hidden,
    )


async def heatmap(
    conn: asyncpg.Connection, resolved: Resolved, start: date, end: date, k: int
) -> Heatmap:
    rows = await conn.fetch(Q()["flows_select_heatmap"], resolved.venue_ids, start, end)
    found = {(int(r["weekday"]), int(r["hour"])): r for r in rows}
    keys = [(weekday, hour) for weekday in range(1, 8) for hour in range(24)]
    visits = [int(found[key]["visits"]) if key in found else 0 for key in keys]
    people = [int(found[key]["travellers"]) if key in found else 0 for key in keys]
    # arrivals publishes the total of these same visits: suppress complementarily
    hidden, _ = hide_cells(people, visits, k, total=True)
    cells = [
        HeatCell(weekday=w, hour=h, visits=None if hide else v, suppressed=hide)
        for (w, h), v, hide in zip(keys, visits, hidden, strict=True)
    ]
    return Heatmap(window=await _window(conn, resolved, start, end, k), cells=cells)


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


def to_csv(row_type: type[msgspec.Struct], rows: Sequence[msgspec.Struct]) -> bytes:
    """The rows of one table as CSV with a header; a hidden cell is empty."""
    columns = [f.encode_name for f in msgspec.structs.fields(row_type)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        data: dict[str, Any] = msgspec.to_builtins(row)
        writer.writerow(["" if data.get(c) is None else _cell(data[c]) for c in columns])
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
