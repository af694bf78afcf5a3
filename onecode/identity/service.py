"""Traveller rules: register, read, erase, and issue, rotate and render the TQ1 code;
paper passes.

The revocation contract (what every gate decision relies on)
------------------------------------------------------------
A traveller's credentials are ``credentials`` rows, keyed by (traveller, cred_id) so
that they sit with the traveller's bookings (under Citus, on the traveller's shard); each
random ``cred_id`` is what one QR carries, and ``credential_ids`` maps it to its
traveller for the gate (a code names nobody), written with every new credential. One
row of kind ``phone`` is current (the app's live code); rows of kind ``paper`` are
printed passes, one booking each. A code whose signature verifies is then
judged against its row by ``gate_scan()`` (sql/functions/gates.sql) online and by the
pack's revocations offline (onecode.gates.rules); Python holds no copy of that rule.

Rotation (:func:`rotate_code`) revokes the current phone row (``revoked_all``, kept as a
tombstone the gate pack lists) and inserts a new row with a **new random cred_id** and
a new suffix secret, so codes before and after cannot be linked; old codes answer
``revoked_code``. Erasure (:func:`erase`) nulls the personal fields, sets
``revoked_all`` on every credential of the traveller (phone and paper) and revokes every
API token; scans, bookings and reviews stay under the random traveller id.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from onecode.auth import Kind, store_token
from onecode.codes import Credential, KeyStore, SigningKey, issue, new_cred_id
from onecode.codes import qr as qr_render
from onecode.codes.b64url import b64url_encode
from onecode.errors import NotFound
from onecode.identity.images import ImageCache, ImageFormat
from onecode.identity.models import Code, Me, PaperPass, Registered, Rotated, TravellerIn
from onecode.sql import Q

SUFFIX_SECRET_BYTES = 32


async def register(conn: asyncpg.Connection, data: TravellerIn, code_ttl_days: int) -> Registered:
    traveller_id = uuid.uuid4()
    secret = secrets.token_bytes(SUFFIX_SECRET_BYTES)
    expires = datetime.now(UTC) + timedelta(days=code_ttl_days)
    cred_id = new_cred_id()
    async with conn.transaction():
        await conn.execute(
            Q()["identity_insert_traveller"], traveller_id, data.display_name, data.home_region
        )
        await _insert_lookup(conn, cred_id, traveller_id)
        await conn.execute(
            Q()["identity_insert_credential"], cred_id, traveller_id, secret, expires
        )
        token = await store_token(conn, Kind.TRAVELLER, traveller_id)
    return Registered(
        traveller_id=traveller_id,
        token=token,
        access_token=token,
        code_secret=b64url_encode(secret),
    )


async def _insert_lookup(conn: asyncpg.Connection, cred_id: bytes, traveller_id: uuid.UUID) -> None:
    """The cred_id -> traveller lookup a gate reads first; every credential gets its row
    in the transaction that creates it (the caller's)."""
    await conn.execute(Q()["identity_insert_credential_id"], cred_id, traveller_id)


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
    """A new credential (new random cred_id, new suffix secret, fresh expiry); the
    earlier one is revoked. Racing rotations take turns on the traveller's row."""
    secret = secrets.token_bytes(SUFFIX_SECRET_BYTES)
    cred_id = new_cred_id()
    async with conn.transaction():
        row = None
        if await conn.fetchval(Q()["identity_lock_traveller"], traveller_id) is not None:
            await _insert_lookup(conn, cred_id, traveller_id)
            row = await conn.fetchrow(
                Q()["identity_rotate_credential"], traveller_id, cred_id, secret, code_ttl_days
            )
        if row is None:  # raised inside: the lookup row goes with the transaction
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


# --- paper passes ------------------------------------------------------------------------


async def issue_paper_pass(
    conn: asyncpg.Connection,
    keys: KeyStore,
    traveller_id: uuid.UUID,
    booking_id: uuid.UUID,
    venue_id: uuid.UUID | None = None,
) -> PaperPass:
    """A paper pass for one live booking (a new one revokes the booking's earlier pass)."""
    cred_id = new_cred_id()
    async with conn.transaction():
        await _insert_lookup(conn, cred_id, traveller_id)
        row = await conn.fetchrow(
            Q()["identity_issue_paper_pass"],
            traveller_id,
            booking_id,
            cred_id,
            secrets.token_bytes(SUFFIX_SECRET_BYTES),  # never used: paper has no suffix
            venue_id,
        )
        if row is None:  # raised inside: the lookup row goes with the transaction
            raise NotFound("No live booking with that id.", "bookings.not_found")
    return PaperPass(
        code=_sign(row, keys.signing_key), booking_id=booking_id, expires_at=row["expires_at"]
    )


async def revoke_paper_pass(
    conn: asyncpg.Connection, traveller_id: uuid.UUID, booking_id: uuid.UUID
) -> None:
    """Revoke the booking's paper pass (if it has one; idempotent): its code answers
    ``revoked_code`` at once."""
    row = await conn.fetchrow(Q()["identity_revoke_paper_pass"], traveller_id, booking_id)
    assert row is not None
    if not row["mine"]:
        raise NotFound("No booking with that id.", "bookings.not_found")


async def booking_traveller(
    conn: asyncpg.Connection, venue_id: uuid.UUID, booking_id: uuid.UUID
) -> uuid.UUID:
    """Whose booking at the venue this is (the staffed window), or 404."""
    traveller = await conn.fetchval(Q()["identity_select_booking_traveller"], booking_id, venue_id)
    if traveller is None:
        raise NotFound("No booking with that id at this venue.", "bookings.not_found")
    assert isinstance(traveller, uuid.UUID)
    return traveller
