"""The demo's plan: who visits what and when, drawn from a seed before anything is sent,
and the venue capacities sized to the sample."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from onecode.demo.data import ATTRACTION_BY_KEY, ATTRACTIONS, COMPLAINTS, HOMES, TZ, Attraction


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


def local_time(day: date, hours: float) -> datetime:
    """``hours`` after local midnight of ``day`` in Guizhou, as an aware UTC datetime."""
    base = datetime.combine(day, time(0), TZ) + timedelta(hours=hours)
    return base.astimezone(UTC)


#: Gates open at 08:00 local; the earliest simulated entry is 07:30.
FIRST_ENTRY_HOUR = 8


def make_plan(*, days: int, travellers: int, seed: int, now: datetime) -> Plan:
    """Draw who visits what and when; the last simulated day is today (in Guizhou), or
    yesterday while today's gates have not opened yet (before 08:00: a demo started at
    night would otherwise show an empty last day)."""
    rng = random.Random(seed)
    local_now = now.astimezone(TZ)
    today = local_now.date()
    last = today if local_now.hour >= FIRST_ENTRY_HOUR else today - timedelta(days=1)
    day_list = [last - timedelta(days=days - 1 - i) for i in range(days)]
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
                enter = local_time(d, clock)
                leave_h = min(clock + dwell, 22.5 if not here.gated else 19.0)
                leave = local_time(d, leave_h)
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
            slot_start = local_time(day, hour)
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
