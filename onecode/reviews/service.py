"""Review rules: only after a visit, one review per visit, exact venue aggregates.

A visit of traveller T at venue V on local day D is an accepted entry scan there
(``device_time`` in the venue's time zone) or a place-code check-in. A new review
attaches to the most recent visit day not reviewed yet.
"""

from __future__ import annotations

import uuid

import asyncpg

from onecode.errors import Conflict, Forbidden, NotFound
from onecode.http.paging import decode_cursor, encode_cursor
from onecode.http.text import clean_text
from onecode.reviews.models import MAX_TEXT, Review, ReviewIn, ReviewPage
from onecode.sql import Q

ANONYMOUS = "anonymous"
# each retry follows a day taken by a concurrent review of the same traveller, so
# the loop ends when the open days do; the bound only guards against a bug
_ATTEMPTS = 50


def _review(row: asyncpg.Record) -> Review:
    return Review(
        id=row["id"],
        venue_id=row["venue_id"],
        rating=int(row["rating"]),
        text=row["text"],
        visit_day=row["visit_day"],
        created_at=row["created_at"],
        display_name=row["display_name"] or ANONYMOUS,
    )


async def create_review(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, venue_id: uuid.UUID, data: ReviewIn
) -> Review:
    text = clean_text(data.text, max_len=MAX_TEXT, code="reviews.bad_text")
    for _ in range(_ATTEMPTS):
        row = await conn.fetchrow(
            Q()["reviews_insert_review"], traveller_id, venue_id, uuid.uuid4(), data.rating, text
        )
        assert row is not None
        if not row["venue_found"]:
            raise NotFound("No such venue.", "venues.not_found")
        if not row["visited"]:
            raise Forbidden(
                "Reviews need a visit: an accepted entry or a place-code check-in there.",
                "reviews.no_visit",
            )
        if row["id"] is not None:
            return _review(row)
        if not row["open_visit"]:
            break
        # the open day was taken by a concurrent review of the same traveller: a new
        # statement (fresh snapshot) finds the next open day, or none
    raise Conflict("Every visit to this venue has a review already.", "reviews.duplicate")


async def list_reviews(
    conn: asyncpg.Connection, venue_id: uuid.UUID, cursor: str | None, limit: int
) -> ReviewPage:
    rating = await conn.fetchrow(Q()["reviews_select_rating"], venue_id)
    if rating is None:
        raise NotFound("No such venue.", "venues.not_found")
    if cursor is None:
        rows = await conn.fetch(Q()["reviews_select_first_page"], venue_id, limit + 1)
    else:
        position = decode_cursor(cursor)
        rows = await conn.fetch(
            Q()["reviews_select_next_page"],
            venue_id,
            limit + 1,
            position.created_at,
            position.id,
        )
    reviews = [_review(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = reviews[-1]
        next_cursor = encode_cursor(last.created_at, last.id)
    count = int(rating["rating_count"])
    return ReviewPage(
        items=reviews,
        reviews=reviews,
        next_cursor=next_cursor,
        rating=round(int(rating["rating_sum"]) / count, 2) if count else None,
        rating_count=count,
    )
