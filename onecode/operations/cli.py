"""``onecode gates|operators|planners|venues|audit``: what an operator scripts.

Each command works on ``DATABASE_URL`` (or the embedded database) through the same
rules as the API, and is audited with the actor ``cli``. A revocation notifies running
servers (``LISTEN/NOTIFY``), so the token answers 401 on every replica at once. A new
token is printed once; it is stored only as a hash.

    onecode gates list [--venue ID] [--revoked]
    onecode gates revoke ID          onecode gates token ID
    onecode operators list|revoke ID|token ID
    onecode planners list|revoke ID|token ID
    onecode venues list [--region CODE] | deactivate ID | reactivate ID
    onecode audit [--venue ID] [--action ACTION] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec

from onecode.audit.trail import CLI
from onecode.auth import TokenCache
from onecode.commands import Command
from onecode.devdb import database
from onecode.errors import AppError
from onecode.operations import service
from onecode.operations.models import PrincipalKind
from onecode.settings import Settings

_LIMIT = 200


def _print(value: Any) -> None:
    print(json.dumps(msgspec.to_builtins(value), ensure_ascii=False, indent=2))


def _run(settings: Settings, job: Callable[[asyncpg.Connection], Awaitable[int]]) -> int:
    async def go(dsn: str) -> int:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.set_type_codec(
                "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
            )
            return await job(conn)
        finally:
            await conn.close()

    with database(settings) as dsn:
        try:
            return asyncio.run(go(dsn))
        except AppError as exc:
            print(f"onecode: {exc.detail} ({exc.code})", file=sys.stderr)
            return 1


def _principal_args(kind: str) -> Callable[[argparse.ArgumentParser], None]:
    def arguments(p: argparse.ArgumentParser) -> None:
        sub = p.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help=f"list {kind}, newest first")
        if kind != "planners":
            listing.add_argument("--venue", type=uuid.UUID, help="of this venue")
        listing.add_argument("--region", help="of this region (and those below)")
        listing.add_argument("--revoked", action="store_true", help="only revoked ones")
        for action, text in (
            ("revoke", "revoke it: its tokens answer 401 at once on every server"),
            ("token", "issue a new token (printed once); earlier ones are revoked"),
        ):
            sub.add_parser(action, help=text).add_argument("id", type=uuid.UUID)

    return arguments


def _principal_command(kind: PrincipalKind) -> Callable[[argparse.Namespace, Settings], int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        cache = TokenCache(0)  # this process caches nothing; servers hear the NOTIFY

        async def job(conn: asyncpg.Connection) -> int:
            if args.action == "revoke":
                await service.revoke(conn, cache, CLI, kind, args.id)
                print(f"revoked {kind[:-1]} {args.id}")
            elif args.action == "token":
                issued = await service.issue_token(conn, cache, CLI, kind, args.id)
                print(f"new token (shown once, stored hashed): {issued.token}")
                print(f"earlier tokens revoked: {issued.revoked_tokens}")
            else:
                revoked = True if args.revoked else None
                venue = getattr(args, "venue", None)
                page: Any
                if kind == "gates":
                    page = await service.list_gates(conn, None, _LIMIT, venue, args.region, revoked)
                elif kind == "operators":
                    page = await service.list_operators(
                        conn, None, _LIMIT, venue, args.region, revoked
                    )
                else:
                    page = await service.list_planners(conn, None, _LIMIT, args.region, revoked)
                _print(page.items)
            return 0

        return _run(settings, job)

    return run


def _venue_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="list venues, newest first")
    listing.add_argument("--region", help="of this region (and those below)")
    listing.add_argument("--inactive", action="store_true", help="only deactivated ones")
    for action, text in (
        ("deactivate", "no bookings, slots, check-ins or entries; its history stays"),
        ("reactivate", "take it back into service"),
    ):
        sub.add_parser(action, help=text).add_argument("id", type=uuid.UUID)


def venues(args: argparse.Namespace, settings: Settings) -> int:
    async def job(conn: asyncpg.Connection) -> int:
        if args.action == "list":
            active = False if args.inactive else None
            page = await service.list_venues(conn, None, _LIMIT, args.region, active)
            _print(page.items)
            return 0
        venue = await service.set_venue_active(conn, CLI, args.id, args.action == "reactivate")
        print(f"venue {venue.id} ({venue.name}): {'active' if venue.active else 'deactivated'}")
        return 0

    return _run(settings, job)


def _audit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--venue", type=uuid.UUID, help="changes of this venue")
    p.add_argument("--action", help="e.g. gate.revoked, slot.cancelled")
    p.add_argument("--limit", type=int, default=50, help="how many, newest first (at most 200)")


def audit(args: argparse.Namespace, settings: Settings) -> int:
    async def job(conn: asyncpg.Connection) -> int:
        f = service.AuditFilter(venue_ids=[args.venue] if args.venue else None, action=args.action)
        page = await service.list_audit(conn, None, max(1, min(args.limit, _LIMIT)), f)
        _print(page.items)
        return 0

    return _run(settings, job)


COMMANDS = [
    Command(
        "gates",
        "list, revoke or reissue gate tokens",
        _principal_command("gates"),
        _principal_args("gates"),
    ),
    Command(
        "operators",
        "list, revoke or reissue operator tokens",
        _principal_command("operators"),
        _principal_args("operators"),
    ),
    Command(
        "planners",
        "list, revoke or reissue planner tokens",
        _principal_command("planners"),
        _principal_args("planners"),
    ),
    Command("venues", "list, deactivate or reactivate venues", venues, _venue_args),
    Command("audit", "who changed what, when (newest first)", audit, _audit_args),
]
