"""HTTP routes of gate validation (gate devices) and of the traveller's visit history."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from litestar import Litestar, Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter

from onecode.auth import Caller, Kind, allow, guarded_caller
from onecode.db import Conn
from onecode.errors import Forbidden
from onecode.gates import service
from onecode.gates.batching import ScanGroups, groups_of
from onecode.gates.models import ScanIn, ScanResult, Visits
from onecode.observability import record_scan


@asynccontextmanager
async def ring_lifespan(app: Litestar) -> AsyncGenerator[None, None]:
    """Keep the public key ring on app state (verify is the hot path's CPU cost), and the
    venues' scan groups (group commit of online scans, onecode/gates/batching.py)."""
    app.state.key_ring = service.RingCache(app.state.keystore)
    settings = app.state.settings
    app.state.scan_groups = ScanGroups(
        app.state.pool,
        settings.db_acquire_timeout,
        max_group=settings.scan_group_max,
        lanes=settings.scan_group_lanes,
    )
    yield


@post("/v1/gate/scans", tags=["gate"], status_code=200, guards=[allow(Kind.GATE)])
async def create_scan(request: Request[Any, Any, State], data: JSONBody[ScanIn]) -> ScanResult:
    """Decide an online scan: accept or reject with a reason (a retry returns the first answer).

    The hot path takes its caller from the request (``guarded_caller``) instead of the
    ``principal`` dependency, and no request connection: the scan is decided by the
    venue's scan group (group commit, onecode/gates/batching.py), answered once its
    transaction has committed (issue #20)."""
    principal = guarded_caller(request)
    if len(principal.venue_ids) != 1:
        raise Forbidden("This gate token has no venue.", "gates.no_venue")
    (venue_id,) = principal.venue_ids
    state = request.app.state
    args = service.prepare(
        state.key_ring.ring(), principal.id, data, state.settings.clock_skew_seconds
    )
    row = await groups_of(state).decide(venue_id, args)
    result = service.answer(data.scan_id, row)
    record_scan(result.decision, result.reason)
    return result


@get("/v1/me/visits", tags=["travellers"], guards=[allow(Kind.TRAVELLER)])
async def list_visits(
    conn: Conn,
    principal: Caller,
    before: Annotated[datetime | None, QueryParameter(name="before", required=False)] = None,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=200)] = 50,
    cursor: Annotated[
        datetime | None,
        QueryParameter(
            name="cursor", required=False, description="The `next_cursor` of the page before."
        ),
    ] = None,
) -> Visits:
    """The traveller's own gate entries and exits and place-code check-ins, newest first.

    Page with ``cursor`` = the last answer's ``next_cursor`` (``before`` = ``next_before``
    still works: the same instant)."""
    return await service.visits(conn, principal.id, cursor or before, limit)


ROUTES = [create_scan, list_visits]
LIFESPANS = [ring_lifespan]
