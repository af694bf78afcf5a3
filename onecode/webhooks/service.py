"""Subscription rules: who may subscribe to what, and the delivery log.

- An admin subscribes to anything and sees every subscription; an operator to events of
  their venues, a planner to crowd and operations events of their regions (and the
  regions below); each sees and changes only their own subscriptions (others are 404).
- A URL must pass the SSRF policy (onecode/webhooks/policy.py) against the allow-list.
- A secret is shown once (create, rotate) and stored sealed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
import msgspec
from msgspec import UNSET

from onecode.audit import trail as audit
from onecode.auth import Kind, Principal
from onecode.errors import Conflict, NotFound, Unprocessable
from onecode.http.paging import decode_cursor, encode_cursor
from onecode.settings import Settings
from onecode.sql import Q
from onecode.webhooks import policy
from onecode.webhooks.models import (
    ALERT_TYPES,
    PING,
    PLANNER_EVENT_TYPES,
    Alert,
    Alerts,
    AllowedHost,
    Attempt,
    Delivery,
    DeliveryDetail,
    DeliveryPage,
    DeliveryState,
    HostIn,
    HostList,
    SecretRotated,
    Subscription,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionPage,
    SubscriptionPatch,
    VenueLevel,
)
from onecode.webhooks.signing import SecretError, SecretSealer, new_secret, parse_secret, webhook_id

MAX_ROTATION_OVERLAP_HOURS = 72


def _audited(sub: Subscription) -> dict[str, object]:
    """What the audit trail keeps of a subscription: never its secret, and of its URL
    only the host (a path or query may carry a receiver's token)."""
    return {
        "url_host": urlsplit(sub.url).hostname,
        "events": sub.events,
        "venue_ids": [str(v) for v in sub.venue_ids] if sub.venue_ids else None,
        "region_codes": sub.region_codes,
        "enabled": sub.enabled,
    }


async def _audit(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    sub: Subscription,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
) -> None:
    """Admins' and operators' changes go to the audit trail (issue 17); planners' do not."""
    if principal.kind not in (Kind.ADMIN, Kind.OPERATOR):
        return
    venues = sub.venue_ids or []
    await audit.record(
        conn,
        audit.Actor.of(principal),
        action,
        "webhook",
        sub.id,
        venue_id=venues[0] if len(venues) == 1 else None,
        before=before,
        after=after,
    )


def _owner(principal: Principal) -> uuid.UUID | None:
    """The owner filter of a principal's queries: None lets an admin see everything."""
    return None if principal.kind is Kind.ADMIN else principal.id


def _not_found() -> NotFound:
    return NotFound("No such webhook subscription.", "webhooks.not_found")


def _subscription(row: asyncpg.Record | None) -> Subscription:
    assert row is not None
    return msgspec.convert(dict(row), Subscription)


def _delivery(row: asyncpg.Record | None) -> Delivery:
    assert row is not None
    data = {k: v for k, v in row.items() if k not in ("body", "message_id")}
    if data["state"] != "pending":
        data["next_attempt_at"] = None
    return msgspec.convert({**data, "webhook_id": webhook_id(row["message_id"])}, Delivery)


# --- the host allow-list (admin) ---------------------------------------------------


def normalize_host(text: str, settings: Settings) -> str:
    host = text.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    bare = host[2:] if host.startswith("*.") else host
    if not bare or "/" in bare or "@" in bare or " " in bare or len(bare) > 253:
        raise Unprocessable("A host name, an address, or '*.' and a domain.", "webhooks.bad_host")
    literal = policy.ip_literal(bare)
    if literal is not None and host.startswith("*."):
        raise Unprocessable("'*.' goes with a domain, not an address.", "webhooks.bad_host")
    if literal is not None and not policy.address_allowed(literal, settings):
        raise Unprocessable(
            "Webhooks never go to loopback, private or reserved addresses.",
            "webhooks.address_not_allowed",
        )
    return host


async def allowed_hosts(conn: asyncpg.Connection) -> list[str]:
    return [r["host"] for r in await conn.fetch(Q()["webhooks_select_hosts"])]


async def list_hosts(conn: asyncpg.Connection) -> HostList:
    rows = await conn.fetch(Q()["webhooks_select_hosts"])
    return HostList(items=[msgspec.convert(dict(r), AllowedHost) for r in rows])


async def add_host(
    conn: asyncpg.Connection, data: HostIn, settings: Settings, actor: audit.Actor | None = None
) -> AllowedHost:
    host = normalize_host(data.host, settings)
    try:
        async with conn.transaction():
            row = await conn.fetchrow(Q()["webhooks_insert_host"], host, data.note)
            assert row is not None
            if actor is not None:
                await audit.record(
                    conn, actor, "webhook_host.allowed", "webhook_host", host, after={"host": host}
                )
    except asyncpg.CheckViolationError:
        raise Unprocessable("That is not a host name.", "webhooks.bad_host") from None
    return msgspec.convert(dict(row), AllowedHost)


async def remove_host(
    conn: asyncpg.Connection, host: str, actor: audit.Actor | None = None
) -> None:
    name = host.strip().lower()
    async with conn.transaction():
        if await conn.fetchval(Q()["webhooks_delete_host"], name) is None:
            raise NotFound("That host is not on the allow-list.", "webhooks.host_not_found")
        if actor is not None:
            await audit.record(
                conn, actor, "webhook_host.removed", "webhook_host", name, before={"host": name}
            )


# --- scope -------------------------------------------------------------------------


def _visible(principal: Principal, path: Sequence[str] | None) -> bool:
    return bool(path) and not principal.region_codes.isdisjoint(path or ())


async def _check_scope(
    conn: asyncpg.Connection,
    principal: Principal,
    events: Sequence[str],
    venue_ids: Sequence[uuid.UUID] | None,
    region_codes: Sequence[str] | None,
) -> None:
    """Events and filters within what the principal may hear of; outside is 404/422."""
    if principal.kind is Kind.PLANNER:
        refused = sorted(set(events) - PLANNER_EVENT_TYPES)
        if refused:
            raise Unprocessable(
                f"Planners do not receive events about single travellers: {', '.join(refused)}.",
                "webhooks.event_not_allowed",
            )
    if venue_ids:
        rows = await conn.fetch(Q()["webhooks_select_venue_paths"], list(venue_ids))
        paths = {r["id"]: r["path"] for r in rows}
        for venue_id in venue_ids:
            known = venue_id in paths
            if principal.kind is Kind.OPERATOR:
                known = known and venue_id in principal.venue_ids
            elif principal.kind is Kind.PLANNER:
                known = known and _visible(principal, paths[venue_id])
            if not known:
                raise NotFound(f"No such venue: {venue_id}.", "venues.not_found")
    if region_codes:
        rows = await conn.fetch(Q()["webhooks_select_region_paths"], list(region_codes))
        for row in rows:
            known = row["path"] is not None
            if principal.kind is Kind.PLANNER:
                known = known and _visible(principal, row["path"])
            if not known:
                raise NotFound(f"No such region: {row['code']}.", "regions.not_found")


async def _check_url(conn: asyncpg.Connection, url: str, settings: Settings) -> None:
    try:
        policy.check_url(url, await allowed_hosts(conn), settings)
    except policy.Refused as exc:
        raise Unprocessable(str(exc), exc.code) from None


def _dedupe(items: Sequence[str]) -> list[str]:
    return sorted(set(items))


# --- subscriptions -----------------------------------------------------------------


async def create_subscription(
    conn: asyncpg.Connection,
    principal: Principal,
    data: SubscriptionIn,
    settings: Settings,
    sealer: SecretSealer,
) -> SubscriptionCreated:
    await _check_url(conn, data.url, settings)
    await _check_scope(conn, principal, data.events, data.venue_ids, data.region_codes)
    secret = data.secret if data.secret is not None else new_secret()
    try:
        parse_secret(secret)
    except SecretError as exc:
        raise Unprocessable(str(exc), "webhooks.bad_secret") from None
    async with conn.transaction():
        row = await conn.fetchrow(
            Q()["webhooks_insert_subscription"],
            uuid.uuid4(),
            principal.kind.value,
            principal.id,
            data.url,
            _dedupe(data.events),
            sorted(set(data.venue_ids)) if data.venue_ids else None,
            _dedupe(data.region_codes) if data.region_codes else None,
            data.description,
            data.enabled,
            sealer.seal(secret),
        )
        created = _subscription(row)
        await _audit(conn, principal, "webhook.created", created, after=_audited(created))
    return SubscriptionCreated(subscription=created, secret=secret)


async def get_subscription(
    conn: asyncpg.Connection, principal: Principal, subscription_id: uuid.UUID
) -> Subscription:
    row = await conn.fetchrow(
        Q()["webhooks_select_subscription"], subscription_id, _owner(principal)
    )
    if row is None:
        raise _not_found()
    return _subscription(row)


async def list_subscriptions(
    conn: asyncpg.Connection, principal: Principal, cursor: str | None, limit: int
) -> SubscriptionPage:
    at = decode_cursor(cursor) if cursor is not None else None
    rows = await conn.fetch(
        Q()["webhooks_select_subscriptions"],
        _owner(principal),
        limit + 1,
        at.created_at if at else None,
        at.id if at else None,
    )
    items = [_subscription(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id)
    return SubscriptionPage(items=items, next_cursor=next_cursor)


async def update_subscription(
    conn: asyncpg.Connection,
    principal: Principal,
    subscription_id: uuid.UUID,
    patch: SubscriptionPatch,
    settings: Settings,
) -> Subscription:
    """Apply the given fields, then check the result as a whole (as a create would)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            Q()["webhooks_lock_subscription"], subscription_id, _owner(principal)
        )
        if row is None:
            raise _not_found()
        current = _subscription(row)
        url = current.url if patch.url is UNSET else patch.url
        events = current.events if patch.events is UNSET else list(patch.events)
        venue_ids = current.venue_ids if patch.venue_ids is UNSET else patch.venue_ids
        regions = current.region_codes if patch.region_codes is UNSET else patch.region_codes
        description = current.description if patch.description is UNSET else patch.description
        enabled = current.enabled if patch.enabled is UNSET else patch.enabled
        if patch.url is not UNSET:
            await _check_url(conn, url, settings)
        await _check_scope(conn, principal, events, venue_ids, regions)
        row = await conn.fetchrow(
            Q()["webhooks_update_subscription"],
            subscription_id,
            url,
            _dedupe(events),
            sorted(set(venue_ids)) if venue_ids else None,
            _dedupe(regions) if regions else None,
            description,
            enabled,
            datetime.now(UTC),
        )
        updated = _subscription(row)
        old, new = audit.changed(_audited(current), _audited(updated))
        if new:
            await _audit(conn, principal, "webhook.changed", updated, before=old, after=new)
    return updated


async def delete_subscription(
    conn: asyncpg.Connection, principal: Principal, subscription_id: uuid.UUID
) -> None:
    """The subscription and its delivery log go; messages not yet sent are dropped."""
    async with conn.transaction():
        row = await conn.fetchrow(
            Q()["webhooks_lock_subscription"], subscription_id, _owner(principal)
        )
        deleted = await conn.fetchval(
            Q()["webhooks_delete_subscription"], subscription_id, _owner(principal)
        )
        if deleted is None or row is None:
            raise _not_found()
        gone = _subscription(row)
        await _audit(conn, principal, "webhook.deleted", gone, before=_audited(gone))


async def rotate_secret(
    conn: asyncpg.Connection,
    principal: Principal,
    subscription_id: uuid.UUID,
    sealer: SecretSealer,
    previous_valid_hours: float,
) -> SecretRotated:
    """A new secret; the old one keeps signing (beside it) for ``previous_valid_hours``
    (0 ends it now: a leaked secret)."""
    secret = new_secret()
    now = datetime.now(UTC)
    async with conn.transaction():
        until = await conn.fetchval(
            Q()["webhooks_rotate_secret"],
            subscription_id,
            _owner(principal),
            sealer.seal(secret),
            now + timedelta(hours=previous_valid_hours),
            now,
        )
        if until is None:
            raise _not_found()
        row = await conn.fetchrow(
            Q()["webhooks_lock_subscription"], subscription_id, _owner(principal)
        )
        assert row is not None
        await _audit(
            conn,
            principal,
            "webhook.secret_rotated",
            _subscription(row),
            after={"previous_secret_until": until.isoformat()},
        )
    return SecretRotated(secret=secret, previous_secret_until=until)


# --- deliveries --------------------------------------------------------------------


async def ping(
    conn: asyncpg.Connection,
    principal: Principal,
    subscription_id: uuid.UUID,
    settings: Settings,
) -> Delivery:
    """Queue a ``webhook.ping`` message, delivered and logged like any other."""
    await get_subscription(conn, principal, subscription_id)
    now = datetime.now(UTC)
    body = msgspec.json.encode(
        {
            "type": PING,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": {"subscription_id": str(subscription_id)},
        }
    ).decode()
    row = await conn.fetchrow(
        Q()["webhooks_insert_ping"],
        uuid.uuid4(),
        subscription_id,
        PING,
        body,
        now + timedelta(hours=settings.webhooks_retry_hours),
    )
    return _delivery(row)


async def list_deliveries(
    conn: asyncpg.Connection,
    principal: Principal,
    subscription_id: uuid.UUID,
    state: DeliveryState | None,
    cursor: str | None,
    limit: int,
) -> DeliveryPage:
    await get_subscription(conn, principal, subscription_id)
    at = decode_cursor(cursor) if cursor is not None else None
    rows = await conn.fetch(
        Q()["webhooks_select_deliveries"],
        subscription_id,
        state,
        limit + 1,
        at.created_at if at else None,
        at.id if at else None,
    )
    items = [_delivery(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id)
    return DeliveryPage(items=items, next_cursor=next_cursor)


async def get_delivery(
    conn: asyncpg.Connection,
    principal: Principal,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> DeliveryDetail:
    await get_subscription(conn, principal, subscription_id)
    row = await conn.fetchrow(Q()["webhooks_select_delivery"], subscription_id, delivery_id)
    if row is None:
        raise NotFound("No such delivery.", "webhooks.delivery_not_found")
    attempts = await conn.fetch(Q()["webhooks_select_attempts"], delivery_id)
    return DeliveryDetail(
        delivery=_delivery(row),
        body=row["body"],
        attempt_log=[msgspec.convert(dict(a), Attempt) for a in attempts],
    )


async def replay(
    conn: asyncpg.Connection,
    principal: Principal,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    settings: Settings,
) -> Delivery:
    """Send a delivered or dead-lettered message again, with the same ``webhook-id``
    (receivers that kept it deduplicate); a fresh retry window starts now."""
    detail = await get_delivery(conn, principal, subscription_id, delivery_id)
    now = datetime.now(UTC)
    row = await conn.fetchrow(
        Q()["webhooks_replay_delivery"],
        subscription_id,
        delivery_id,
        now,
        now + timedelta(hours=settings.webhooks_retry_hours),
    )
    if row is None:
        del detail
        raise Conflict(
            "The message is still queued; it is sent without a replay.",
            "webhooks.delivery_pending",
        )
    return _delivery(row)


# --- the dashboard's view ------------------------------------------------------------


async def region_alerts(
    conn: asyncpg.Connection, principal: Principal, region: str | None, limit: int
) -> Alerts:
    """Current levels and recent alerts of a region the caller may see (a planner's own,
    or below it; an admin's any); an operator's answer holds only their venues."""
    if region is None:
        if principal.kind is Kind.PLANNER and len(principal.region_codes) == 1:
            region = next(iter(principal.region_codes))
        else:
            raise Unprocessable("Give a region.", "alerts.bad_scope")
    rows = await conn.fetch(Q()["webhooks_select_region_paths"], [region])
    path = rows[0]["path"] if rows else None
    if path is None or (principal.kind is Kind.PLANNER and not _visible(principal, path)):
        raise NotFound("No such region.", "regions.not_found")
    levels = [
        msgspec.convert(dict(r), VenueLevel)
        for r in await conn.fetch(Q()["webhooks_select_levels_in_region"], region)
    ]
    recent = [
        Alert(
            type=r["type"],
            venue_id=r["venue_id"],
            venue_name=r["venue_name"],
            data=r["payload"],
            created_at=r["created_at"],
        )
        for r in await conn.fetch(
            Q()["webhooks_select_recent_alerts"], region, sorted(ALERT_TYPES), limit
        )
    ]
    if principal.kind is Kind.OPERATOR:
        levels = [lv for lv in levels if lv.venue_id in principal.venue_ids]
        recent = [a for a in recent if a.venue_id in principal.venue_ids]
    return Alerts(region=region, levels=levels, recent=recent)
