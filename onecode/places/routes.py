"""HTTP routes of place codes: resolve, self check-in, the operator's code, rotation, poster."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from litestar import Controller, Litestar, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from onecode.audit.trail import Actor
from onecode.auth import Caller, Kind, allow, require_venue
from onecode.catalog.place_keys import load_place_keys
from onecode.codes.place import PlaceKeys
from onecode.db import Conn
from onecode.places import service
from onecode.places.models import Checkin, Place, PlaceCode


@asynccontextmanager
async def place_keys_lifespan(app: Litestar) -> AsyncGenerator[None, None]:
    """Load the place code secrets once the pool is up (codes are checked without a query)."""
    async with app.state.pool.acquire() as conn:
        app.state.place_keys = await load_place_keys(conn)
    yield


def _keys(state: State) -> PlaceKeys:
    keys: PlaceKeys = state.place_keys
    return keys


class PlaceController(Controller):
    path = "/v1/places"
    tags = ["places"]

    @get("/{place_code:str}")
    async def resolve(self, conn: Conn, state: State, place_code: FromPath[str]) -> Place:
        """Resolve a poster's place code: the venue's public info and live crowd level."""
        return await service.resolve(conn, _keys(state), place_code)

    @post(
        "/{place_code:str}/checkin", guards=[allow(Kind.TRAVELLER)], opt={"rate_limit": "checkin"}
    )
    async def check_in(
        self, conn: Conn, state: State, principal: Caller, place_code: FromPath[str]
    ) -> Response[Checkin]:
        """Self check-in at an ungated venue (201; the same local day again: 200, the first)."""
        checkin = await service.check_in(conn, _keys(state), place_code, principal.id)
        return Response(checkin, status_code=HTTP_201_CREATED if checkin.created else HTTP_200_OK)


class VenuePlaceCodeController(Controller):
    path = "/v1/venues/{venue_id:uuid}/place-code"
    tags = ["places"]
    guards = [allow(Kind.ADMIN, Kind.OPERATOR)]

    @get("/")
    async def current(
        self, conn: Conn, principal: Caller, venue_id: FromPath[uuid.UUID]
    ) -> PlaceCode:
        """The venue's current place code (operator of the venue, or admin)."""
        require_venue(principal, venue_id)
        return await service.place_code(conn, venue_id)

    @post("/rotate", status_code=HTTP_200_OK)
    async def rotate(
        self, conn: Conn, state: State, principal: Caller, venue_id: FromPath[uuid.UUID]
    ) -> PlaceCode:
        """Replace the place code with a new one; the old code stops resolving (404)."""
        require_venue(principal, venue_id)
        return await service.rotate(conn, _keys(state), venue_id, Actor.of(principal))


class VenuePosterController(Controller):
    path = "/v1/venues/{venue_id:uuid}"
    tags = ["places"]
    guards = [allow(Kind.ADMIN, Kind.OPERATOR)]

    @get("/place-code.svg", media_type="image/svg+xml")
    async def poster_svg(
        self, conn: Conn, principal: Caller, venue_id: FromPath[uuid.UUID]
    ) -> bytes:
        """The poster QR of the venue's place code as SVG."""
        require_venue(principal, venue_id)
        code = await service.place_code(conn, venue_id)
        return await asyncio.to_thread(service.poster, code, "svg")

    @get("/place-code.png", media_type="image/png")
    async def poster_png(
        self, conn: Conn, principal: Caller, venue_id: FromPath[uuid.UUID]
    ) -> bytes:
        """The poster QR of the venue's place code as PNG."""
        require_venue(principal, venue_id)
        code = await service.place_code(conn, venue_id)
        return await asyncio.to_thread(service.poster, code, "png")


ROUTES = [PlaceController, VenuePlaceCodeController, VenuePosterController]
LIFESPANS = [place_keys_lifespan]
