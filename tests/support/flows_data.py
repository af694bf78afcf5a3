"""A hand-built dataset of raw facts for the flow tests, where every number is known.

Day D = Monday 2026-05-04, all venues in Asia/Shanghai. Groups of travellers:

- G1, 12 from CN-BJ, party of 2: venue A in 09:05, out 10:15 (70 min), venue C in
  11:00 and never out. Twelve bookings at A (10 used, 2 no-show), booked 3 days ahead.
  Ten of them complain about A; eight answers, four after 2 h and four after 4 h.
- G2, 9 from CN-SH (k - 1): self check-in at C 08:00, then A in 10:20, out 10:40
  (20 min); a rejected scan at A 09:00 each. Nine bookings at A (5 used, 3 no-show,
  1 cancelled), booked 12 h ahead.
- G3, 15 with no home region, party of 6: A in 14:00, out 18:30 (270 min), in again
  19:00, out 19:45 (45 min). Reviews of A: 10 rate 5, 5 rate 4.
- B (Yunnan) gets 11 travellers of G3 at 09:00 on D+1 (out of planner x's scope).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from onecode.gates.models import NO_TRAVELLER
from tests.conftest import World

TZ = ZoneInfo("Asia/Shanghai")
D = date(2026, 5, 4)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ)


@dataclass
class Dataset:
    venue_a: uuid.UUID
    venue_b: uuid.UUID
    venue_c: uuid.UUID
    gate_a: uuid.UUID
    gate_b: uuid.UUID
    gate_c: uuid.UUID
    g1: list[uuid.UUID] = field(default_factory=list)
    g2: list[uuid.UUID] = field(default_factory=list)
    g3: list[uuid.UUID] = field(default_factory=list)
    secret_ids: set[uuid.UUID] = field(default_factory=set)  # must never leave the database

    async def scan(
        self,
        conn: asyncpg.Connection,
        traveller: uuid.UUID,
        venue: str,
        direction: str,
        when: datetime,
        *,
        party: int = 1,
        decision: str = "accept",
        offline: bool = False,
    ) -> None:
        gate = {"a": self.gate_a, "b": self.gate_b, "c": self.gate_c}[venue]
        venue_id = {"a": self.venue_a, "b": self.venue_b, "c": self.venue_c}[venue]
        scan_id = uuid.uuid4()
        self.secret_ids.add(scan_id)
        await conn.execute(
            "INSERT INTO scans (gate_id, scan_id, venue_id, traveller_id, direction, decision,"
            " reason, party_size, device_time, offline) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
            gate,
            scan_id,
            venue_id,
            traveller,
            direction,
            decision,
            "ok" if decision == "accept" else "no_booking",
            party if decision == "accept" else 0,
            when,
            offline,
        )


async def _travellers(
    conn: asyncpg.Connection, data: Dataset, n: int, home: str | None
) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    await conn.executemany(
        "INSERT INTO travellers (id, display_name, home_region) VALUES ($1, $2, $3)",
        [(i, f"Traveller {i.hex[:6]}", home) for i in ids],
    )
    data.secret_ids.update(ids)
    return ids


async def build(conn: asyncpg.Connection, world: World) -> Dataset:
    # free entry, counted at its gate (a gate only at a gated venue)
    c = await world.venue("CN-GZ", "Qingyan Ancient Town", gated=True, requires_booking=False)
    gate_c = await world.post(f"/v1/admin/venues/{c['id']}/gates", {"name": "gate c"})
    data = Dataset(
        venue_a=uuid.UUID(world.ids["venue_a"]),
        venue_b=uuid.UUID(world.ids["venue_b"]),
        venue_c=uuid.UUID(c["id"]),
        gate_a=uuid.UUID(world.ids["gate_a"]),
        gate_b=uuid.UUID(world.ids["gate_b"]),
        gate_c=uuid.UUID(gate_c["id"]),
    )
    data.g1 = await _travellers(conn, data, 12, "CN-BJ")
    data.g2 = await _travellers(conn, data, 9, "CN-SH")
    data.g3 = await _travellers(conn, data, 15, None)
    for t in data.g1:
        await data.scan(conn, t, "a", "in", at(D, 9, 5), party=2)
        await data.scan(conn, t, "a", "out", at(D, 10, 15), party=2)
        await data.scan(conn, t, "c", "in", at(D, 11, 0), party=2)
    for t in data.g2:
        cid = uuid.uuid4()
        data.secret_ids.add(cid)
        await conn.execute(
            "INSERT INTO checkins (traveller_id, venue_id, local_day, id, checked_in_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            t,
            data.venue_c,
            D,
            cid,
            at(D, 8, 0),
        )
        await data.scan(conn, t, "a", "in", at(D, 9, 0), decision="reject")
        await data.scan(conn, t, "a", "in", at(D, 10, 20))
        await data.scan(conn, t, "a", "out", at(D, 10, 40))
    for t in data.g3:
        await data.scan(conn, t, "a", "in", at(D, 14, 0), party=6)
        await data.scan(conn, t, "a", "out", at(D, 18, 30), party=6)
        await data.scan(conn, t, "a", "in", at(D, 19, 0), party=6)
        await data.scan(conn, t, "a", "out", at(D, 19, 45), party=6)
    for t in data.g3[:11]:
        await data.scan(conn, t, "b", "in", at(D + timedelta(days=1), 9, 0))
    # an unreadable code: no traveller, rejected
    await data.scan(conn, NO_TRAVELLER, "a", "in", at(D, 12, 0), decision="reject")

    # bookings at A: one slot 09:00-10:00 of 50 places
    slot = uuid.uuid4()
    await conn.execute(
        "INSERT INTO slots (id, venue_id, starts_at, ends_at) VALUES ($1, $2, $3, $4)",
        slot,
        data.venue_a,
        at(D, 9),
        at(D, 10),
    )
    await conn.execute(
        "INSERT INTO slot_counters (venue_id, slot_id, capacity, booked) VALUES ($1, $2, 50, 20)",
        data.venue_a,
        slot,
    )
    statuses = [("used", 3.0)] * 10 + [("no_show", 3.0)] * 2
    statuses += [("used", 0.5)] * 5 + [("no_show", 0.5)] * 3 + [("cancelled", 0.5)]
    for t, (status, ahead) in zip(data.g1 + data.g2, statuses, strict=True):
        bid = uuid.uuid4()
        data.secret_ids.add(bid)
        await conn.execute(
            "INSERT INTO bookings (id, traveller_id, slot_id, venue_id, party_size, status,"
            " starts_at, ends_at, local_day, created_at) VALUES ($1,$2,$3,$4,1,$5,$6,$7,$8,$9)",
            bid,
            t,
            slot,
            data.venue_a,
            status,
            at(D, 9),
            at(D, 10),
            D,
            at(D, 9) - timedelta(days=ahead),
        )
    for i, t in enumerate(data.g3):
        rid = uuid.uuid4()
        data.secret_ids.add(rid)
        await conn.execute(
            "INSERT INTO reviews (traveller_id, id, venue_id, visit_day, rating, text, created_at)"
            " VALUES ($1, $2, $3, $4, $5, 'fine', $6)",
            t,
            rid,
            data.venue_a,
            D,
            5 if i < 10 else 4,
            at(D, 20),
        )
    for i, t in enumerate(data.g1[:10]):
        cid = uuid.uuid4()
        data.secret_ids.add(cid)
        answered = None if i >= 8 else at(D, 12) + timedelta(hours=2 if i < 4 else 4)
        await conn.execute(
            "INSERT INTO complaints (traveller_id, id, venue_id, category, text, status,"
            " answered_at, answer_rating, created_at) VALUES ($1,$2,$3,'queue','long',$4,$5,$6,$7)",
            t,
            cid,
            data.venue_a,
            "open" if answered is None else "answered",
            answered,
            None if answered is None else (4 if i % 2 else 5),
            at(D, 12),
        )
    return data
