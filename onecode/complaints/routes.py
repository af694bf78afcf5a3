"""HTTP routes of complaints: travellers file and rate, venue operators read and answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from onecode.audit.trail import Actor
from onecode.auth import Caller, Kind, allow, require_venue
from onecode.complaints import service
from onecode.complaints.models import (
    AnswerIn,
    Complaint,
    ComplaintIn,
    ComplaintPage,
    RatingIn,
    Status,
)
from onecode.db import Conn
from onecode.http.paging import MAX_CURSOR_LEN

CursorQuery = Annotated[
    str | None, QueryParameter(name="cursor", required=False, max_length=MAX_CURSOR_LEN)
]
LimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=100)]
StatusQuery = Annotated[Status | None, QueryParameter(name="status", required=False)]


class ComplaintController(Controller):
    path = "/v1/complaints"
    tags = ["complaints"]

    @post("/", guards=[allow(Kind.TRAVELLER)], opt={"rate_limit": "complaint"})
    async def file_complaint(
        self,
        conn: Conn,
        principal: Caller,
        data: JSONBody[ComplaintIn],
        request: Request[Any, Any, Any],
    ) -> Complaint:
        """File a complaint against a venue."""
        return await service.file_complaint(conn, principal.id, data)

    @post(
        "/{complaint_id:uuid}/answer",
        guards=[allow(Kind.OPERATOR, Kind.ADMIN)],
        status_code=HTTP_200_OK,
    )
    async def answer(
        self,
        conn: Conn,
        principal: Caller,
        complaint_id: FromPath[uuid.UUID],
        data: JSONBody[AnswerIn],
        request: Request[Any, Any, Any],
    ) -> Complaint:
        """Answer a complaint about one of the operator's venues (first answer time kept)."""
        scope = None if principal.kind is Kind.ADMIN else sorted(principal.venue_ids)
        return await service.answer(
            conn, complaint_id, scope, principal.id, data, Actor.of(principal)
        )

    @post("/{complaint_id:uuid}/rating", guards=[allow(Kind.TRAVELLER)], status_code=HTTP_200_OK)
    async def rate(
        self,
        conn: Conn,
        principal: Caller,
        complaint_id: FromPath[uuid.UUID],
        data: JSONBody[RatingIn],
        request: Request[Any, Any, Any],
    ) -> Complaint:
        """Rate the answer to one's own complaint (1..5; 409 before it is answered)."""
        return await service.rate_answer(conn, principal.id, complaint_id, data)


@get("/v1/me/complaints", tags=["complaints"], guards=[allow(Kind.TRAVELLER)])
async def my_complaints(
    conn: Conn, principal: Caller, cursor: CursorQuery = None, limit: LimitQuery = 20
) -> ComplaintPage:
    """The traveller's own complaints with status, answer and rating, newest first."""
    return await service.my_complaints(conn, principal.id, cursor, limit)


@get(
    "/v1/venues/{venue_id:uuid}/complaints",
    tags=["complaints"],
    guards=[allow(Kind.OPERATOR, Kind.ADMIN)],
)
async def venue_complaints(
    conn: Conn,
    principal: Caller,
    venue_id: FromPath[uuid.UUID],
    status: StatusQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 20,
) -> ComplaintPage:
    """Complaints about a venue (its operators, or admin), newest first."""
    require_venue(principal, venue_id)
    return await service.venue_complaints(conn, venue_id, status, cursor, limit)


ROUTES = [ComplaintController, my_complaints, venue_complaints]
