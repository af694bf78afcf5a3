"""HTTP routes of fair allocation: the waiting list, walk-ins at the staffed window and
lotteries. ``LIFESPANS`` runs the allocation worker (offer rounds, draws) while the app
serves; every process may run one (SKIP LOCKED shares the queue)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated

from litestar import Controller, Litestar, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from onecode.allocation import service, worker
from onecode.allocation.models import (
    Application,
    ApplicationIn,
    ApplicationPage,
    Draw,
    Lottery,
    LotteryIn,
    LotteryPage,
    WaitlistEntry,
    WaitlistIn,
    WaitlistPage,
    Walkin,
    WalkinIn,
)
from onecode.auth import Caller, Kind, allow, require_venue
from onecode.bookings.models import Booking
from onecode.db import Conn
from onecode.tasks import running

LimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=500)]
SinceQuery = Annotated[date | None, QueryParameter(name="since", required=False)]


class WaitlistController(Controller):
    path = "/v1"
    tags = ["waitlist"]
    guards = [allow(Kind.TRAVELLER)]

    @post("/slots/{slot_id:uuid}/waitlist", status_code=201)
    async def join(
        self,
        conn: Conn,
        principal: Caller,
        slot_id: FromPath[uuid.UUID],
        data: JSONBody[WaitlistIn],
    ) -> WaitlistEntry:
        """Join the waiting list of a full slot; offers come in order, each with an expiry."""
        return await service.join_waitlist(conn, principal.id, slot_id, data)

    @get("/me/waitlist")
    async def mine(self, conn: Conn, principal: Caller, limit: LimitQuery = 100) -> WaitlistPage:
        """The traveller's waiting-list entries, newest first, with their state."""
        return WaitlistPage(items=await service.my_waitlist(conn, principal.id, limit))

    @get("/me/waitlist/{entry_id:uuid}")
    async def one(
        self, conn: Conn, principal: Caller, entry_id: FromPath[uuid.UUID]
    ) -> WaitlistEntry:
        """One of the traveller's waiting-list entries."""
        return await service.my_entry(conn, principal.id, entry_id)

    @delete("/me/waitlist/{entry_id:uuid}", status_code=200)
    async def leave(
        self, conn: Conn, principal: Caller, entry_id: FromPath[uuid.UUID]
    ) -> WaitlistEntry:
        """Leave the waiting list (an open offer is declined and passes on)."""
        return await service.leave_waitlist(conn, principal.id, entry_id)

    @post("/me/waitlist/{entry_id:uuid}/accept", status_code=201)
    async def accept(
        self, conn: Conn, principal: Caller, entry_id: FromPath[uuid.UUID]
    ) -> Response[Booking]:
        """Accept an offer: the held places become a booking (atomic; again = same booking)."""
        booking, replayed = await service.accept_offer(conn, principal.id, entry_id)
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return Response(booking, status_code=201, headers=headers)


class LotteryApplicationController(Controller):
    path = "/v1"
    tags = ["lotteries"]
    guards = [allow(Kind.TRAVELLER)]

    @post("/lotteries/{lottery_id:uuid}/applications", status_code=201)
    async def apply(
        self,
        conn: Conn,
        principal: Caller,
        lottery_id: FromPath[uuid.UUID],
        data: JSONBody[ApplicationIn],
    ) -> Application:
        """Apply to a lottery (one application per traveller) until its deadline."""
        return await service.apply(conn, principal.id, lottery_id, data)

    @get("/me/applications")
    async def mine(self, conn: Conn, principal: Caller, limit: LimitQuery = 100) -> ApplicationPage:
        """The traveller's lottery applications and their results."""
        return ApplicationPage(items=await service.my_applications(conn, principal.id, limit))


class VenueAllocationController(Controller):
    path = "/v1/venues/{venue_id:uuid}"
    tags = ["allocation"]

    @post("/walkins", guards=[allow(Kind.ADMIN, Kind.OPERATOR)], status_code=201)
    async def walkin(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        venue_id: FromPath[uuid.UUID],
        data: JSONBody[WalkinIn],
    ) -> Walkin:
        """Book a walk-in traveller at the staffed window (uses the walk-in quota first);
        the traveller is registered here and their code is returned for printing."""
        require_venue(principal, venue_id)
        return await service.book_walkin(
            conn, state.keystore, venue_id, data, state.settings.code_ttl_days
        )

    @post("/lotteries", guards=[allow(Kind.ADMIN, Kind.OPERATOR)], status_code=201)
    async def open_lottery(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        data: JSONBody[LotteryIn],
    ) -> Lottery:
        """Give a future day by lottery: applications until ``closes_at``, then a seeded draw."""
        require_venue(principal, venue_id)
        return await service.open_lottery(conn, venue_id, data)

    @get("/lotteries")
    async def list_lotteries(
        self, conn: Conn, venue_id: FromPath[uuid.UUID], since: SinceQuery = None
    ) -> LotteryPage:
        """The venue's lotteries from a day on (default: all): open ones take applications."""
        return LotteryPage(items=await service.list_lotteries(conn, venue_id, since or date.min))

    @get("/lotteries/{lottery_id:uuid}/draw", guards=[allow(Kind.ADMIN, Kind.OPERATOR)])
    async def draw(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        lottery_id: FromPath[uuid.UUID],
    ) -> Draw:
        """The audit of a draw: the seed, and every application's ticket, rank and result."""
        require_venue(principal, venue_id)
        return await service.get_draw(conn, lottery_id, venue_id)


@asynccontextmanager
async def worker_lifespan(app: Litestar) -> AsyncGenerator[None, None]:
    """Run the allocation worker while serving (``allocation_idle_seconds`` 0: not here)."""
    idle = app.state.settings.allocation_idle_seconds
    if idle <= 0:
        yield
        return
    async with running(worker.work(app.state.pool, idle=idle), "allocation-worker"):
        yield


ROUTES = [WaitlistController, LotteryApplicationController, VenueAllocationController]
LIFESPANS = [worker_lifespan]
