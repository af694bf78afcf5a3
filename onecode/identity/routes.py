"""HTTP routes of traveller identity and the public key list."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from onecode.auth import Caller, Kind, allow
from onecode.db import Conn
from onecode.identity import service
from onecode.identity.models import Code, KeyInfo, Keys, Me, Registered, TravellerIn


@post("/v1/travellers", tags=["travellers"], opt={"rate_limit": "register"})
async def register(conn: Conn, state: State, data: JSONBody[TravellerIn]) -> Registered:
    """Register a traveller: returns the access token and code secret (shown once)."""
    return await service.register(conn, data, state.settings.code_ttl_days)


@get("/v1/keys", tags=["codes"])
async def keys(state: State) -> Keys:
    """Public keys that verify TQ1 codes (the trust list a gate syncs)."""
    return Keys([KeyInfo(**info) for info in state.keystore.ring().public_list()])


class MeController(Controller):
    path = "/v1/me"
    tags = ["travellers"]
    guards = [allow(Kind.TRAVELLER)]

    @get("/")
    async def me(self, conn: Conn, principal: Caller) -> Me:
        """The traveller's own profile."""
        return await service.me(conn, principal.id)

    @get("/code")
    async def code(
        self, conn: Conn, principal: Caller, request: Request[object, object, State]
    ) -> Code:
        """The current TQ1 code text, its generation and expiry."""
        return await service.current_code(conn, request.app.state.keystore, principal.id)


ROUTES = [register, keys, MeController]
