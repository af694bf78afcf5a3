"""Complaint rules: anyone may file against a venue; only that venue's operators (or an
admin) see and answer it; only its traveller rates the answer, once there is one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec

from onecode.audit import trail as audit
from onecode.audit.trail import Actor
from onecode.complaints.models import (
    MAX_TEXT,
    AnswerIn,
    Complaint,
    ComplaintIn,
    ComplaintPage,
    RatingIn,
    Status,
)
from onecode.errors import Conflict, NotFound
from onecode.events.models import EventType
from onecode.events.service import emit
from onecode.http.paging import decode_cursor, encode_cursor
from onecode.http.text import clean_text
from onecode.sql import Q


def _complaint(row: asyncpg.Record) -> Complaint:
    return msgspec.convert(dict(row), Complaint)


def _not_found() -> NotFound:
    return NotFound("No such complaint.", "complaints.not_found")


async def file_complaint(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, data: ComplaintIn
) -> Complaint:
    text = clean_text(data.text, max_len=MAX_TEXT, code="complaints.bad_text")
    row = await conn.fetchrow(
        Q()["complaints_insert_complaint"],
        traveller_id,
        uuid.uuid4(),
        data.venue_id,
        data.category,
        text,
    )
    if row is None:
        raise NotFound("No such venue.", "venues.not_found")
    return _complaint(row)


def _page(rows: list[asyncpg.Record], limit: int) -> ComplaintPage:
    items = [_complaint(r) for r in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        cursor = encode_cursor(items[-1].created_at, items[-1].id)
    return ComplaintPage(items=items, complaints=items, next_cursor=cursor)


async def my_complaints(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, cursor: str | None, limit: int
) -> ComplaintPage:
    at = decode_cursor(cursor) if cursor is not None else None
    rows = await conn.fetch(
        Q()["complaints_select_mine"],
        traveller_id,
        limit + 1,
        at.created_at if at else None,
        at.id if at else None,
    )
    return _page(rows, limit)


async def venue_complaints(
    conn: asyncpg.Connection,
    venue_id: uuid.UUID,
    status: Status | None,
    cursor: str | None,
    limit: int,
) -> ComplaintPage:
    at = decode_cursor(cursor) if cursor is not None else None
    rows = await conn.fetch(
        Q()["complaints_select_for_venue"],
        venue_id,
        limit + 1,
        at.created_at if at else None,
        at.id if at else None,
        status,
    )
    return _page(rows, limit)


async def answer(
    conn: asyncpg.Connection,
    complaint_id: uuid.UUID,
    venue_ids: list[uuid.UUID] | None,
    answered_by: uuid.UUID,
    data: AnswerIn,
    actor: Actor | None = None,
) -> Complaint:
    """Answer (or edit the answer); ``venue_ids`` None is an admin's unlimited scope."""
    text = clean_text(data.text, max_len=MAX_TEXT, code="complaints.bad_text")
    now = datetime.now(UTC)
    async with conn.transaction():
        row = await conn.fetchrow(
            Q()["complaints_answer_complaint"], complaint_id, venue_ids, text, answered_by, now
        )
        if row is None:
            raise _not_found()
        complaint = _complaint(row)
        # the traveller hears of it (notifications, webhooks) if and only if it commits
        await emit(
            conn,
            EventType.COMPLAINT_ANSWERED,
            {
                "complaint_id": str(complaint.id),
                "category": complaint.category,
                "answered_at": now.isoformat(),
                "first_answer": complaint.answered_at == now,
            },
            venue=complaint.venue_id,
            traveller=row["traveller_id"],
        )
        if actor is not None:  # the audit keeps no text: it may quote the traveller
            await audit.record(
                conn,
                actor,
                "complaint.answered",
                "complaint",
                complaint_id,
                venue_id=complaint.venue_id,
                after={"answer_length": len(text)},
            )
    return complaint


async def rate_answer(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, complaint_id: uuid.UUID, data: RatingIn
) -> Complaint:
    row = await conn.fetchrow(
        Q()["complaints_rate_answer"], traveller_id, complaint_id, data.rating
    )
    if row is not None:
        return _complaint(row)
    answered = await conn.fetchval(Q()["complaints_select_answered"], traveller_id, complaint_id)
    if answered is None:
        raise _not_found()
    raise Conflict("The complaint has no answer to rate yet.", "complaints.not_answered")
