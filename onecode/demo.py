"""``onecode demo``: a Guizhou region with real attractions, and simulated days of
travellers going through the HTTP API, so that the planner dashboard shows something
true to life.

Everything goes through the public API (in-process over ASGI, or ``--url``): admin
calls build the catalog; travellers register, fetch their code, book, check in,
review and complain; gates upload their scans. Past days can only be told by the
offline batch upload (``POST /v1/gate/scans/batch``: scans carry their own
``scanned_at``; an online gate decides by server time), so every gate scan of the
simulated past goes that way, like gates that were offline and synced afterwards.
Self check-ins and bookings are stamped by the server's clock, so they are simulated
for the last hour (check-ins) and for today's remaining and upcoming slots (bookings);
no-shows appear once those slots have ended and the server's sweep has run.

The plan (who goes where, when) is drawn first from ``--seed``, so a run is
deterministic apart from the calendar day it is run on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import msgspec

from onecode.cli import command
from onecode.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
REGION = ("CN-GZ", "Guizhou")
PREFECTURES = (
    ("CN-GZ-GY", "Guiyang"),
    ("CN-GZ-AS", "Anshun"),
    ("CN-GZ-QDN", "Qiandongnan"),
    ("CN-GZ-QN", "Qiannan"),
    ("CN-GZ-TR", "Tongren"),
    ("CN-GZ-ZY", "Zunyi"),
    ("CN-GZ-BJ", "Bijie"),
    ("CN-GZ-QXN", "Qianxinan"),
    ("CN-GZ-LPS", "Liupanshui"),
)

# home regions of travellers, weighted (Guizhou itself first, then the big source markets)
HOMES: tuple[tuple[str, float], ...] = (
    ("CN-GZ", 30),
    ("CN-44", 12),
    ("CN-50", 9),
    ("CN-51", 9),
    ("CN-53", 6),
    ("CN-43", 5),
    ("CN-11", 5),
    ("CN-31", 5),
    ("CN-32", 4),
    ("CN-33", 4),
    ("HK", 2),
    ("TW", 1.5),
    ("KR", 1.2),
    ("JP", 0.8),
    ("US", 0.8),
    ("GB", 0.5),
    ("FR", 0.4),
)


@dataclass(frozen=True)
class Attraction:
    """A real attraction: where it is, how it is entered, how popular and how long a visit is."""

    key: str
    name: str
    region: str
    lat: float
    lon: float
    kind: str
    gated: bool
    requires_booking: bool
    entry_rule: str
    real_capacity_instant: int  # the real-world order of magnitude (people inside at once)
    real_capacity_daily: int
    popularity: float
    dwell_hours: tuple[float, float]
    gates: int = 1


ATTRACTIONS: tuple[Attraction, ...] = (
    Attraction(
        "hgs",
        "Huangguoshu Waterfall",
        "CN-GZ-AS",
        25.992,
        105.667,
        "waterfall",
        True,
        True,
        "single",
        25_000,
        60_000,
        10,
        (2.5, 4.5),
        gates=2,
    ),
    Attraction(
        "xj",
        "Xijiang Thousand-Household Miao Village",
        "CN-GZ-QDN",
        26.497,
        108.173,
        "ethnic_village",
        False,
        False,
        "daily:1",
        20_000,
        50_000,
        8,
        (2.0, 5.0),
    ),
    Attraction(
        "fjs",
        "Fanjingshan",
        "CN-GZ-TR",
        27.918,
        108.694,
        "mountain",
        True,
        True,
        "single",
        8_000,
        20_000,
        7,
        (4.0, 7.0),
        gates=2,
    ),
    Attraction(
        "libo",
        "Libo Xiaoqikong",
        "CN-GZ-QN",
        25.261,
        107.731,
        "karst_forest",
        True,
        False,
        "single",
        15_000,
        40_000,
        7,
        (3.0, 5.0),
    ),
    Attraction(
        "qy",
        "Qingyan Ancient Town",
        "CN-GZ-GY",
        26.331,
        106.680,
        "ancient_town",
        False,
        False,
        "daily:1",
        15_000,
        40_000,
        8,
        (1.5, 3.0),
    ),
    Attraction(
        "zy",
        "Zhenyuan Ancient Town",
        "CN-GZ-QDN",
        27.049,
        108.423,
        "ancient_town",
        False,
        False,
        "daily:1",
        12_000,
        30_000,
        5,
        (2.0, 4.0),
    ),
    Attraction(
        "jxl",
        "Jiaxiu Pavilion",
        "CN-GZ-GY",
        26.573,
        106.714,
        "landmark",
        True,
        False,
        "reentry",
        2_000,
        10_000,
        6,
        (0.5, 1.2),
    ),
    Attraction(
        "ql",
        "Qianling Park",
        "CN-GZ-GY",
        26.602,
        106.700,
        "park",
        True,
        False,
        "reentry",
        10_000,
        30_000,
        6,
        (1.0, 3.0),
    ),
    Attraction(
        "zj",
        "Zhijin Cave",
        "CN-GZ-BJ",
        26.667,
        105.927,
        "cave",
        True,
        False,
        "single",
        3_000,
        8_000,
        4,
        (2.0, 3.0),
    ),
    Attraction(
        "ml",
        "Maling River Canyon",
        "CN-GZ-QXN",
        25.144,
        104.950,
        "canyon",
        True,
        False,
        "single",
        4_000,
        10_000,
        3,
        (1.5, 3.0),
    ),
    Attraction(
        "wfl",
        "Wanfenglin",
        "CN-GZ-QXN",
        25.041,
        104.952,
        "karst_forest",
        True,
        False,
        "single",
        6_000,
        15_000,
        3,
        (2.0, 3.5),
    ),
    Attraction(
        "cs",
        "Chishui Danxia",
        "CN-GZ-ZY",
        28.430,
        105.955,
        "geopark",
        True,
        False,
        "single",
        6_000,
        15_000,
        4,
        (2.5, 4.5),
    ),
)

REVIEW_TEXTS = {
    5: ("Breathtaking, worth the trip.", "Wonderful day, well organised entry."),
    4: ("Beautiful, a bit crowded at noon.", "Very nice; arrive early."),
    3: ("Nice but queues at the gate.", "OK, signage could be better."),
    2: ("Too crowded, long waits.", "Overpriced shuttle."),
    1: ("Disappointing visit.",),
}
COMPLAINTS = (
    ("crowding", "The queue at the entrance took over an hour."),
    ("service", "Staff at the shuttle stop were not helpful."),
    ("cleanliness", "Toilets near the main path were dirty."),
    ("price", "Parking price was not shown anywhere."),
    ("safety", "A railing on the lower path is loose."),
)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Visit:
    """One planned visit: entry (and exit, if before the end of the simulation)."""

    traveller: int
    venue: str
    day: date
    enter: datetime  # aware UTC
    leave: datetime | None  # None: still inside when the simulation stops
    review: int | None  # a 1..5 rating, or no review
    complaint: int | None  # index into COMPLAINTS
    entry_scan: uuid.UUID
    exit_scan: uuid.UUID
    gate: int


@dataclass(frozen=True)
class PlannedBooking:
    traveller: int
    venue: str
    day: date
    slot_start: datetime  # aware UTC


@dataclass
class Plan:
    days: list[date]
    now: datetime
    homes: list[str]
    visits: list[Visit] = field(default_factory=list)
    bookings: list[PlannedBooking] = field(default_factory=list)
    capacity_instant: dict[str, int] = field(default_factory=dict)
    capacity_daily: dict[str, int] = field(default_factory=dict)
    holiday: date | None = None


def _km(a: Attraction, b: Attraction) -> float:
    dlat = math.radians(b.lat - a.lat)
    dlon = math.radians(b.lon - a.lon)
    h = (
        math.sin(dlat / 2) ** 2
        + math.cos(math.radians(a.lat)) * math.cos(math.radians(b.lat)) * math.sin(dlon / 2) ** 2
    )
    return 6371 * 2 * math.asin(math.sqrt(h))


def _rid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _local(day: date, hours: float) -> datetime:
    base = datetime.combine(day, time(0), TZ) + timedelta(hours=hours)
    return base.astimezone(UTC)


def make_plan(*, days: int, travellers: int, seed: int, now: datetime) -> Plan:
    """Draw who visits what and when; the last simulated day is today (in Guizhou)."""
    rng = random.Random(seed)
    today = now.astimezone(TZ).date()
    day_list = [today - timedelta(days=days - 1 - i) for i in range(days)]
    # the holiday surge: a Saturday before today if there is one, else the middle day
    saturdays = [d for d in day_list[:-1] if d.weekday() == 5]
    holiday = saturdays[-1] if saturdays else day_list[(len(day_list) - 1) // 2]
    # today counts only up to now; the surge day draws three times the crowd
    weights = [3.0 if d == holiday else (1.3 if d.weekday() >= 5 else 1.0) for d in day_list]
    by_key = {a.key: a for a in ATTRACTIONS}
    homes_codes = [h for h, _ in HOMES]
    homes_w = [w for _, w in HOMES]
    plan = Plan(days=day_list, now=now, homes=[], holiday=holiday)
    for t in range(travellers):
        plan.homes.append(rng.choices(homes_codes, homes_w)[0])
        trip_days = min(days, rng.choice((1, 1, 2, 2, 3)))
        starts = range(days - trip_days + 1)
        start = rng.choices(starts, [sum(weights[i : i + trip_days]) for i in starts])[0]
        here = rng.choices(ATTRACTIONS, [a.popularity for a in ATTRACTIONS])[0]
        for d in day_list[start : start + trip_days]:
            # morning peak: first entry around 9:30, later on holiday crowds
            clock = max(7.5, rng.gauss(9.6 if d != holiday else 10.0, 1.1))
            seen: set[str] = set()
            for _ in range(rng.choice((1, 2, 2, 3))):
                # gated sites close their gates in the late afternoon; the ungated villages
                # and old towns are at their busiest for the evening lights (Xijiang's night view)
                if here.key in seen or clock > (21.0 if not here.gated else 16.5):
                    break
                seen.add(here.key)
                dwell = rng.uniform(*here.dwell_hours)
                enter = _local(d, clock)
                leave_h = min(clock + dwell, 22.5 if not here.gated else 19.0)
                leave = _local(d, leave_h)
                if enter > now:
                    break
                plan.visits.append(
                    Visit(
                        traveller=t,
                        venue=here.key,
                        day=d,
                        enter=enter,
                        leave=leave if leave <= now else None,
                        review=(
                            rng.choices((5, 4, 3, 2, 1), (40, 35, 15, 7, 3))[0]
                            if rng.random() < 0.35
                            else None
                        ),
                        complaint=rng.randrange(len(COMPLAINTS)) if rng.random() < 0.02 else None,
                        entry_scan=_rid(rng),
                        exit_scan=_rid(rng),
                        gate=rng.randrange(here.gates),
                    )
                )
                # next: a nearby attraction, closer ones far more likely
                others = [a for a in ATTRACTIONS if a.key not in seen]
                if not others:
                    break
                w = [a.popularity / (1 + _km(here, a) / 40) ** 2 for a in others]
                nxt = rng.choices(others, w)[0]
                clock = leave_h + 0.3 + _km(here, nxt) / 55
                here = nxt
            # overnight: tomorrow starts near today's last stop
            here = by_key[here.key]
        # some travellers book Fanjingshan or Huangguoshu for today's later slots or upcoming days
        if rng.random() < 0.15:
            venue = rng.choice(("fjs", "hgs"))
            day = today + timedelta(days=rng.choice((0, 1, 1, 2)))
            hour = rng.choice((8, 9, 9, 10, 10, 11, 13, 14))
            slot_start = _local(day, hour)
            if slot_start > now:
                plan.bookings.append(PlannedBooking(t, venue, day, slot_start))
    _size_capacities(plan)
    return plan


def _size_capacities(plan: Plan) -> None:
    """Capacities at the sample's scale: the real figures shrunk by one factor for every
    venue, chosen so that Huangguoshu peaks near 95% on its busiest day (as the real one
    does in Golden Week); the others fall where their real size puts them, never under
    their own peak (a gate never counts more people inside than fit)."""
    peaks: Counter[str] = Counter()
    events: dict[str, list[tuple[datetime, int]]] = {}
    for v in plan.visits:
        events.setdefault(v.venue, []).append((v.enter, 1))
        if v.leave is not None:
            events[v.venue].append((v.leave, -1))
    for key, evs in events.items():
        inside = 0
        for _, delta in sorted(evs, key=lambda e: (e[0], e[1])):
            inside += delta
            peaks[key] = max(peaks[key], inside)
    hgs = ATTRACTION_BY_KEY["hgs"]
    scale = max(peaks[hgs.key], 1) / (0.955 * hgs.real_capacity_instant)
    daily = Counter((v.venue, v.day) for v in plan.visits)
    for a in ATTRACTIONS:
        plan.capacity_instant[a.key] = max(
            math.ceil(peaks[a.key] / 0.97), 5, round(a.real_capacity_instant * scale)
        )
        top_day = max((n for (k, _), n in daily.items() if k == a.key), default=0)
        plan.capacity_daily[a.key] = max(
            top_day + 1, max(10, round(a.real_capacity_daily * scale * 2))
        )


# --------------------------------------------------------------------------- run


class Summary(msgspec.Struct, kw_only=True):
    """What the simulation did, as the API answered it."""

    days: list[str] = msgspec.field(default_factory=list)
    holiday: str | None = None
    venues: int = 0
    travellers: int = 0
    scans_uploaded: int = 0
    scan_results: dict[str, int] = msgspec.field(default_factory=dict)
    entries_recorded: int = 0  # accepted 'in' scans the server recorded
    online_entries: int = 0  # of which decided online (booked slots open now)
    entries_by_day: dict[str, int] = msgspec.field(default_factory=dict)
    checkins: int = 0
    checkins_by_day: dict[str, int] = msgspec.field(default_factory=dict)
    bookings: int = 0
    bookings_refused: int = 0
    reviews: int = 0
    complaints: int = 0
    complaints_answered: int = 0
    skipped_past_checkins: int = 0
    planner_token: str = ""
    admin_token: str | None = None  # minted by this run for a fresh database (shown once)
    region: str = REGION[0]


class DemoError(RuntimeError):
    """The API answered something the demo cannot go on from."""


class Progress:
    """A plain progress bar on stderr (no dependency)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr is not None

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.enabled or (done < total and not sys.stderr.isatty()):
            return
        width = 30
        frac = done / total if total else 1.0
        bar = "#" * int(frac * width)
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{label:<24} [{bar:<{width}}] {done}/{total}{end}")
        sys.stderr.flush()


