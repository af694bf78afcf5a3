"""HTTP routes of operations: admin listings and changes, revocation, the audit trail.

``LIFESPANS`` keeps the token cache in step with revocations made on other replicas
(PostgreSQL ``LISTEN/NOTIFY``, onecode/operations/invalidation.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from onecode.audit.trail import Actor
from onecode.auth import Caller, Kind, allow, require_venue
from onecode.db import Conn
from onecode.http.paging import MAX_CURSOR_LEN
from onecode.operations import service, slots
from onecode.operations.invalidation import invalidation_lifespan
from onecode.operations.models import (
    AdminRegion,
    AdminSlot,
    AdminVenue,
    AuditPage,
    GateInfo,
    GatePage,
    GatePatch,
    IssuedToken,
    OperatorInfo,
    OperatorPage,
    OperatorPatch,
    PlannerInfo,
    PlannerPage,
    PlannerPatch,
    PrincipalKind,
    RecurringSlots,
    RecurringSlotsIn,
    RegionPage,
    RegionPatch,
    SlotCancelIn,
    SlotPatch,
    VenuePage,
    VenuePatch,
)

_CODE = r"^[A-Z0-9][A-Z0-9-]{0,31}$"
CursorQuery = Annotated[
    str | None, QueryParameter(name="cursor", required=False, max_length=MAX_CURSOR_LEN)
]
LimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=200)]
RegionQuery = Annotated[str | None, QueryParameter(name="region", pattern=_CODE, required=False)]
ParentQuery = Annotated[str | None, QueryParameter(name="parent", pattern=_CODE, required=False)]
VenueQuery = Annotated[uuid.UUID | None, QueryParameter(name="venue", required=False)]
ActiveQuery = Annotated[bool | None, QueryParameter(name="active", required=False)]
RevokedQuery = Annotated[bool | None, QueryParameter(name="revoked", required=False)]
ActorKindQuery = Annotated[
    str | None, QueryParameter(name="actor_kind", pattern=r"^(admin|operator|cli)$", required=False)
]
ActorQuery = Annotated[uuid.UUID | None, QueryParameter(name="actor", required=False)]
ObjectKindQuery = Annotated[
    str | None, QueryParameter(name="object_kind", pattern=r"^[a-z_]{1,40}$", required=False)
]
ObjectQuery = Annotated[
    str | None, QueryParameter(name="object", min_length=1, max_length=100, required=False)
]
ActionQuery = Annotated[
    str | None, QueryParameter(name="action", pattern=r"^[a-z_]+\.[a-z_]+$", required=False)
]
SinceQuery = Annotated[datetime | None, QueryParameter(name="since", required=False)]
UntilQuery = Annotated[datetime | None, QueryParameter(name="until", required=False)]


def _cache(state: State) -> Any:
    return state.token_cache


_ADMIN = allow(Kind.ADMIN)


# Listings on the paths where the catalog creates (POST /v1/admin/regions, ...) are plain
# handlers, registered after the catalog's controller: Litestar refuses two controllers
# on one path (each brings its own OPTIONS handler).
@get("/v1/admin/regions", guards=[_ADMIN], tags=["admin"])
async def list_regions(
    conn: Conn,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
    parent: ParentQuery = None,
) -> RegionPage:
    """Regions by code, optionally the children of one (cursor pages)."""
    return await service.list_regions(conn, cursor, limit, parent)


@get("/v1/admin/venues", guards=[_ADMIN], tags=["admin"])
async def list_venues(
    conn: Conn,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
    region: RegionQuery = None,
    active: ActiveQuery = None,
) -> VenuePage:
    """Venues, newest first, of a region and those below it, active or not."""
    return await service.list_venues(conn, cursor, limit, region, active)


@get("/v1/admin/operators", guards=[_ADMIN], tags=["admin"])
async def list_operators(
    conn: Conn,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
    venue: VenueQuery = None,
    region: RegionQuery = None,
    revoked: RevokedQuery = None,
) -> OperatorPage:
    """Operators, newest first, by a venue they hold or a region, revoked or not."""
    return await service.list_operators(conn, cursor, limit, venue, region, revoked)


@get("/v1/admin/planners", guards=[_ADMIN], tags=["admin"])
async def list_planners(
    conn: Conn,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
    region: RegionQuery = None,
    revoked: RevokedQuery = None,
) -> PlannerPage:
    """Planners, newest first, by a region they hold, revoked or not."""
    return await service.list_planners(conn, cursor, limit, region, revoked)


class AdminOperationsController(Controller):
    path = "/v1/admin"
    tags = ["admin"]
    guards = [allow(Kind.ADMIN)]

    # regions ------------------------------------------------------------------------
    @get("/regions/{code:str}")
    async def get_region(self, conn: Conn, code: FromPath[str]) -> AdminRegion:
        """One region."""
        return await service.get_region(conn, code)

    @patch("/regions/{code:str}")
    async def patch_region(
        self,
        conn: Conn,
        principal: Caller,
        code: FromPath[str],
        data: JSONBody[RegionPatch],
    ) -> AdminRegion:
        """Rename a region, move it under another parent (no loops), or set the language
        its dashboard opens in (``default_locale``: zh-CN or en)."""
        return await service.patch_region(conn, Actor.of(principal), code, data)

    # venues -------------------------------------------------------------------------
    @get("/venues/{venue_id:uuid}")
    async def get_venue(self, conn: Conn, venue_id: FromPath[uuid.UUID]) -> AdminVenue:
        """One venue with its place code and state."""
        return await service.get_venue(conn, venue_id)

    @patch("/venues/{venue_id:uuid}")
    async def patch_venue(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        data: JSONBody[VenuePatch],
    ) -> AdminVenue:
        """Change some settings of a venue; the result is checked as a whole (422
        ``venues.contradiction``)."""
        return await service.patch_venue(conn, Actor.of(principal), venue_id, data)

    @post("/venues/{venue_id:uuid}/deactivate", status_code=200)
    async def deactivate_venue(
        self, conn: Conn, principal: Caller, venue_id: FromPath[uuid.UUID]
    ) -> AdminVenue:
        """Deactivate instead of delete: no bookings, slots, check-ins or entries; its
        history stays in flows."""
        return await service.set_venue_active(conn, Actor.of(principal), venue_id, False)

    @post("/venues/{venue_id:uuid}/reactivate", status_code=200)
    async def reactivate_venue(
        self, conn: Conn, principal: Caller, venue_id: FromPath[uuid.UUID]
    ) -> AdminVenue:
        """Take a deactivated venue back into service."""
        return await service.set_venue_active(conn, Actor.of(principal), venue_id, True)

    # gates, operators, planners -----------------------------------------------------
    @get("/gates")
    async def list_gates(
        self,
        conn: Conn,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
        venue: VenueQuery = None,
        region: RegionQuery = None,
        revoked: RevokedQuery = None,
    ) -> GatePage:
        """Gates, newest first, by venue or region, revoked or not."""
        return await service.list_gates(conn, cursor, limit, venue, region, revoked)

    @get("/gates/{gate_id:uuid}")
    async def get_gate(self, conn: Conn, gate_id: FromPath[uuid.UUID]) -> GateInfo:
        """One gate."""
        return await service.get_gate(conn, gate_id)

    @get("/operators/{operator_id:uuid}")
    async def get_operator(self, conn: Conn, operator_id: FromPath[uuid.UUID]) -> OperatorInfo:
        """One operator."""
        return await service.get_operator(conn, operator_id)

    @get("/planners/{planner_id:uuid}")
    async def get_planner(self, conn: Conn, planner_id: FromPath[uuid.UUID]) -> PlannerInfo:
        """One planner."""
        return await service.get_planner(conn, planner_id)

    @patch("/gates/{gate_id:uuid}")
    async def patch_gate(
        self,
        conn: Conn,
        principal: Caller,
        gate_id: FromPath[uuid.UUID],
        data: JSONBody[GatePatch],
    ) -> GateInfo:
        """Rename a gate."""
        return await service.patch_gate(conn, Actor.of(principal), gate_id, data)

    @patch("/operators/{operator_id:uuid}")
    async def patch_operator(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        operator_id: FromPath[uuid.UUID],
        data: JSONBody[OperatorPatch],
    ) -> OperatorInfo:
        """Rename an operator or replace its venues (its tokens follow at once)."""
        return await service.patch_operator(
            conn, _cache(state), Actor.of(principal), operator_id, data
        )

    @patch("/planners/{planner_id:uuid}")
    async def patch_planner(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        planner_id: FromPath[uuid.UUID],
        data: JSONBody[PlannerPatch],
    ) -> PlannerInfo:
        """Rename a planner or replace its regions (its tokens follow at once)."""
        return await service.patch_planner(
            conn, _cache(state), Actor.of(principal), planner_id, data
        )

    async def _revoke(
        self, conn: Any, principal: Any, state: State, kind: PrincipalKind, pid: uuid.UUID
    ) -> Response[None]:
        await service.revoke(conn, _cache(state), Actor.of(principal), kind, pid)
        return Response(None, status_code=204)

    @post("/gates/{gate_id:uuid}/revoke", status_code=204)
    async def revoke_gate(
        self, conn: Conn, principal: Caller, state: State, gate_id: FromPath[uuid.UUID]
    ) -> Response[None]:
        """Revoke a gate: its tokens answer 401 at once, on every replica."""
        return await self._revoke(conn, principal, state, "gates", gate_id)

    @post("/operators/{operator_id:uuid}/revoke", status_code=204)
    async def revoke_operator(
        self, conn: Conn, principal: Caller, state: State, operator_id: FromPath[uuid.UUID]
    ) -> Response[None]:
        """Revoke an operator: its tokens answer 401 at once, on every replica."""
        return await self._revoke(conn, principal, state, "operators", operator_id)

    @post("/planners/{planner_id:uuid}/revoke", status_code=204)
    async def revoke_planner(
        self, conn: Conn, principal: Caller, state: State, planner_id: FromPath[uuid.UUID]
    ) -> Response[None]:
        """Revoke a planner: its tokens answer 401 at once, on every replica."""
        return await self._revoke(conn, principal, state, "planners", planner_id)

    @post("/gates/{gate_id:uuid}/token", status_code=201)
    async def gate_token(
        self, conn: Conn, principal: Caller, state: State, gate_id: FromPath[uuid.UUID]
    ) -> IssuedToken:
        """A new token for a gate (shown once); earlier tokens are revoked."""
        return await service.issue_token(conn, _cache(state), Actor.of(principal), "gates", gate_id)

    @post("/operators/{operator_id:uuid}/token", status_code=201)
    async def operator_token(
        self, conn: Conn, principal: Caller, state: State, operator_id: FromPath[uuid.UUID]
    ) -> IssuedToken:
        """A new token for an operator (shown once); earlier tokens are revoked."""
        return await service.issue_token(
            conn, _cache(state), Actor.of(principal), "operators", operator_id
        )

    @post("/planners/{planner_id:uuid}/token", status_code=201)
    async def planner_token(
        self, conn: Conn, principal: Caller, state: State, planner_id: FromPath[uuid.UUID]
    ) -> IssuedToken:
        """A new token for a planner (shown once); earlier tokens are revoked."""
        return await service.issue_token(
            conn, _cache(state), Actor.of(principal), "planners", planner_id
        )

    # audit --------------------------------------------------------------------------
    @get("/audit")
    async def audit(
        self,
        conn: Conn,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
        venue: VenueQuery = None,
        region: RegionQuery = None,
        actor_kind: ActorKindQuery = None,
        actor: ActorQuery = None,
        object_kind: ObjectKindQuery = None,
        object_id: ObjectQuery = None,
        action: ActionQuery = None,
        since: SinceQuery = None,
        until: UntilQuery = None,
    ) -> AuditPage:
        """Who changed what, before -> after, when: every admin and operator change."""
        f = service.AuditFilter(
            venue_ids=[venue] if venue else None,
            region=region,
            actor_kind=actor_kind,
            actor_id=actor,
            object_kind=object_kind,
            object_id=object_id,
            action=action,
            since=since,
            until=until,
        )
        return await service.list_audit(conn, cursor, limit, f)


class VenueOperationsController(Controller):
    path = "/v1/venues/{venue_id:uuid}"
    tags = ["venues"]
    guards = [allow(Kind.ADMIN, Kind.OPERATOR)]

    @get("/audit")
    async def venue_audit(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
        action: ActionQuery = None,
        since: SinceQuery = None,
        until: UntilQuery = None,
    ) -> AuditPage:
        """The venue's part of the audit trail (its operators and admins)."""
        require_venue(principal, venue_id)
        f = service.AuditFilter(venue_ids=[venue_id], action=action, since=since, until=until)
        return await service.list_audit(conn, cursor, limit, f)

    @get("/slots/{slot_id:uuid}")
    async def get_slot(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        slot_id: FromPath[uuid.UUID],
    ) -> AdminSlot:
        """One slot with its counters and state (operator of the venue, or admin)."""
        require_venue(principal, venue_id)
        return await slots.get_slot(conn, venue_id, slot_id)

    @patch("/slots/{slot_id:uuid}")
    async def patch_slot(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        slot_id: FromPath[uuid.UUID],
        data: JSONBody[SlotPatch],
    ) -> AdminSlot:
        """Change a slot: capacity never below what is booked (409 ``slots.below_booked``),
        times only while nothing is booked (409 ``slots.times_locked``)."""
        require_venue(principal, venue_id)
        return await slots.patch_slot(conn, Actor.of(principal), venue_id, slot_id, data)

    @post("/slots/{slot_id:uuid}/cancel", status_code=200)
    async def cancel_slot(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        slot_id: FromPath[uuid.UUID],
        data: JSONBody[SlotCancelIn],
    ) -> AdminSlot:
        """Cancel a slot: its bookings become ``cancelled`` with the reason, which each
        traveller sees on the booking and in their notifications."""
        require_venue(principal, venue_id)
        return await slots.cancel_slot(conn, Actor.of(principal), venue_id, slot_id, data.reason)

    @post("/slots/recurring", status_code=201)
    async def create_recurring(
        self,
        conn: Conn,
        principal: Caller,
        venue_id: FromPath[uuid.UUID],
        data: JSONBody[RecurringSlotsIn],
    ) -> RecurringSlots:
        """Create slots from a weekly pattern over a date range, in the venue's local
        time; windows that exist already are skipped (counted in ``skipped``)."""
        require_venue(principal, venue_id)
        return await slots.create_recurring(conn, Actor.of(principal), venue_id, data)


ROUTES = [
    AdminOperationsController,
    VenueOperationsController,
    list_regions,
    list_venues,
    list_operators,
    list_planners,
]
LIFESPANS = [invalidation_lifespan]
