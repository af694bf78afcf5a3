"""Wire shapes of webhook subscriptions, deliveries and the host allow-list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from onecode.catalog.models import Input, RegionCode

# every event type a subscription may name (docs/webhooks.md describes each payload)
EVENT_TYPES: tuple[str, ...] = (
    "venue.level_changed",
    "venue.capacity_forecast_reached",
    "booking.cancelled_by_venue",
    "waitlist.offer_made",
    "lottery.drawn",
    "complaint.answered",
    "gate.conflict_found",
    "gate.offline",
)
# planners see crowd and operations signals, never events about one traveller
PLANNER_EVENT_TYPES: frozenset[str] = frozenset(
    {"venue.level_changed", "venue.capacity_forecast_reached", "gate.offline", "lottery.drawn"}
)
PING = "webhook.ping"
# what the dashboard shows as a region's alerts
ALERT_TYPES: frozenset[str] = frozenset(
    {"venue.level_changed", "venue.capacity_forecast_reached", "gate.offline"}
)

EventType = Literal[
    "venue.level_changed",
    "venue.capacity_forecast_reached",
    "booking.cancelled_by_venue",
    "waitlist.offer_made",
    "lottery.drawn",
    "complaint.answered",
    "gate.conflict_found",
    "gate.offline",
]
Url = Annotated[str, Meta(min_length=1, max_length=2000)]
Events = Annotated[list[EventType], Meta(min_length=1, max_length=len(EVENT_TYPES))]
VenueIds = Annotated[list[uuid.UUID], Meta(min_length=1, max_length=1000)]
RegionCodes = Annotated[list[RegionCode], Meta(min_length=1, max_length=1000)]
Description = Annotated[str, Meta(max_length=200)]
Secret = Annotated[str, Meta(min_length=1, max_length=200)]
Host = Annotated[str, Meta(min_length=1, max_length=255)]
DeliveryState = Literal["pending", "delivered", "dead"]
Outcome = Literal["delivered", "http_error", "timeout", "network", "refused"]


class SubscriptionIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: Url
    events: Events
    secret: Secret | None = None
    venue_ids: VenueIds | None = None
    region_codes: RegionCodes | None = None
    description: Description | None = None
    enabled: bool = True


class SubscriptionPatch(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Only the fields given change; ``null`` clears a filter (the owner's whole scope)."""

    url: Url | UnsetType = UNSET
    events: Events | UnsetType = UNSET
    venue_ids: VenueIds | UnsetType | None = UNSET
    region_codes: RegionCodes | UnsetType | None = UNSET
    description: Description | UnsetType | None = UNSET
    enabled: bool | UnsetType = UNSET


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription; its secret is never part of it (only of the create/rotate answer)."""

    id: uuid.UUID
    url: str
    events: list[str]
    venue_ids: list[uuid.UUID] | None
    region_codes: list[str] | None
    description: str | None
    enabled: bool
    owner_kind: str
    created_at: datetime
    updated_at: datetime
    previous_secret_until: datetime | None = None


class SubscriptionCreated(msgspec.Struct, frozen=True, kw_only=True):
    """The new subscription and its signing secret: shown this once, stored sealed."""

    subscription: Subscription
    secret: str


class SubscriptionPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Subscription]
    next_cursor: str | None


class SecretRotated(msgspec.Struct, frozen=True, kw_only=True):
    """The new secret (shown once); the previous one keeps signing until
    ``previous_secret_until``, so receivers can switch without dropping a message."""

    secret: str
    previous_secret_until: datetime


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    n: int
    started_at: datetime
    duration_ms: int
    status: int | None
    outcome: Outcome
    error: str | None = None


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One message to one subscription; ``webhook_id`` is the same on every attempt."""

    id: uuid.UUID
    webhook_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    retry_until: datetime
    created_at: datetime
    delivered_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None


class DeliveryDetail(msgspec.Struct, frozen=True, kw_only=True):
    delivery: Delivery
    body: str
    attempt_log: list[Attempt]


class DeliveryPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Delivery]
    next_cursor: str | None


class HostIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: Host
    note: Description | None = None


class AllowedHost(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    note: str | None
    added_at: datetime


class HostList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AllowedHost]


class WebhookKey(msgspec.Struct, frozen=True, kw_only=True):
    """A public key of the ``v1a`` signatures: Ed25519 over ``{id}.{timestamp}.{body}``."""

    alg: Literal["Ed25519"]
    signature_version: Literal["v1a"]
    public_key: str  # whpk_ + base64 of the 32 raw bytes


class WebhookKeys(msgspec.Struct, frozen=True, kw_only=True):
    keys: list[WebhookKey]


class VenueLevel(msgspec.Struct, frozen=True, kw_only=True):
    """The level last announced for a venue (``kind``: instant or daily)."""

    venue_id: uuid.UUID
    venue_name: str
    kind: Literal["instant", "daily"]
    level: Literal["green", "yellow", "orange", "red"]
    changed_at: datetime


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    venue_id: uuid.UUID | None
    venue_name: str | None
    data: dict[str, Any]
    created_at: datetime


class Alerts(msgspec.Struct, frozen=True, kw_only=True):
    """A region's current levels and its latest crowd and gate alerts, newest first."""

    region: str
    levels: list[VenueLevel]
    recent: list[Alert]
