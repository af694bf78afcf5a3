"""Traveller rules: register, read, erase, and issue, rotate and render the TQ1 code.

The revocation contract (what every gate decision relies on)
------------------------------------------------------------
A traveller has one ``credentials`` row; its random ``cred_id`` is what the QR carries.
A TQ1 code whose signature verifies (``onecode.codes.verify``) is then judged against
that row, by :func:`credential_status` (or the same rule inlined in SQL):

- no row with the code's ``cred_id``               -> ``invalid_code``
- ``credentials.revoked_all`` (the traveller erased) -> ``revoked_code``
- code ``generation < credentials.generation``     -> ``revoked_code`` (rotated away)
- code ``generation > credentials.generation``     -> ``invalid_code`` (never issued:
  a restored database or a leaked key; never trust it)
- otherwise the code is current; online, a screenshot suffix is then checked with
  :func:`onecode.codes.check_suffix` under ``credentials.suffix_secret`` (±1 step of
  30 s) -> ``screenshot_code`` when it does not match.

Rotation (:func:`rotate_code`) bumps ``generation`` in one conditional
``UPDATE … RETURNING``, replaces the suffix secret and sets ``changed_at`` (the gate
pack's revocation cursor), so every earlier generation is revoked the moment the
statement commits. Erasure (:func:`erase`) nulls the personal fields, sets
``revoked_all`` and revokes every API token of the traveller; scans, bookings and
reviews stay under the random traveller id, so aggregates keep counting.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
import msgspec

from onecode.auth import Kind, store_token
from onecode.codes import Credential, KeyStore, Reason, SigningKey, check_suffix, issue, new_cred_id
from onecode.codes import qr as qr_render
from onecode.codes.b64url import b64url_encode
from onecode.errors import NotFound
from onecode.identity.images import ImageCache, ImageFormat
from onecode.identity.models import Code, Me, Registered, Rotated, TravellerIn
from onecode.sql import Q

SUFFIX_SECRET_BYTES = 32


async def register(conn: asyncpg.Connection, data: TravellerIn, code_ttl_days: int) -> Registered:
    traveller_id = uuid.uuid4()
    secret = secrets.token_bytes(SUFFIX_SECRET_BYTES)
    expires = datetime.now(UTC) + timedelta(days=code_ttl_days)
    async with conn.transaction():
        await conn.execute(
            Q()["identity_insert_traveller"], traveller_id, data.display_name, data.home_region
        )
        await conn.execute(
            Q()["identity_insert_credential"], new_cred_id(), traveller_id, secret, expires
        )
        token = await store_token(conn, Kind.TRAVELLER, traveller_id)
    return Registered(
        traveller_id=traveller_id, access_token=token, code_secret=b64url_encode(secret)
    )


async def me(conn: asyncpg.Connection, traveller_id: uuid.UUID) -> Me:
    row = await conn.fetchrow(Q()["identity_select_me"], traveller_id)
    if row is None:
        raise NotFound("No such traveller.", "travellers.not_found")
    return msgspec.convert(dict(row), Me)


async def erase(conn: asyncpg.Connection, traveller_id: uuid.UUID) -> bool:
    """Erase the traveller's personal data and revoke their code and tokens.

    Idempotent: returns False when the traveller was already erased (tokens are revoked
    again all the same).
    """
    async with conn.transaction():
        row = await conn.fetchrow(Q()["identity_erase_traveller"], traveller_id)
        await conn.execute(Q()["auth_revoke_principal_tokens"], traveller_id)
        await conn.execute(Q()["events_delete_notifications"], traveller_id)
    return row is not None


def _sign(row: Any, key: SigningKey) -> str:
    return issue(
        Credential(
            kid=key.kid,
            cred_id=bytes(row["cred_id"]),
            generation=row["generation"],
            not_before=int(row["issued_at"].timestamp()),
            expires_at=int(row["expires_at"].timestamp()),
        ),
        key,
    )


async def _current_row(conn: asyncpg.Connection, traveller_id: uuid.UUID) -> Any:
    row = await conn.fetchrow(Q()["identity_select_credential"], traveller_id)
    if row is None or row["revoked_all"]:
        raise NotFound("No such traveller.", "travellers.not_found")
    return row


async def current_code(conn: asyncpg.Connection, keys: KeyStore, traveller_id: uuid.UUID) -> Code:
    """The traveller's TQ1 text for the current generation, signed with the newest key."""
    row = await _current_row(conn, traveller_id)
    text = _sign(row, keys.signing_key)
    return Code(code=text, generation=row["generation"], expires_at=row["expires_at"])


