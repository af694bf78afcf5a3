"""The admin token is made in one place (onecode.auth.ensure_admin_token), for every
caller: ``onecode serve`` before its workers start, the app's lifespan, ``onecode demo``."""

from __future__ import annotations

import asyncpg

from onecode.auth import ADMIN_ID, Kind, ensure_admin_token, hash_token, load_principal


async def _admin_tokens(conn: asyncpg.Connection) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM api_tokens WHERE kind = 'admin'")
    return n


async def test_a_fresh_database_mints_one_admin_token_once(conn: asyncpg.Connection) -> None:
    await conn.execute("DELETE FROM api_tokens WHERE kind = 'admin'")
    minted = await ensure_admin_token(conn, None)
    assert minted is not None and minted.startswith("oc_admin_")
    assert await ensure_admin_token(conn, None) is None  # shown once, never again
    assert await _admin_tokens(conn) == 1
    principal = await load_principal(conn, hash_token(minted))
    assert principal is not None
    assert principal.kind is Kind.ADMIN and principal.id == ADMIN_ID


async def test_a_configured_admin_token_is_registered_at_every_start(
    conn: asyncpg.Connection,
) -> None:
    await conn.execute("DELETE FROM api_tokens WHERE kind = 'admin'")
    configured = "oc_admin_configured-" + "x" * 32
    for _ in range(3):
        assert await ensure_admin_token(conn, configured) is None
    assert await _admin_tokens(conn) == 1
    principal = await load_principal(conn, hash_token(configured))
    assert principal is not None and principal.kind is Kind.ADMIN
    # an admin now exists: a start without configuration mints no second one
    assert await ensure_admin_token(conn, None) is None
    assert await _admin_tokens(conn) == 1
