"""HTTP routes of reviews: travellers write after a visit, anyone reads."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from onecode.auth import Caller, Kind, allow
from onecode.db import Conn
from onecode.http.paging import MAX_CURSOR_LEN
from onecode.reviews import service
from onecode.reviews.models import Review, ReviewIn, ReviewPage

CursorQuery = Annotated[
    str | None, QueryParameter(name="cursor", required=False, max_length=MAX_CURSOR_LEN)
]
LimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=100)]


class ReviewController(Controller):
    path = "/v1/venues/{venue_id:uuid}/reviews"
    tags = ["reviews"]

    @post("/", guards=[allow(Kind.TRAVELLER)], opt={"rate_limit": "review"})
    async def create_review(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        data: JSONBody[ReviewIn],
        request: Request[Any, Any, Any],
    ) -> Review:
        """Review a venue after a visit (one review per visit; 403 without a visit)."""
        return await service.create_review(conn, principal.id, venue_id, data)

    @get("/")
    async def list_reviews(
        self,
        conn: Conn,
        venue_id: FromPath[uuid.UUID],
        cursor: CursorQuery = None,
        limit: LimitQuery = 20,
    ) -> ReviewPage:
        """A venue's reviews, newest first, a page at a time (opaque ``cursor``)."""
        return await service.list_reviews(conn, venue_id, cursor, limit)


ROUTES = [ReviewController]