def _check(r: httpx.Response, *ok: int) -> Any:
    if r.status_code not in ok:
        raise DemoError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")
    return r.json() if r.content else None


async def _gather(
    items: list[Any],
    fn: Callable[[Any], Awaitable[None]],
    progress: Progress,
    label: str,
    concurrency: int = 16,
) -> None:
    sem = asyncio.Semaphore(concurrency)
    done = 0

    async def one(item: Any) -> None:
        nonlocal done
        async with sem:
            await fn(item)
        done += 1
        if done % 25 == 0 or done == len(items):
            progress(label, done, len(items))

    await asyncio.gather(*(one(i) for i in items))
    if not items:
        progress(label, 0, 0)


async def run_plan(
    client: httpx.AsyncClient, admin_token: str, plan: Plan, progress: Progress
) -> Summary:
    """Play the plan through the HTTP API."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    s = Summary(days=[d.isoformat() for d in plan.days])
    s.holiday = plan.holiday.isoformat() if plan.holiday else None

    # catalog: regions (existing ones are fine: the demo can run twice)
    for code, name, parent in [(*REGION, None)] + [(c, n, REGION[0]) for c, n in PREFECTURES]:
        body: dict[str, Any] = {"code": code, "name": name}
        if parent:
            body["parent_code"] = parent
        _check(await client.post("/v1/admin/regions", json=body, headers=admin), 201, 409)
    existing = {
        v["name"]: v
        for v in _check(await client.get("/v1/venues", params={"region": REGION[0]}), 200)
    }
    venues: dict[str, dict[str, Any]] = {}
    gate_tokens: dict[tuple[str, int], str] = {}
    operator_venues: list[str] = []
    for a in ATTRACTIONS:
        if a.name in existing:
            raise DemoError(
                f"{a.name} already exists in {REGION[0]}: the demo fills an empty region "
                "(use a fresh data folder or database)"
            )
        v = _check(
            await client.post(
                "/v1/admin/venues",
                json={
                    "region_code": a.region,
                    "name": a.name,
                    "kind": a.kind,
                    "gated": a.gated,
                    "requires_booking": a.requires_booking,
                    "entry_rule": a.entry_rule,
                    "capacity_instant": plan.capacity_instant[a.key],
                    "capacity_daily": plan.capacity_daily[a.key],
                    "lat": a.lat,
                    "lon": a.lon,
                },
                headers=admin,
            ),
            201,
        )
        venues[a.key] = v
        operator_venues.append(v["id"])
        for g in range(a.gates if a.gated else 0):
            gate = _check(
                await client.post(
                    f"/v1/admin/venues/{v['id']}/gates",
                    json={"name": ("East gate", "West gate", "North gate")[g % 3]},
                    headers=admin,
                ),
                201,
            )
            gate_tokens[(a.key, g)] = gate["token"]
    s.venues = len(venues)
    operator = _check(
        await client.post(
            "/v1/admin/operators",
            json={"name": "Guizhou scenic areas operator", "venue_ids": operator_venues},
            headers=admin,
        ),
        201,
    )
    op = {"Authorization": f"Bearer {operator['token']}"}
    planner = _check(
        await client.post(
            "/v1/admin/planners",
            json={"name": "Guizhou tourism planning", "region_codes": [REGION[0]]},
            headers=admin,
        ),
        201,
    )
    s.planner_token = planner["token"]

    # timed slots: hourly 08:00-16:00 for today and the next two days at booked venues
    today = plan.now.astimezone(TZ).date()
    slot_ids: dict[tuple[str, datetime], str] = {}
    for key in ("hgs", "fjs"):
        cap = max(5, plan.capacity_instant[key] // 3)
        slots = [
            {
                "starts_at": _local(today + timedelta(days=dd), h).isoformat(),
                "ends_at": _local(today + timedelta(days=dd), h + 1).isoformat(),
                "capacity": cap,
            }
            for dd in range(3)
            for h in range(8, 16)
        ]
        made = _check(
            await client.post(
                f"/v1/venues/{venues[key]['id']}/slots", json={"slots": slots}, headers=op
            ),
            201,
        )
        for sl in made["slots"]:
            slot_ids[(key, datetime.fromisoformat(sl["starts_at"]).astimezone(UTC))] = sl["id"]

    # travellers: register and fetch the code their phone shows
    tokens: list[str] = [""] * len(plan.homes)
    codes: list[str] = [""] * len(plan.homes)
    active = sorted({v.traveller for v in plan.visits} | {b.traveller for b in plan.bookings})

    async def register(t: int) -> None:
        r = _check(
            await client.post(
                "/v1/travellers",
                json={"display_name": f"Traveller {t}", "home_region": plan.homes[t]},
            ),
            201,
        )
        tokens[t] = r["access_token"]
        me = {"Authorization": f"Bearer {tokens[t]}"}
        codes[t] = _check(await client.get("/v1/me/code", headers=me), 200)["code"]

    await _gather(active, register, progress, "registering travellers")
    s.travellers = len(active)

    # gate scans of gated venues, uploaded per gate in time order, as offline gates do
    per_gate: dict[tuple[str, int], list[tuple[datetime, dict[str, Any], Visit]]] = {}
    for v in plan.visits:
        if not ATTRACTION_BY_KEY[v.venue].gated:
            continue
        items = per_gate.setdefault((v.venue, v.gate), [])
        items.append((v.enter, _scan(v.entry_scan, codes[v.traveller], "in", v.enter), v))
        if v.leave is not None:
            items.append((v.leave, _scan(v.exit_scan, codes[v.traveller], "out", v.leave), v))
    results: Counter[str] = Counter()
    recorded_entries: set[uuid.UUID] = set()
    entry_ids = {v.entry_scan: v for v in plan.visits}
    batches = [
        (gate, chunk)
        for gate, items in per_gate.items()
        for chunk in _chunks(sorted(items, key=lambda e: e[0]), 500)
    ]

    async def upload(
        batch: tuple[tuple[str, int], list[tuple[datetime, dict[str, Any], Visit]]],
    ) -> None:
        gate, chunk = batch
        headers = {"Authorization": f"Bearer {gate_tokens[gate]}"}
        out = _check(
            await client.post(
                "/v1/gate/scans/batch", json={"scans": [c[1] for c in chunk]}, headers=headers
            ),
            200,
        )
        for res in out["results"]:
            results[res["status"]] += 1
            v = entry_ids.get(uuid.UUID(res["scan_id"]))
            if v is not None and res["status"] in ("recorded", "conflict"):
                s.entries_recorded += 1
                day = v.day.isoformat()
                s.entries_by_day[day] = s.entries_by_day.get(day, 0) + 1
                recorded_entries.add(v.entry_scan)
        s.scans_uploaded += len(chunk)

    await _gather(batches, upload, progress, "uploading gate scans", concurrency=4)
    s.scan_results = dict(results)

    # self check-ins at ungated venues: the server stamps them with its own clock, so only
    # the visits planned within the last hour are played (a stamp true to the hour)
    async def check_in(v: Visit) -> None:
        me = {"Authorization": f"Bearer {tokens[v.traveller]}"}
        place = venues[v.venue]["place_code"]
        r = await client.post(f"/v1/places/{place}/checkin", headers=me)
        _check(r, 200, 201)
        if r.status_code == 201:
            s.checkins += 1
            day = v.day.isoformat()
            s.checkins_by_day[day] = s.checkins_by_day.get(day, 0) + 1
            recorded_entries.add(v.entry_scan)

    ungated = [v for v in plan.visits if not ATTRACTION_BY_KEY[v.venue].gated]
    recent = [v for v in ungated if plan.now - timedelta(hours=1) < v.enter <= plan.now]
    s.skipped_past_checkins = len(ungated) - len(recent)
    await _gather(recent, check_in, progress, "checking in (last hour)")

    # bookings for today's remaining and upcoming slots
    async def book(b: PlannedBooking) -> None:
        me = {"Authorization": f"Bearer {tokens[b.traveller]}"}
        slot = slot_ids.get((b.venue, b.slot_start))
        if slot is None:
            return
        r = await client.post(
            "/v1/bookings",
            json={"slot_id": slot, "party_size": 1},
            headers={**me, "Idempotency-Key": f"demo-{b.traveller}-{b.venue}-{b.day}"},
        )
        if r.status_code == 201:
            s.bookings += 1
            # a slot opening within the venue's early grace (30 min): the traveller is at
            # the gate now, and an online gate lets them in by the server's clock
            if b.slot_start - timedelta(minutes=30) <= plan.now:
                scan = _check(
                    await client.post(
                        "/v1/gate/scans",
                        json={
                            "code": codes[b.traveller],
                            "direction": "in",
                            "scan_id": str(_booking_scan_id(b)),
                            "scanned_at": datetime.now(UTC).isoformat(),
                        },
                        headers={"Authorization": f"Bearer {gate_tokens[(b.venue, 0)]}"},
                    ),
                    200,
                )
                if scan["decision"] == "accept":
                    s.entries_recorded += 1
                    s.online_entries += 1
                    day = b.day.isoformat()
                    s.entries_by_day[day] = s.entries_by_day.get(day, 0) + 1
        elif 400 <= r.status_code < 500:
            s.bookings_refused += 1  # full slot, daily limit: a real answer, counted
        else:
            _check(r, 201)

    await _gather(plan.bookings, book, progress, "booking slots")

    # reviews after a recorded visit, complaints now and then, answered by the operator
    async def feedback(v: Visit) -> None:
        me = {"Authorization": f"Bearer {tokens[v.traveller]}"}
        vid = venues[v.venue]["id"]
        if v.review is not None:
            texts = REVIEW_TEXTS[v.review]
            r = await client.post(
                f"/v1/venues/{vid}/reviews",
                json={"rating": v.review, "text": texts[v.traveller % len(texts)]},
                headers=me,
            )
            _check(r, 201, 409)
            s.reviews += r.status_code == 201
        if v.complaint is not None:
            category, text = COMPLAINTS[v.complaint]
            c = _check(
                await client.post(
                    "/v1/complaints",
                    json={"venue_id": vid, "category": category, "text": text},
                    headers=me,
                ),
                201,
            )
            s.complaints += 1
            if v.traveller % 3 != 0:  # two in three get an answer
                _check(
                    await client.post(
                        f"/v1/complaints/{c['id']}/answer",
                        json={"text": "Thank you, we have passed this on to the team."},
                        headers=op,
                    ),
                    200,
                )
                s.complaints_answered += 1

    said = [
        v
        for v in plan.visits
        if (v.review is not None or v.complaint is not None) and v.entry_scan in recorded_entries
    ]
    await _gather(said, feedback, progress, "reviews and complaints")
    return s


ATTRACTION_BY_KEY = {a.key: a for a in ATTRACTIONS}


def _scan(scan_id: uuid.UUID, code: str, direction: str, at: datetime) -> dict[str, Any]:
    return {
        "scan_id": str(scan_id),
        "code": code,
        "direction": direction,
        "scanned_at": at.isoformat(),
        "decision": "accept",
        "reason": "ok",
    }


def _booking_scan_id(b: PlannedBooking) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"onecode-demo:{b.traveller}:{b.venue}:{b.slot_start}")


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --------------------------------------------------------------------------- command


async def advance_rollups(dsn: str) -> str:
    """Bring the planner rollups up to date (in-process runs only)."""
    import importlib

    import asyncpg

    try:
        rollup = importlib.import_module("onecode.flows.rollup")
    except ModuleNotFoundError:
        return "rollups: not available in this build"

    conn = await asyncpg.connect(dsn)
    try:
        result = await rollup.advance(conn)
    finally:
        await conn.close()
    return f"rollups advanced: {result}"


async def run_in_process(settings: Settings, plan: Plan, progress: Progress) -> Summary:
    """Serve the app over ASGI inside this process and play the plan against it."""
    import asyncpg

    from onecode.app import create_app, ensure_admin_token

    admin_token = settings.admin_token
    minted = None
    if not admin_token:
        # a fresh database: mint the first admin token, as `onecode serve` would, and
        # show it once in the summary (serve will not print one once an admin exists)
        assert settings.database_url
        conn = await asyncpg.connect(settings.database_url)
        try:
            minted = await ensure_admin_token(conn, settings)
        finally:
            await conn.close()
        if minted is None:
            raise DemoError("this database already has an admin: set ONECODE_ADMIN_TOKEN to it")
        admin_token = minted
    app = create_app(msgspec.structs.replace(settings, admin_token=admin_token, rate_limit=False))
    failure: Exception | None = None
    async with app.lifespan():
        transport = httpx.ASGITransport(app=cast(Any, app))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://demo.local", timeout=60
        ) as client:
            try:
                summary = await run_plan(client, admin_token, plan, progress)
                summary.admin_token = minted
                return summary
            except (DemoError, httpx.HTTPError) as exc:
                failure = exc  # raised below, outside the lifespan's task group
    assert failure is not None
    raise failure


async def run_remote(url: str, admin_token: str, plan: Plan, progress: Progress) -> Summary:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await run_plan(client, admin_token, plan, progress)


def print_summary(s: Summary, dashboard: str, rollups: str, out: Any = None) -> None:
    out = out or sys.stdout
    res = ", ".join(f"{k} {n}" for k, n in sorted(s.scan_results.items())) or "none"
    lines = [
        "",
        f"onecode demo: {REGION[1]} ({s.region}), {len(s.days)} day(s) {s.days[0]} .. "
        f"{s.days[-1]}, holiday surge on {s.holiday}",
        f"  venues            {s.venues}",
        f"  travellers        {s.travellers}",
        f"  gate scans        {s.scans_uploaded} uploaded ({res})",
        f"  entries recorded  {s.entries_recorded} ({s.online_entries} online, booked)",
        f"  check-ins         {s.checkins} (the last hour's; {s.skipped_past_checkins} earlier "
        "ungated visits not played: the server stamps check-ins with its own clock)",
        f"  bookings          {s.bookings} ({s.bookings_refused} refused)",
        f"  reviews           {s.reviews}",
        f"  complaints        {s.complaints} ({s.complaints_answered} answered)",
        f"  {rollups}",
        "",
        f"planner token: {s.planner_token}",
        *(
            [f"admin token:   {s.admin_token}  (the database's first; shown once, stored hashed)"]
            if s.admin_token
            else []
        ),
        f"dashboard:     {dashboard}  (paste the token; region {s.region}, "
        f"from {s.days[0]} to {s.days[-1]})",
    ]
    print("\n".join(lines), file=out, flush=True)


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=int, default=7, help="days to simulate, ending today (1-60)")
    p.add_argument("--travellers", type=int, default=1500, help="travellers (1-100000)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (deterministic plan)")
    p.add_argument("--url", help="a running onecode server (needs ONECODE_ADMIN_TOKEN)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


@command("demo", "fill a Guizhou region and simulate days of travellers", _demo_args)
def demo(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.days <= 60 or not 1 <= args.travellers <= 100_000:
        print("onecode demo: --days must be 1-60 and --travellers 1-100000", file=sys.stderr)
        return 2
    plan = make_plan(
        days=args.days, travellers=args.travellers, seed=args.seed, now=datetime.now(UTC)
    )
    progress = Progress(not args.quiet)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    try:
        if args.url:
            if not settings.admin_token:
                print("onecode demo --url needs ONECODE_ADMIN_TOKEN", file=sys.stderr)
                return 2
            summary = asyncio.run(run_remote(args.url, settings.admin_token, plan, progress))
            rollups = "rollups: the server advances them every ONECODE_ROLLUP_INTERVAL_SECONDS"
            dashboard = args.url.rstrip("/") + "/planner/"
        else:
            from onecode.cli import database_url
            from onecode.migrate import migrate

            dsn, embedded = database_url(settings)
            try:
                asyncio.run(migrate(dsn))
                settings = msgspec.structs.replace(settings, database_url=dsn)
                summary = asyncio.run(run_in_process(settings, plan, progress))
                rollups = asyncio.run(advance_rollups(dsn))
            finally:
                if embedded is not None:
                    embedded.stop()  # type: ignore[attr-defined]
            dashboard = f"http://{settings.host}:{settings.port}/planner/"
    except (DemoError, httpx.HTTPError) as exc:
        print(f"\nonecode demo: {exc}", file=sys.stderr)
        return 1
    print_summary(summary, dashboard, rollups)
    return 0
