"""HTTP routes of offline gates: pack sync, batch upload, and the operator's conflicts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from litestar import Controller, Litestar, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from onecode.auth import Caller, Kind, Principal, allow, require_venue
from onecode.db import Conn
from onecode.offline import service
from onecode.offline.models import ConflictList, Pack, UploadIn, UploadOut

# a batch item is ~250 bytes of JSON; leave room for the configured maximum
BATCH_BODY_BYTES_PER_SCAN = 600


def _gate_venue(principal: Principal) -> uuid.UUID:
    return next(iter(principal.venue_ids))


class OfflineGateController(Controller):
    path = "/v1/gate"
    tags = ["gate"]
    guards = [allow(Kind.GATE)]

    @get("/pack")
    async def pack(
        self,
        conn: Conn,
        principal: Caller,
        request: Request[object, object, State],
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=40)] = None,
    ) -> Pack:
        """Sync pack for the gate's venue: keys, revocations, entitlements, as deltas."""
        return await service.pack(
            conn, _gate_venue(principal), request.app.state.key_ring.ring(), cursor
        )

    @post("/scans/batch", status_code=200, request_max_body_size=5_000 * 600)
    async def upload(
        self,
        conn: Conn,
        principal: Caller,
        request: Request[object, object, State],
        data: JSONBody[UploadIn],
    ) -> UploadOut:
        """Upload offline scans; each answered recorded, duplicate, conflict or rejected."""
        state = request.app.state
        return await service.upload(
            conn,
            principal.id,
            _gate_venue(principal),
            data,
            state.key_ring.ring(),
            state.verify_cache,
            state.settings.batch_max_scans,
            state.settings.clock_skew_seconds,
        )


@get(
    "/v1/venues/{venue_id:uuid}/conflicts",
    tags=["venues"],
    guards=[allow(Kind.ADMIN, Kind.OPERATOR)],
)
async def conflicts(
    conn: Conn,
    principal: Caller,
    venue_id: FromPath[uuid.UUID],
    days: Annotated[int, QueryParameter(name="days", ge=1, le=90)] = 7,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 200,
) -> ConflictList:
    """Entries beyond the venue's rule that offline gates admitted (kept as facts)."""
    require_venue(principal, venue_id)
    found = await service.conflicts(conn, venue_id, days, limit)
    return ConflictList(items=found, conflicts=found)


@asynccontextmanager
async def verify_cache(app: Litestar) -> AsyncIterator[None]:
    app.state.verify_cache = service.VerifyCache()
    yield


ROUTES = [OfflineGateController, conflicts]
LIFESPANS = [verify_cache]
