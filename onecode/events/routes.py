"""HTTP routes of a traveller's notifications."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from onecode.auth import Caller, Kind, allow
from onecode.db import Conn
from onecode.events import service
from onecode.events.models import NotificationPage
from onecode.http.paging import MAX_CURSOR_LEN

CursorQuery = Annotated[
    str | None, QueryParameter(name="cursor", required=False, max_length=MAX_CURSOR_LEN)
]
LimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=100)]


@get("/v1/me/notifications", tags=["travellers"], guards=[allow(Kind.TRAVELLER)])
async def my_notifications(
    conn: Conn, principal: Caller, cursor: CursorQuery = None, limit: LimitQuery = 50
) -> NotificationPage:
    """The traveller's notifications, newest first: waiting-list offers, bookings the
    venue cancelled, answers to complaints."""
    return await service.notifications(conn, principal.id, cursor, limit)


ROUTES = [my_notifications]
