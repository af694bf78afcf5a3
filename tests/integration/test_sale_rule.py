"""onecode_sale_refusal: the one rule of whether a slot is on sale, for bookings and the
waiting list (its callers' case tables run it through the API; this one runs it bare)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

NOW = datetime(2026, 5, 2, 1, 0, tzinfo=UTC)
ON_SALE: dict[str, Any] = {
    "active": True,
    "cancelled_at": None,
    "party": 2,
    "max_party": 10,
    "ends_at": NOW + timedelta(hours=2),
    "late_grace": 30,
    "local_day": date(2026, 5, 2),
    "today": date(2026, 5, 2),
    "window": 14,
    "lottery": False,
    "walkin": False,
}

CASES: list[tuple[dict[str, Any], str | None]] = [
    ({}, None),
    ({"active": False, "party": 11}, "venue_inactive"),  # the first refusal wins
    ({"cancelled_at": NOW}, "slot_cancelled"),
    ({"party": 11}, "party_too_large"),
    ({"ends_at": NOW + timedelta(minutes=30)}, "sale_closed"),  # end minus the late grace
    ({"ends_at": NOW + timedelta(minutes=31)}, None),  # walk-up: under way, still on sale
    ({"local_day": date(2026, 5, 17)}, "outside_window"),
    ({"local_day": date(2026, 5, 16)}, None),
    ({"lottery": True}, "lottery_open"),
    ({"lottery": True, "walkin": True}, None),  # the staffed window sells a lottery day
]


@pytest.mark.parametrize(("change", "expected"), CASES)
async def test_the_first_refusal_or_none(
    conn: asyncpg.Connection, change: dict[str, Any], expected: str | None
) -> None:
    a = {**ON_SALE, **change}
    rows = await conn.fetch(
        "SELECT outcome, body::text AS body FROM onecode_sale_refusal("
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        a["active"],
        a["cancelled_at"],
        a["party"],
        a["max_party"],
        NOW,
        a["ends_at"],
        a["late_grace"],
        a["local_day"],
        a["today"],
        a["window"],
        a["lottery"],
        a["walkin"],
    )
    assert [r["outcome"] for r in rows] == ([] if expected is None else [expected])
