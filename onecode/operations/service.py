"""Operations rules: list and change the catalog, revoke and reissue tokens, audit.

Every change runs in one transaction with its audit entry. What must hold under
concurrency is decided by PostgreSQL: the venue row is locked while a change is
judged, and slot changes are made by SQL functions (sql/functions/operations.sql).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import msgspec

from onecode.audit import trail as audit
from onecode.audit.trail import Actor
from onecode.auth import Kind, TokenCache, hash_token, new_token
from onecode.catalog.rules import check_venue
from onecode.catalog.service import region_tree
from onecode.errors import BadRequest, Conflict, NotFound, Unprocessable
from onecode.http.paging import decode_cursor, encode_cursor
from onecode.operations.models import (
    AdminRegion,
    AdminVenue,
    AuditEntry,
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
    RegionPage,
    RegionPatch,
    VenuePage,
    VenuePatch,
)
from onecode.sql import Q

T = TypeVar("T")

_REGION = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")
_KIND: dict[str, Kind] = {
    "gates": Kind.GATE,
    "operators": Kind.OPERATOR,
    "planners": Kind.PLANNER,
}
_SINGULAR = {"gates": "gate", "operators": "operator", "planners": "planner"}

# the venue fields an admin may change, in the order of operations_update_venue
VENUE_FIELDS = (
    "region_code",
    "name",
    "kind",
    "gated",
    "requires_booking",
    "entry_rule",
    "capacity_instant",
    "capacity_daily",
    "occupancy_cap_pct",
    "timezone",
    "lat",
    "lon",
    "max_party_size",
    "bookings_per_day",
    "booking_window_days",
    "early_grace_min",
    "late_grace_min",
    # fair allocation (docs/allocation.md)
    "walkin_quota_pct",
    "walkin_release_min",
    "offer_expiry_min",
)


# ---------------------------------------------------------------------------------------
# cursors
# ---------------------------------------------------------------------------------------


def _position(cursor: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    if cursor is None:
        return None, None
    pos = decode_cursor(cursor)
    return pos.created_at, pos.id


def _page(rows: list[asyncpg.Record], limit: int, shape: type[T]) -> tuple[list[T], str | None]:
    items = [msgspec.convert(dict(r), shape) for r in rows]
    nxt = None
    if len(rows) == limit:
        last = rows[-1]
        nxt = encode_cursor(last["created_at"], last["id"])
    return items, nxt


async def _principal_page(
    conn: asyncpg.Connection, rows: list[asyncpg.Record], limit: int, shape: type[T]
) -> tuple[list[T], str | None]:
    """A page of gates, operators or planners with their count of live tokens."""
    ids = [r["id"] for r in rows]
    counts: dict[uuid.UUID, int] = {}
    if ids:
        for r in await conn.fetch(Q()["operations_count_live_tokens"], ids):
            counts[r["principal_id"]] = int(r["live_tokens"])
    items = [
        msgspec.convert({**dict(r), "live_tokens": counts.get(r["id"], 0)}, shape) for r in rows
    ]
    nxt = None
    if len(rows) == limit:
        nxt = encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
    return items, nxt


def encode_region_cursor(code: str) -> str:
    return base64.urlsafe_b64encode(code.encode("ascii")).rstrip(b"=").decode("ascii")


def decode_region_cursor(text: str) -> str:
    bad = BadRequest("The cursor is not one this API made.", "request.bad_cursor")
    try:
        code = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    if not _REGION.match(code):
        raise bad
    return code


async def _regions_or_404(conn: asyncpg.Connection, region: str | None) -> list[str] | None:
    if region is None:
        return None
    tree = await region_tree(conn, [region])
    if not tree:
        raise NotFound(f"No region {region}.", "regions.not_found")
    return tree


# ---------------------------------------------------------------------------------------
# listings
# ---------------------------------------------------------------------------------------


async def list_regions(
    conn: asyncpg.Connection, cursor: str | None, limit: int, parent: str | None
) -> RegionPage:
    after = decode_region_cursor(cursor) if cursor is not None else None
    rows = await conn.fetch(Q()["operations_select_regions"], limit, after, parent, None)
    items = [msgspec.convert(dict(r), AdminRegion) for r in rows]
    nxt = encode_region_cursor(items[-1].code) if len(items) == limit else None
    return RegionPage(items=items, next_cursor=nxt)


async def get_region(conn: asyncpg.Connection, code: str) -> AdminRegion:
    rows = await conn.fetch(Q()["operations_select_regions"], 1, None, None, code)
    if not rows:
        raise NotFound(f"No region {code}.", "regions.not_found")
    return msgspec.convert(dict(rows[0]), AdminRegion)


async def list_venues(
    conn: asyncpg.Connection,
    cursor: str | None,
    limit: int,
    region: str | None,
    active: bool | None,
) -> VenuePage:
    at, last = _position(cursor)
    regions = await _regions_or_404(conn, region)
    rows = await conn.fetch(Q()["operations_select_venues"], limit, at, last, regions, active, None)
    items, nxt = _page(rows, limit, AdminVenue)
    return VenuePage(items=items, next_cursor=nxt)


async def get_venue(conn: asyncpg.Connection, venue_id: uuid.UUID) -> AdminVenue:
    rows = await conn.fetch(Q()["operations_select_venues"], 1, None, None, None, None, venue_id)
    if not rows:
        raise NotFound("No such venue.", "venues.not_found")
    return msgspec.convert(dict(rows[0]), AdminVenue)


async def list_gates(
    conn: asyncpg.Connection,
    cursor: str | None,
    limit: int,
    venue: uuid.UUID | None,
    region: str | None,
    revoked: bool | None,
) -> GatePage:
    at, last = _position(cursor)
    regions = await _regions_or_404(conn, region)
    rows = await conn.fetch(
        Q()["operations_select_gates"], limit, at, last, venue, regions, revoked, None
    )
    items, nxt = await _principal_page(conn, rows, limit, GateInfo)
    return GatePage(items=items, next_cursor=nxt)


async def get_gate(conn: asyncpg.Connection, gate_id: uuid.UUID) -> GateInfo:
    rows = await conn.fetch(
        Q()["operations_select_gates"], 1, None, None, None, None, None, gate_id
    )
    if not rows:
        raise NotFound("No such gate.", "gates.not_found")
    return (await _principal_page(conn, rows, 1, GateInfo))[0][0]


async def list_operators(
    conn: asyncpg.Connection,
    cursor: str | None,
    limit: int,
    venue: uuid.UUID | None,
    region: str | None,
    revoked: bool | None,
) -> OperatorPage:
    at, last = _position(cursor)
    regions = await _regions_or_404(conn, region)
    rows = await conn.fetch(
        Q()["operations_select_operators"], limit, at, last, venue, regions, revoked, None
    )
    items, nxt = await _principal_page(conn, rows, limit, OperatorInfo)
    return OperatorPage(items=items, next_cursor=nxt)


async def get_operator(conn: asyncpg.Connection, operator_id: uuid.UUID) -> OperatorInfo:
    rows = await conn.fetch(
        Q()["operations_select_operators"], 1, None, None, None, None, None, operator_id
    )
    if not rows:
        raise NotFound("No such operator.", "operators.not_found")
    return (await _principal_page(conn, rows, 1, OperatorInfo))[0][0]


async def list_planners(
    conn: asyncpg.Connection,
    cursor: str | None,
    limit: int,
    region: str | None,
    revoked: bool | None,
) -> PlannerPage:
    at, last = _position(cursor)
    # a planner of a region above the one asked for sees it too: match its ancestors
    regions = None
    if region is not None:
        if not await conn.fetchval(Q()["catalog_region_exists"], region):
            raise NotFound(f"No region {region}.", "regions.not_found")
        regions = [region]
    rows = await conn.fetch(
        Q()["operations_select_planners"], limit, at, last, regions, revoked, None
    )
    items, nxt = await _principal_page(conn, rows, limit, PlannerInfo)
    return PlannerPage(items=items, next_cursor=nxt)


async def get_planner(conn: asyncpg.Connection, planner_id: uuid.UUID) -> PlannerInfo:
    rows = await conn.fetch(
        Q()["operations_select_planners"], 1, None, None, None, None, planner_id
    )
    if not rows:
        raise NotFound("No such planner.", "planners.not_found")
    return (await _principal_page(conn, rows, 1, PlannerInfo))[0][0]


# ---------------------------------------------------------------------------------------
# revocation and new tokens
# ---------------------------------------------------------------------------------------


async def _revoke_tokens(conn: asyncpg.Connection, kind: Kind, principal_id: uuid.UUID) -> int:
    status: str = await conn.execute(
        Q()["operations_revoke_tokens"], principal_id, datetime.now(UTC), kind.value
    )
    # every replica drops its cached tokens of this principal when this commits
    await conn.execute(Q()["operations_notify_tokens"], str(principal_id))
    return int(status.rsplit(" ", 1)[-1])


async def revoke(
    conn: asyncpg.Connection,
    cache: TokenCache,
    actor: Actor,
    kind: PrincipalKind,
    principal_id: uuid.UUID,
) -> None:
    """Revoke the principal and every token it holds; idempotent."""
    one = _SINGULAR[kind]
    async with conn.transaction():
        row = await conn.fetchrow(Q()[f"operations_revoke_{one}"], principal_id)
        if row is None:
            raise NotFound(f"No such {one}.", f"{kind}.not_found")
        n = await _revoke_tokens(conn, _KIND[kind], principal_id)
        await audit.record(
            conn,
            actor,
            f"{one}.revoked",
            one,
            principal_id,
            venue_id=row.get("venue_id"),
            region_code=row.get("region_code"),
            after={"revoked_tokens": n},
        )
    cache.forget_principal(principal_id)  # this replica at once, without waiting for NOTIFY


async def issue_token(
    conn: asyncpg.Connection,
    cache: TokenCache,
    actor: Actor,
    kind: PrincipalKind,
    principal_id: uuid.UUID,
) -> IssuedToken:
    """A new token for the principal (shown once); its earlier tokens are revoked, and a
    revoked principal is reinstated (a replacement device for a stolen gate keeps the
    gate's id, counters and history)."""
    one = _SINGULAR[kind]
    token = new_token(_KIND[kind])
    async with conn.transaction():
        row = await conn.fetchrow(Q()[f"operations_reinstate_{one}"], principal_id)
        if row is None:
            raise NotFound(f"No such {one}.", f"{kind}.not_found")
        n = await _revoke_tokens(conn, _KIND[kind], principal_id)
        await conn.execute(
            Q()["auth_insert_token"], hash_token(token), _KIND[kind].value, principal_id
        )
        await audit.record(
            conn,
            actor,
            f"{one}.token_issued",
            one,
            principal_id,
            venue_id=row.get("venue_id"),
            region_code=row.get("region_code"),
            after={"revoked_tokens": n},
        )
    cache.forget_principal(principal_id)
    return IssuedToken(id=principal_id, kind=_KIND[kind].value, token=token, revoked_tokens=n)


async def patch_gate(
    conn: asyncpg.Connection, actor: Actor, gate_id: uuid.UUID, data: GatePatch
) -> GateInfo:
    async with conn.transaction():
        row = await conn.fetchrow(Q()["operations_lock_principal_gate"], gate_id)
        if row is None:
            raise NotFound("No such gate.", "gates.not_found")
        if data.name is not msgspec.UNSET and data.name != row["name"]:
            await conn.execute(Q()["operations_rename_gate"], gate_id, data.name)
            await audit.record(
                conn,
                actor,
                "gate.changed",
                "gate",
                gate_id,
                venue_id=row["venue_id"],
                region_code=row["region_code"],
                before={"name": row["name"]},
                after={"name": data.name},
            )
    return await get_gate(conn, gate_id)


async def patch_operator(
    conn: asyncpg.Connection,
    cache: TokenCache,
    actor: Actor,
    operator_id: uuid.UUID,
    data: OperatorPatch,
) -> OperatorInfo:
    """Rename an operator or replace its venues; a changed scope reaches its cached
    tokens on every replica at once (the same notification as a revocation)."""
    async with conn.transaction():
        row = await conn.fetchrow(Q()["operations_lock_principal_operator"], operator_id)
        if row is None:
            raise NotFound("No such operator.", "operators.not_found")
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if data.name is not msgspec.UNSET and data.name != row["name"]:
            await conn.execute(Q()["operations_rename_operator"], operator_id, data.name)
            after["name_changed"] = True  # the name itself is not kept (often a person's)
        if data.venue_ids is not msgspec.UNSET:
            wanted = sorted(set(data.venue_ids))
            if wanted != list(row["scope"]):
                missing = await conn.fetch(Q()["catalog_select_missing_venues"], wanted)
                if missing:
                    raise Unprocessable(f"Unknown venue {missing[0][0]}.", "venues.not_found")
                await conn.execute(Q()["operations_drop_operator_venues"], operator_id, wanted)
                await conn.execute(Q()["catalog_insert_operator_venues"], operator_id, wanted)
                await conn.execute(Q()["operations_notify_tokens"], str(operator_id))
                before["venue_ids"] = [str(v) for v in row["scope"]]
                after["venue_ids"] = [str(v) for v in wanted]
        if after:
            await audit.record(
                conn,
                actor,
                "operator.changed",
                "operator",
                operator_id,
                before=before or None,
                after=after,
            )
    cache.forget_principal(operator_id)
    return await get_operator(conn, operator_id)


async def patch_planner(
    conn: asyncpg.Connection,
    cache: TokenCache,
    actor: Actor,
    planner_id: uuid.UUID,
    data: PlannerPatch,
) -> PlannerInfo:
    """Rename a planner or replace its regions (at once on every replica)."""
    async with conn.transaction():
        row = await conn.fetchrow(Q()["operations_lock_principal_planner"], planner_id)
        if row is None:
            raise NotFound("No such planner.", "planners.not_found")
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if data.name is not msgspec.UNSET and data.name != row["name"]:
            await conn.execute(Q()["operations_rename_planner"], planner_id, data.name)
            after["name_changed"] = True
        if data.region_codes is not msgspec.UNSET:
            wanted = sorted(set(data.region_codes))
            if wanted != list(row["scope"]):
                missing = await conn.fetch(Q()["catalog_select_missing_regions"], wanted)
                if missing:
                    raise Unprocessable(f"Unknown region {missing[0][0]}.", "regions.not_found")
                await conn.execute(Q()["operations_drop_planner_regions"], planner_id, wanted)
                await conn.execute(Q()["catalog_insert_planner_regions"], planner_id, wanted)
                await conn.execute(Q()["operations_notify_tokens"], str(planner_id))
                before["region_codes"] = list(row["scope"])
                after["region_codes"] = wanted
        if after:
            await audit.record(
                conn,
                actor,
                "planner.changed",
                "planner",
                planner_id,
                before=before or None,
                after=after,
            )
    cache.forget_principal(planner_id)
    return await get_planner(conn, planner_id)


# ---------------------------------------------------------------------------------------
# regions and venues
# ---------------------------------------------------------------------------------------


async def patch_region(
    conn: asyncpg.Connection, actor: Actor, code: str, data: RegionPatch
) -> AdminRegion:
    async with conn.transaction():
        row = await conn.fetchrow(Q()["operations_lock_region"], code)
        if row is None:
            raise NotFound(f"No region {code}.", "regions.not_found")
        before = dict(row)
        after = dict(before)
        if data.name is not msgspec.UNSET:
            after["name"] = data.name
        if data.parent_code is not msgspec.UNSET:
            after["parent_code"] = data.parent_code
        if data.default_locale is not msgspec.UNSET:
            after["default_locale"] = data.default_locale
        parent = after["parent_code"]
        if parent is not None and parent != before["parent_code"]:
            if not await conn.fetchval(Q()["catalog_region_exists"], parent):
                raise Unprocessable(
                    f"Parent region {parent} does not exist.", "regions.unknown_parent"
                )
            if await conn.fetchval(Q()["operations_region_has_ancestor"], code, parent):
                raise Unprocessable(
                    f"{parent} is {code} or lies below it: a region cannot be its own ancestor.",
                    "regions.parent_loop",
                )
        updated = await conn.fetchrow(
            Q()["operations_update_region"], code, after["name"], parent, after["default_locale"]
        )
        assert updated is not None  # the row is locked
        old, new = audit.changed(before, after)
        if new:
            await audit.record(
                conn,
                actor,
                "region.changed",
                "region",
                code,
                region_code=code,
                before=old,
                after=new,
            )
    return msgspec.convert(dict(updated), AdminRegion)


async def patch_venue(
    conn: asyncpg.Connection, actor: Actor, venue_id: uuid.UUID, data: VenuePatch
) -> AdminVenue:
    """Change some of a venue's settings; the result is checked as a whole."""
    given = data.given()
    async with conn.transaction():
        row = await conn.fetchrow(Q()["operations_lock_venue"], venue_id)
        if row is None:
            raise NotFound("No such venue.", "venues.not_found")
        before = {k: row[k] for k in VENUE_FIELDS}
        after = {**before, **given}
        check_venue(after)  # the venue after the change, as a whole
        counts = await conn.fetchrow(Q()["operations_venue_counts"], venue_id)
        assert counts is not None
        if before["gated"] and not after["gated"] and counts["live_gates"]:
            raise Conflict(
                f"The venue has {counts['live_gates']} gate(s) with live tokens: revoke them "
                "before making it ungated.",
                "venues.has_gates",
            )
        if after["timezone"] != before["timezone"] and counts["slots"]:
            raise Conflict(
                "The venue has slots: their bookings' local days were fixed in its time "
                "zone, which can no longer change.",
                "venues.timezone_in_use",
            )
        if after["region_code"] != before["region_code"] and not await conn.fetchval(
            Q()["catalog_region_exists"], after["region_code"]
        ):
            raise Unprocessable(
                f"Region {after['region_code']} does not exist.", "regions.not_found"
            )
        old, new = audit.changed(before, after)
        if new:
            await conn.execute(
                Q()["operations_update_venue"], venue_id, *(after[k] for k in VENUE_FIELDS)
            )
            await audit.record(
                conn,
                actor,
                "venue.changed",
                "venue",
                venue_id,
                venue_id=venue_id,
                region_code=after["region_code"],
                before=old,
                after=new,
            )
    return await get_venue(conn, venue_id)


async def set_venue_active(
    conn: asyncpg.Connection, actor: Actor, venue_id: uuid.UUID, active: bool
) -> AdminVenue:
    """Deactivate (no bookings, slots, check-ins or entries; history stays) or reactivate;
    asking for the state it is in changes nothing."""
    async with conn.transaction():
        row = await conn.fetchrow(Q()["operations_set_venue_active"], venue_id, active)
        if row is not None:
            await audit.record(
                conn,
                actor,
                "venue.reactivated" if active else "venue.deactivated",
                "venue",
                venue_id,
                venue_id=venue_id,
                region_code=row["region_code"],
                before={"active": not active},
                after={"active": active},
            )
    return await get_venue(conn, venue_id)


# ---------------------------------------------------------------------------------------
# the audit trail
# ---------------------------------------------------------------------------------------


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    venue_ids: list[uuid.UUID] | None = None
    region: str | None = None
    actor_kind: str | None = None
    actor_id: uuid.UUID | None = None
    object_kind: str | None = None
    object_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_audit(
    conn: asyncpg.Connection, cursor: str | None, limit: int, f: AuditFilter
) -> AuditPage:
    at, last = _position(cursor)
    regions = await _regions_or_404(conn, f.region)
    rows = await conn.fetch(
        Q()["operations_select_audit"],
        limit,
        at,
        last,
        f.venue_ids,
        f.actor_kind,
        f.actor_id,
        f.object_kind,
        f.object_id,
        f.action,
        f.since,
        f.until,
        regions,
    )
    items, nxt = _page(rows, limit, AuditEntry)
    return AuditPage(items=items, next_cursor=nxt)
