"""HTTP routes of webhooks: subscriptions (admin, operators, planners: their own), the
delivery log with replay and ping, and the admin's allow-list of receiver hosts."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from onecode.audit.trail import Actor
from onecode.auth import Caller, Kind, allow
from onecode.db import Conn
from onecode.http.paging import MAX_CURSOR_LEN
from onecode.webhooks import service
from onecode.webhooks.detectors import heartbeat_flusher
from onecode.webhooks.models import (
    Alerts,
    AllowedHost,
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
    WebhookKey,
    WebhookKeys,
)
from onecode.webhooks.runner import in_process_worker
from onecode.webhooks.signing import MessageSigner, SecretSealer
from onecode.webhooks.worker import queue_gauges

CursorQuery = Annotated[
    str | None, QueryParameter(name="cursor", required=False, max_length=MAX_CURSOR_LEN)
]
LimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=100)]
StateQuery = Annotated[DeliveryState | None, QueryParameter(name="state", required=False)]
OverlapQuery = Annotated[
    float,
    QueryParameter(name="previous_valid_hours", ge=0, le=service.MAX_ROTATION_OVERLAP_HOURS),
]

SUBSCRIBERS = allow(Kind.ADMIN, Kind.OPERATOR, Kind.PLANNER)


def sealer_of(state: State) -> SecretSealer:
    """The app's sealer, made on first use from its settings (reads or makes the key)."""
    sealer = state.get("webhook_sealer")
    if sealer is None:
        sealer = SecretSealer(state.settings)
        state.webhook_sealer = sealer
    assert isinstance(sealer, SecretSealer)
    return sealer


def signer_of(state: State) -> MessageSigner:
    signer = state.get("webhook_signer")
    if signer is None:
        signer = MessageSigner(state.settings)
        state.webhook_signer = signer
    assert isinstance(signer, MessageSigner)
    return signer


@get("/v1/webhooks/keys", tags=["webhooks"])
async def webhook_keys(state: State) -> WebhookKeys:
    """The public key that verifies the ``v1a`` (Ed25519) webhook signatures."""
    if not state.settings.webhooks_sign_ed25519:
        return WebhookKeys(keys=[])
    key = WebhookKey(alg="Ed25519", signature_version="v1a", public_key=signer_of(state).public_key)
    return WebhookKeys(keys=[key])


class WebhookController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]
    guards = [SUBSCRIBERS]

    @post("/")
    async def create(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        data: JSONBody[SubscriptionIn],
    ) -> SubscriptionCreated:
        """Subscribe a URL to events; the answer holds the signing secret, shown once."""
        return await service.create_subscription(
            conn, principal, data, state.settings, sealer_of(state)
        )

    @get("/")
    async def list_subscriptions(
        self, conn: Conn, principal: Caller, cursor: CursorQuery = None, limit: LimitQuery = 20
    ) -> SubscriptionPage:
        """The caller's subscriptions (an admin's: all), newest first."""
        return await service.list_subscriptions(conn, principal, cursor, limit)

    @get("/{subscription_id:uuid}")
    async def get_subscription(
        self, conn: Conn, principal: Caller, subscription_id: FromPath[uuid.UUID]
    ) -> Subscription:
        """One subscription (never its secret)."""
        return await service.get_subscription(conn, principal, subscription_id)

    @patch("/{subscription_id:uuid}")
    async def update(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        subscription_id: FromPath[uuid.UUID],
        data: JSONBody[SubscriptionPatch],
    ) -> Subscription:
        """Change the URL, events, filters, description or enabled flag."""
        return await service.update_subscription(
            conn, principal, subscription_id, data, state.settings
        )

    @delete("/{subscription_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def remove(
        self, conn: Conn, principal: Caller, subscription_id: FromPath[uuid.UUID]
    ) -> None:
        """Delete a subscription with its delivery log."""
        await service.delete_subscription(conn, principal, subscription_id)

    @post("/{subscription_id:uuid}/rotate", status_code=HTTP_200_OK)
    async def rotate(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        subscription_id: FromPath[uuid.UUID],
        previous_valid_hours: OverlapQuery = 24.0,
    ) -> SecretRotated:
        """A new signing secret (shown once); the old one co-signs for a while."""
        return await service.rotate_secret(
            conn, principal, subscription_id, sealer_of(state), previous_valid_hours
        )

    @post("/{subscription_id:uuid}/ping", status_code=HTTP_202_ACCEPTED)
    async def ping(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        subscription_id: FromPath[uuid.UUID],
    ) -> Delivery:
        """Queue a test message (``webhook.ping``); follow it in the delivery log."""
        return await service.ping(conn, principal, subscription_id, state.settings)

    @get("/{subscription_id:uuid}/deliveries")
    async def deliveries(
        self,
        conn: Conn,
        principal: Caller,
        subscription_id: FromPath[uuid.UUID],
        delivery_state: StateQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 20,
    ) -> DeliveryPage:
        """The delivery log, newest first (``state=dead`` for the dead letters)."""
        return await service.list_deliveries(
            conn, principal, subscription_id, delivery_state, cursor, limit
        )

    @get("/{subscription_id:uuid}/deliveries/{delivery_id:uuid}")
    async def delivery(
        self,
        conn: Conn,
        principal: Caller,
        subscription_id: FromPath[uuid.UUID],
        delivery_id: FromPath[uuid.UUID],
    ) -> DeliveryDetail:
        """One delivery with its body and every attempt."""
        return await service.get_delivery(conn, principal, subscription_id, delivery_id)

    @post(
        "/{subscription_id:uuid}/deliveries/{delivery_id:uuid}/replay",
        status_code=HTTP_202_ACCEPTED,
    )
    async def replay(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        subscription_id: FromPath[uuid.UUID],
        delivery_id: FromPath[uuid.UUID],
    ) -> Delivery:
        """Send a delivered or dead-lettered message again, with the same webhook-id."""
        return await service.replay(conn, principal, subscription_id, delivery_id, state.settings)


RegionQuery = Annotated[str | None, QueryParameter(name="region", required=False, max_length=32)]
AlertLimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=100)]


@get("/v1/alerts", tags=["webhooks"], guards=[SUBSCRIBERS])
async def region_alerts(
    conn: Conn, principal: Caller, region: RegionQuery = None, limit: AlertLimitQuery = 20
) -> Alerts:
    """A region's current crowd levels per venue and its latest alerts (the dashboard)."""
    return await service.region_alerts(conn, principal, region, limit)


class WebhookHostController(Controller):
    path = "/v1/admin/webhook-hosts"
    tags = ["webhooks"]
    guards = [allow(Kind.ADMIN)]

    @get("/")
    async def list_hosts(self, conn: Conn) -> HostList:
        """The hosts webhooks may be sent to."""
        return await service.list_hosts(conn)

    @post("/")
    async def add_host(
        self,
        conn: Conn,
        principal: Caller,
        state: State,
        data: JSONBody[HostIn],
    ) -> AllowedHost:
        """Allow a receiver host (``hooks.example.org``, or ``*.example.org``)."""
        return await service.add_host(conn, data, state.settings, Actor.of(principal))

    @delete("/{host:str}", status_code=HTTP_204_NO_CONTENT)
    async def remove_host(self, conn: Conn, principal: Caller, host: FromPath[str]) -> None:
        """Stop allowing a host: its subscriptions' messages are refused from then on."""
        await service.remove_host(conn, host, Actor.of(principal))


ROUTES = [webhook_keys, region_alerts, WebhookController, WebhookHostController]
LIFESPANS = [heartbeat_flusher, queue_gauges, in_process_worker]
