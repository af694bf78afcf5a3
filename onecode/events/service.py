"""Recording events and reading a traveller's notifications."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec

from onecode.events.models import EventType, Notification, NotificationPage
from onecode.http.paging import decode_cursor, encode_cursor
from onecode.sql import Q


async def emit(
    conn: asyncpg.Connection,
    event: EventType,
    payload: dict[str, Any],
    *,
    region: str | None = None,
    venue: uuid.UUID | None = None,
    traveller: uuid.UUID | None = None,
) -> uuid.UUID:
    """Record an event in the caller's transaction (SQL callers use the function itself)."""
    event_id: uuid.UUID = await conn.fetchval(
        "SELECT onecode_emit_event($1, $2, $3, $4::text::jsonb, $5)",
        event.value,
        region,
        venue,
        msgspec.json.encode(payload).decode(),
        traveller,
    )
    return event_id


async def notifications(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, cursor: str | None, limit: int
) -> NotificationPage:
    at = decode_cursor(cursor) if cursor is not None else None
    rows = await conn.fetch(
        Q()["events_select_notifications"],
        traveller_id,
        limit + 1,
        at.created_at if at else None,
        at.id if at else None,
    )
    items = [msgspec.convert(dict(r), Notification) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id)
    return NotificationPage(items=items, next_cursor=next_cursor)
