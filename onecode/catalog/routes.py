"""HTTP routes of the catalog: parse, authorize, call the service, shape the answer."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from onecode.audit.trail import Actor
from onecode.auth import Caller, Kind, allow, require_venue
from onecode.catalog import service
from onecode.catalog.models import (
    Created,
    GateIn,
    Live,
    OperatorIn,
    PlannerIn,
    Region,
    RegionIn,
    SlotList,
    SlotListing,
    SlotsIn,
    Venue,
    VenueCreated,
    VenueIn,
    VenueListing,
)
from onecode.db import Conn

RegionQuery = Annotated[
    str | None,
    QueryParameter(name="region", pattern=r"^[A-Z0-9][A-Z0-9-]{0,31}$", required=False),
]


class AdminCatalogController(Controller):
    path = "/v1/admin"
    tags = ["admin"]
    guards = [allow(Kind.ADMIN)]

    @post("/regions")
    async def create_region(
        self, conn: Conn, principal: Caller, data: JSONBody[RegionIn]
    ) -> Region:
        """Create a region (province, prefecture or county)."""
        return await service.create_region(conn, data, Actor.of(principal))

    @post("/venues")
    async def create_venue(
        self, conn: Conn, principal: Caller, data: JSONBody[VenueIn]
    ) -> VenueCreated:
        """Create a venue with its entry rule, capacities and place code (contradictory
        settings are 422 ``venues.contradiction``)."""
        return await service.create_venue(conn, data, Actor.of(principal))

    @post("/venues/{venue_id:uuid}/gates")
    async def create_gate(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        data: JSONBody[GateIn],
    ) -> Created:
        """Register a gate device at a (gated) venue; its token is shown once."""
        return await service.create_gate(conn, venue_id, data, Actor.of(principal))

    @post("/operators")
    async def create_operator(
        self, conn: Conn, principal: Caller, data: JSONBody[OperatorIn]
    ) -> Created:
        """Create a venue operator; its token is shown once."""
        return await service.create_operator(conn, data, Actor.of(principal))

    @post("/planners")
    async def create_planner(
        self, conn: Conn, principal: Caller, data: JSONBody[PlannerIn]
    ) -> Created:
        """Create a regional planner; its token is shown once."""
        return await service.create_planner(conn, data, Actor.of(principal))


class VenueController(Controller):
    path = "/v1/venues"
    tags = ["venues"]

    @get("/")
    async def list_venues(self, conn: Conn, region: RegionQuery = None) -> VenueListing:
        """Venues (of a region and the regions below it) with rating and crowd level.

        Changed in 0.2: the answer is ``{items, next_cursor}``, no longer a bare array."""
        return VenueListing(items=await service.list_venues(conn, region))

    @get("/{venue_id:uuid}")
    async def get_venue(self, conn: Conn, venue_id: FromPath[uuid.UUID]) -> Venue:
        """One venue."""
        return await service.get_venue(conn, venue_id)

    @get("/{venue_id:uuid}/slots")
    async def list_slots(
        self,
        conn: Conn,
        venue_id: FromPath[uuid.UUID],
        day: Annotated[date, QueryParameter(name="date")],
    ) -> SlotListing:
        """Time slots of a local day with the places still free.

        Changed in 0.2: the answer is ``{items, next_cursor}``, no longer a bare array."""
        return SlotListing(items=await service.list_slots(conn, venue_id, day))

    @post("/{venue_id:uuid}/slots", guards=[allow(Kind.ADMIN, Kind.OPERATOR)])
    async def create_slots(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        data: JSONBody[SlotsIn],
    ) -> SlotList:
        """Create timed-entry slots in bulk (operator of the venue, or admin)."""
        require_venue(principal, venue_id)
        return SlotList(await service.create_slots(conn, venue_id, data, Actor.of(principal)))

    @get("/{venue_id:uuid}/live", guards=[allow(Kind.ADMIN, Kind.OPERATOR)])
    async def live(self, conn: Conn, principal: Caller, venue_id: FromPath[uuid.UUID]) -> Live:
        """Live occupancy: inside now against instantaneous capacity, with its level."""
        require_venue(principal, venue_id)
        return await service.live(conn, venue_id)


ROUTES = [AdminCatalogController, VenueController]