async def rotate_code(
    conn: asyncpg.Connection, keys: KeyStore, traveller_id: uuid.UUID, code_ttl_days: int
) -> Rotated:
    """A new generation (earlier ones revoked), a new suffix secret and a fresh expiry."""
    secret = secrets.token_bytes(SUFFIX_SECRET_BYTES)
    row = await conn.fetchrow(
        Q()["identity_rotate_credential"], traveller_id, secret, code_ttl_days
    )
    if row is None:
        raise NotFound("No such traveller.", "travellers.not_found")
    return Rotated(
        code=_sign(row, keys.signing_key),
        generation=row["generation"],
        expires_at=row["expires_at"],
        code_secret=b64url_encode(secret),
    )


def render(text: str, fmt: ImageFormat) -> bytes:
    """Render TQ1 text as a QR image (a few ms of CPU: callers cache the result)."""
    if fmt == "png":
        return qr_render.render_png(text)
    return qr_render.render_svg(text)


async def code_image(
    conn: asyncpg.Connection,
    keys: KeyStore,
    cache: ImageCache,
    traveller_id: uuid.UUID,
    fmt: ImageFormat,
) -> bytes:
    """The QR image of the current code: rendered once per (cred_id, generation, kid).

    The cache is checked and filled without an ``await`` in between, so concurrent
    requests on one event loop never render the same image twice.
    """
    row = await _current_row(conn, traveller_id)
    key = keys.signing_key
    cache_key = (bytes(row["cred_id"]), int(row["generation"]), key.kid, fmt)
    image = cache.get(cache_key)
    if image is None:
        image = render(_sign(row, key), fmt)
        cache.put(cache_key, image)
    return image


# --- revocation check for gates ---------------------------------------------------------


class CredentialStatus(NamedTuple):
    """The database's word on a verified code: whose it is, and why not (None = valid)."""

    traveller_id: uuid.UUID | None
    reason: Reason | None


def generation_reason(code_generation: int, current: int, revoked_all: bool) -> Reason | None:
    """The revocation rule on its own (see the module docstring); None when current."""
    if revoked_all or code_generation < current:
        return Reason.REVOKED_CODE
    if code_generation > current:
        return Reason.INVALID_CODE
    return None


async def credential_status(
    conn: asyncpg.Connection,
    cred_id: bytes,
    generation: int,
    *,
    body: str | None = None,
    suffix: bytes | None = None,
    now_unix: float | None = None,
    suffix_steps: int = 1,
) -> CredentialStatus:
    """Judge a verified code's credential in one round trip.

    With ``body`` and ``suffix`` (from ``Verified``) and ``now_unix``, the anti-screenshot
    suffix is checked too (``screenshot_code``). ``traveller_id`` is returned whenever the
    credential is known, also for a rejection, so the scan can be recorded against it.
    """
    row = await conn.fetchrow(Q()["identity_select_credential_status"], cred_id)
    if row is None:
        return CredentialStatus(None, Reason.INVALID_CODE)
    traveller_id: uuid.UUID = row["traveller_id"]
    reason = generation_reason(generation, row["generation"], row["revoked_all"])
    if reason is not None:
        return CredentialStatus(traveller_id, reason)
    if suffix is not None:
        if body is None or now_unix is None:
            raise ValueError("checking a suffix needs body and now_unix")
        if not check_suffix(body, suffix, bytes(row["suffix_secret"]), now_unix, suffix_steps):
            return CredentialStatus(traveller_id, Reason.SCREENSHOT_CODE)
    return CredentialStatus(traveller_id, None)
