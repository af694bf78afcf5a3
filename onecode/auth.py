"""Principals and guards.

Every request names one principal with ``Authorization: Bearer <token>``. Tokens are
long random strings shown once and stored only as SHA-256 hashes. A short in-process
cache (``token_cache_seconds``) keeps the gate hot path at one database round trip.

Scope rule: an object outside the principal's scope answers 404 (it may not know it
exists); a route of another principal kind answers 403.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import time
import uuid
from typing import Any

import asyncpg
import msgspec
from cachetools import TTLCache
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler

from onecode.db import Conn
from onecode.errors import Forbidden, NotFound, Unauthorized
from onecode.sql import Q


class Kind(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    GATE = "gate"
    PLANNER = "planner"
    TRAVELLER = "traveller"


ADMIN_ID = uuid.UUID(int=0)


class Principal(msgspec.Struct, frozen=True):
    """Who is asking, and what they may see."""

    kind: Kind
    id: uuid.UUID
    venue_ids: frozenset[uuid.UUID] = frozenset()
    region_codes: frozenset[str] = frozenset()

    def owns_venue(self, venue_id: uuid.UUID) -> bool:
        return self.kind is Kind.ADMIN or venue_id in self.venue_ids


# what a guarded handler declares to get its caller
Caller = NamedDependency[Principal]


def new_token(kind: Kind) -> str:
    """A fresh bearer token; the prefix tells a human what it is, the rest is 256 random bits."""
    return f"oc_{kind.value}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


async def store_token(conn: asyncpg.Connection, kind: Kind, principal_id: uuid.UUID) -> str:
    token = new_token(kind)
    await conn.execute(Q()["auth_insert_token"], hash_token(token), kind.value, principal_id)
    return token


async def ensure_admin_token(conn: asyncpg.Connection, configured: str | None) -> str | None:
    """The one place an admin token is made: register the configured one (idempotent), or
    mint the database's first on a fresh start and return it, to be shown once."""
    if configured:
        await conn.execute(
            Q()["auth_register_token"], hash_token(configured), Kind.ADMIN.value, ADMIN_ID
        )
        return None
    if await conn.fetchval(Q()["auth_count_admin_tokens"]):
        return None
    return await store_token(conn, Kind.ADMIN, ADMIN_ID)


class TokenCache:
    """token hash -> principal for ``ttl`` seconds (0: no caching); bounded, the least
    recently used out first (a ``cachetools.TTLCache``)."""

    def __init__(self, ttl: float, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: TTLCache[bytes, Principal] = TTLCache(
            maxsize=max_entries, ttl=max(ttl, 0.0), timer=time.monotonic
        )
        # bumped by every forget: a lookup that started before a revocation must not
        # put back what the revocation just dropped (see ``put``)
        self.generation = 0

    def get(self, key: bytes) -> Principal | None:
        return self._items.get(key)

    def put(self, key: bytes, principal: Principal, generation: int | None = None) -> None:
        if self.ttl <= 0:
            return
        if generation is not None and generation != self.generation:
            return  # tokens were revoked while this one was being looked up
        self._items[key] = principal

    def clear(self) -> None:
        self.generation += 1
        self._items.clear()

    def forget_principal(self, principal_id: uuid.UUID) -> None:
        """Drop every cached token of a principal whose tokens were just revoked."""
        self.generation += 1
        for key in [k for k, p in self._items.items() if p.id == principal_id]:
            self._items.pop(key, None)


class GateSightings:
    """When each gate last made a request, kept in memory: a dict write per gate request,
    no database work on the scan path. A lifespan (onecode/webhooks/detectors.py) takes
    the map every few seconds and writes it to ``gate_heartbeats`` for gate.offline."""

    def __init__(self) -> None:
        self._seen: dict[uuid.UUID, float] = {}

    def saw(self, gate_id: uuid.UUID) -> None:
        self._seen[gate_id] = time.time()

    def take(self) -> dict[uuid.UUID, float]:
        seen, self._seen = self._seen, {}
        return seen


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def load_principal(conn: asyncpg.Connection, token_hash: bytes) -> Principal | None:
    row = await conn.fetchrow(Q()["auth_select_principal"], token_hash)
    if row is None:
        return None
    return Principal(
        kind=Kind(row["kind"]),
        id=row["principal_id"],
        venue_ids=frozenset(row["venue_ids"] or ()),
        region_codes=frozenset(row["region_codes"] or ()),
    )


async def resolve_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The request's principal, or None without a token. An unknown token is 401."""
    cached = connection.scope.get("state", {}).get("principal")
    if isinstance(cached, Principal):
        return cached
    token = _bearer(connection)
    if token is None:
        if connection.headers.get("authorization"):
            raise Unauthorized("Authorization must be 'Bearer <token>'.", "auth.malformed")
        return None
    if len(token) > 200:
        raise Unauthorized("Unknown or revoked token.", "auth.invalid_token")
    key = hash_token(token)
    app_state = connection.app.state
    cache: TokenCache = app_state.token_cache
    principal = cache.get(key)
    if principal is None:
        from onecode.db import acquire

        generation = cache.generation
        db = await acquire(app_state.pool, app_state.settings.db_acquire_timeout)
        try:
            principal = await load_principal(db, key)
        finally:
            await app_state.pool.release(db)
        if principal is None:
            raise Unauthorized("Unknown or revoked token.", "auth.invalid_token")
        cache.put(key, principal, generation)
    if principal.kind is Kind.GATE:
        sightings = app_state.get("gate_sightings")
        if sightings is not None:
            sightings.saw(principal.id)
    connection.scope.setdefault("state", {})["principal"] = principal
    return principal


def allow(*kinds: Kind) -> Any:
    """A guard that admits the given principal kinds (401 without a token, 403 otherwise)."""
    allowed = frozenset(kinds)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = await resolve_principal(connection)
        if principal is None:
            raise Unauthorized("This route needs a bearer token.", "auth.missing_token")
        if principal.kind not in allowed:
            raise Forbidden(
                f"A {principal.kind.value} token cannot use this route.", "auth.wrong_principal"
            )

    guard.__name__ = "allow_" + "_".join(sorted(k.value for k in allowed))
    guard.kinds = sorted(k.value for k in allowed)  # type: ignore[attr-defined]  # OpenAPI
    return guard


async def provide_principal(request: Request[Any, Any, Any], conn: Conn) -> Principal:
    """Dependency: the guarded request's principal (guards ran first).

    It names ``conn`` only to be resolved after it: Litestar resolves dependencies of
    one level together in an anyio task group, which cost about 7% of the gate hot
    path's CPU (py-spy); one after the other they cost nothing extra.
    """
    del conn
    principal = await resolve_principal(request)
    if principal is None:
        raise Unauthorized("This route needs a bearer token.", "auth.missing_token")
    return principal


def guarded_caller(request: Request[Any, Any, Any]) -> Principal:
    """The principal an ``allow`` guard of this route resolved (what ``principal`` gives,
    without a dependency: for the gate's hot path)."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise Unauthorized("This route needs a bearer token.", "auth.missing_token")
    return principal


def require_venue(principal: Principal, venue_id: uuid.UUID) -> None:
    """Object scope: a venue the principal does not hold is 404."""
    if not principal.owns_venue(venue_id):
        raise NotFound("No such venue.", "venues.not_found")
