"""The audit trail: every admin and operator change, appended in the change's own
transaction (so a rolled-back change leaves no entry and a committed one always has one).

An entry names the actor by principal kind and id (never a token or its hash), the
action, the object, its fields before and after, and the request id. Traveller data
never goes in: a slot cancel records how many bookings it cancelled, not whose, and
operator and planner names (often a person's) are left out; their ids and scopes are kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from onecode.auth import ADMIN_ID, Kind, Principal
from onecode.logs import REQUEST_ID
from onecode.sql import Q


class Actor(msgspec.Struct, frozen=True):
    """Who made a change: an admin or operator principal, or the ``onecode`` CLI."""

    kind: str
    id: uuid.UUID

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        if principal.kind not in (Kind.ADMIN, Kind.OPERATOR):
            raise ValueError(f"a {principal.kind.value} makes no audited changes")
        return cls(principal.kind.value, principal.id)


CLI = Actor("cli", ADMIN_ID)


def _plain(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    out: dict[str, Any] = msgspec.to_builtins(values)
    return out


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that differ, on both sides."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


async def record(
    conn: asyncpg.Connection,
    actor: Actor,
    action: str,
    object_kind: str,
    object_id: str | uuid.UUID,
    *,
    venue_id: uuid.UUID | None = None,
    region_code: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one entry (call inside the change's transaction)."""
    await conn.execute(
        Q()["operations_insert_audit"],
        uuid.uuid4(),
        actor.kind,
        actor.id,
        action,
        object_kind,
        str(object_id),
        venue_id,
        region_code,
        _plain(before),
        _plain(after),
        REQUEST_ID.get(),
    )


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
