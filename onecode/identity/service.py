"""Traveller rules: register, read, and issue the current TQ1 code."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from onecode.auth import Kind, store_token
from onecode.codes import Credential, KeyStore, issue, new_cred_id
from onecode.errors import NotFound
from onecode.identity.models import Code, Me, Registered, TravellerIn
from onecode.sql import Q


async def register(conn: asyncpg.Connection, data: TravellerIn, code_ttl_days: int) -> Registered:
    traveller_id = uuid.uuid4()
    secret = secrets.token_bytes(32)
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
        traveller_id=traveller_id,
        access_token=token,
        code_secret=base64.urlsafe_b64encode(secret).rstrip(b"=").decode(),
    )


async def me(conn: asyncpg.Connection, traveller_id: uuid.UUID) -> Me:
    row = await conn.fetchrow(Q()["identity_select_me"], traveller_id)
    if row is None:
        raise NotFound("No such traveller.", "travellers.not_found")
    return msgspec.convert(dict(row), Me)


async def current_code(conn: asyncpg.Connection, keys: KeyStore, traveller_id: uuid.UUID) -> Code:
    """The traveller's TQ1 text for the current generation, signed with the newest key."""
    row = await conn.fetchrow(Q()["identity_select_credential"], traveller_id)
    if row is None or row["revoked_all"]:
        raise NotFound("No such traveller.", "travellers.not_found")
    key = keys.signing_key
    text = issue(
        Credential(
            kid=key.kid,
            cred_id=bytes(row["cred_id"]),
            generation=row["generation"],
            not_before=int(row["issued_at"].timestamp()),
            expires_at=int(row["expires_at"].timestamp()),
        ),
        key,
    )
    return Code(code=text, generation=row["generation"], expires_at=row["expires_at"])
