"""HTTP routes of bookings: parse, authorize, call the service, shape the answer.

``LIFESPANS`` runs the periodic sweep (no-shows, expired idempotency keys) while the
app serves; it starts after the pool lifespan and survives database errors.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from litestar import Controller, Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from onecode.auth import Caller, Kind, allow
from onecode.bookings import service
from onecode.bookings.models import Booking, BookingIn, BookingListing, Status
from onecode.db import Conn
from onecode.errors import AppError
from onecode.observability import record_booking
from onecode.tasks import running

T = TypeVar("T")

IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)]
StatusQuery = Annotated[Status | None, QueryParameter(name="status", required=False)]
LimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=500)]


class BookingController(Controller):
    path = "/v1"
    tags = ["bookings"]
    guards = [allow(Kind.TRAVELLER)]

    @post("/bookings", opt={"rate_limit": "booking"}, status_code=201)
    async def create_booking(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        request: Request[Any, Any, State],
        data: JSONBody[BookingIn],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Booking]:
        """Book places on a timed-entry slot (never oversold; Idempotency-Key replays)."""
        key = service.check_idempotency_key(idempotency_key)
        try:
            booked = await service.book(
                conn,
                principal.id,
                data,
                idempotency_key=key,
                key_ttl_hours=state.settings.idempotency_ttl_hours,
            )
        except AppError as exc:
            record_booking(exc.code)  # bookings.slot_full, bookings.daily_limit, ...
            raise
        record_booking("replayed" if booked.replayed else "created")
        headers = {"Idempotent-Replayed": "true"} if booked.replayed else None
        return Response(booked.booking, status_code=201, headers=headers)

    @get("/me/bookings")
    async def list_my_bookings(
        self, conn: Conn, principal: Caller, status: StatusQuery = None, limit: LimitQuery = 100
    ) -> BookingListing:
        """The traveller's own bookings, newest first (optionally of one status).

        Changed in 0.2: the answer is ``{items, next_cursor}``, no longer a bare array."""
        return BookingListing(items=await service.list_bookings(conn, principal.id, status, limit))

    @get("/bookings/{booking_id:uuid}")
    async def get_booking(
        self, conn: Conn, principal: Caller, booking_id: FromPath[uuid.UUID]
    ) -> Booking:
        """One of the traveller's own bookings."""
        return await service.get_booking(conn, principal.id, booking_id)

    @post("/bookings/{booking_id:uuid}/cancel", status_code=200)
    async def cancel_booking(
        self, conn: Conn, principal: Caller, booking_id: FromPath[uuid.UUID]
    ) -> Booking:
        """Cancel an own booking before its slot starts; the places are freed."""
        booking = await service.cancel(conn, principal.id, booking_id)
        record_booking("cancelled")
        return booking


@asynccontextmanager
async def sweep_lifespan(app: Litestar) -> AsyncGenerator[None, None]:
    """Mark no-shows and purge expired idempotency keys every minute while serving."""
    settings = app.state.settings
    sweep = service.run_periodically(
        lambda: service.sweep(app.state.pool, settings.idempotency_ttl_hours),
        service.NO_SHOW_INTERVAL_SECONDS,
    )
    async with running(sweep, "bookings-sweep"):
        yield


ROUTES = [BookingController]
LIFESPANS = [sweep_lifespan]
