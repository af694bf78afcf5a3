"""HTTP routes of traveller identity, the traveller's code and the public key list."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from litestar import Controller, Litestar, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from onecode.auth import Caller, Kind, allow, require_venue
from onecode.db import Conn
from onecode.identity import service
from onecode.identity.images import ImageCache, ImageFormat
from onecode.identity.models import (
    Code,
    Keys,
    Me,
    PaperPass,
    Registered,
    Rotated,
    TravellerIn,
)

# The image is a bearer credential: no shared cache may keep it, and rotation replaces it.
_IMAGE_HEADERS = {"Cache-Control": "no-store"}


@asynccontextmanager
async def image_cache_lifespan(app: Litestar) -> AsyncGenerator[None, None]:
    """Give the app its rendered-QR cache (one per process, dropped on shutdown)."""
    app.state.code_images = ImageCache()
    try:
        yield
    finally:
        app.state.code_images.clear()


@post("/v1/travellers", tags=["travellers"], opt={"rate_limit": "register"})
async def register(conn: Conn, state: State, data: JSONBody[TravellerIn]) -> Registered:
    """Register a traveller: returns the access token and code secret (shown once)."""
    return await service.register(conn, data, state.settings.code_ttl_days)


@get("/v1/keys", tags=["codes"])
async def keys(state: State) -> Keys:
    """Public keys that verify TQ1 codes (the trust list a gate syncs)."""
    keys = state.keystore.ring().public_list()
    return Keys(keys=keys, items=keys)


async def _image(
    conn: Conn, principal: Caller, state: State, fmt: ImageFormat, media_type: str
) -> Response[bytes]:
    image = await service.code_image(conn, state.keystore, state.code_images, principal.id, fmt)
    return Response(content=image, media_type=media_type, headers=_IMAGE_HEADERS)


class MeController(Controller):
    path = "/v1/me"
    tags = ["travellers"]
    guards = [allow(Kind.TRAVELLER)]

    @get("/")
    async def me(self, conn: Conn, principal: Caller) -> Me:
        """The traveller's own profile."""
        return await service.me(conn, principal.id)

    @delete("/", status_code=204)
    async def erase(self, conn: Conn, principal: Caller, state: State) -> None:
        """Erase the account: personal data gone, code and tokens revoked (204)."""
        await service.erase(conn, principal.id)
        # effective at once in this process; other replicas within token_cache_seconds
        state.token_cache.forget_principal(principal.id)

    @get("/code")
    async def code(self, conn: Conn, principal: Caller, state: State) -> Code:
        """The current TQ1 code text, its generation and expiry."""
        return await service.current_code(conn, state.keystore, principal.id)

    @get("/code.svg", media_type="image/svg+xml")
    async def code_svg(self, conn: Conn, principal: Caller, state: State) -> Response[bytes]:
        """The current code as an SVG QR image."""
        return await _image(conn, principal, state, "svg", "image/svg+xml")

    @get("/code.png", media_type="image/png")
    async def code_png(self, conn: Conn, principal: Caller, state: State) -> Response[bytes]:
        """The current code as a PNG QR image."""
        return await _image(conn, principal, state, "png", "image/png")

    @post("/code/rotate", status_code=200, opt={"rate_limit": "code_rotate"})
    async def rotate(self, conn: Conn, principal: Caller, state: State) -> Rotated:
        """Issue a new code generation; every earlier code is revoked at once."""
        return await service.rotate_code(
            conn, state.keystore, principal.id, state.settings.code_ttl_days
        )

    @post("/bookings/{booking_id:uuid}/paper-pass", status_code=201)
    async def paper_pass(
        self, conn: Conn, principal: Caller, state: State, booking_id: FromPath[uuid.UUID]
    ) -> PaperPass:
        """A paper pass for one of the traveller's bookings (for a printer, not a phone)."""
        return await service.issue_paper_pass(conn, state.keystore, principal.id, booking_id)

    @delete("/bookings/{booking_id:uuid}/paper-pass", status_code=204)
    async def revoke_paper_pass(
        self, conn: Conn, principal: Caller, booking_id: FromPath[uuid.UUID]
    ) -> None:
        """Revoke the booking's paper pass: its code answers revoked_code at once."""
        await service.revoke_paper_pass(conn, principal.id, booking_id)


class VenuePaperPassController(Controller):
    """The staffed window: an operator prints a pass for a traveller without a phone."""

    path = "/v1/venues/{venue_id:uuid}/bookings/{booking_id:uuid}/paper-pass"
    tags = ["venues"]
    guards = [allow(Kind.ADMIN, Kind.OPERATOR)]

    @post("/", status_code=201)
    async def issue(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        venue_id: FromPath[uuid.UUID],
        booking_id: FromPath[uuid.UUID],
    ) -> PaperPass:
        """A paper pass for a booking at this venue."""
        require_venue(principal, venue_id)
        traveller = await service.booking_traveller(conn, venue_id, booking_id)
        return await service.issue_paper_pass(conn, state.keystore, traveller, booking_id, venue_id)

    @delete("/", status_code=204)
    async def revoke(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        booking_id: FromPath[uuid.UUID],
    ) -> None:
        """Revoke the paper pass of a booking at this venue."""
        require_venue(principal, venue_id)
        traveller = await service.booking_traveller(conn, venue_id, booking_id)
        await service.revoke_paper_pass(conn, traveller, booking_id)


ROUTES = [register, keys, MeController, VenuePaperPassController]
LIFESPANS = [image_cache_lifespan]
