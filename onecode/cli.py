"""The ``onecode`` command: serve, migrate and the operator tools.

The top of the house: it imports each domain's command module and reads its
``COMMANDS`` (see onecode/commands.py); nothing below imports this module."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from onecode.codes import cli as codes_cli
from onecode.commands import Command
from onecode.demo import run as demo_run
from onecode.devdb import database, describe
from onecode.flows import cli as flows_cli
from onecode.offline import agent_command as offline_agent
from onecode.operations import cli as operations_cli
from onecode.settings import Settings, SettingsError
from onecode.webhooks import cli as webhooks_cli

log = logging.getLogger("onecode.cli")

_DESCRIPTION = (
    "onecode: one QR code for a region's tourism. Serve the API and the planner dashboard, "
    "migrate the database, and run the operator tools. Without DATABASE_URL, an embedded "
    "PostgreSQL in the data folder is used."
)
_EPILOG = "Each command has its own help: onecode COMMAND --help"


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help line, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to listen on (ONECODE_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (ONECODE_PORT, default 8000)")
    p.add_argument(
        "--data-dir", type=Path, help="data folder (ONECODE_DATA_DIR, default ./.onecode)"
    )
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from onecode.app import create_app
    from onecode.logs import configure_logging

    configure_logging(settings)
    settings = msgspec.structs.replace(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        data_dir=args.data_dir or settings.data_dir,
    )
    with database(settings) as dsn:
        settings = msgspec.structs.replace(settings, database_url=dsn)
        admin_token = asyncio.run(_prepare_database(settings))
        if admin_token:
            print(  # shown once to the operator, never logged
                f"\nonecode: admin token (shown once, stored hashed): {admin_token}\n", flush=True
            )
        print(
            f"onecode {settings.host}:{settings.port}  API docs: "
            f"http://{settings.host}:{settings.port}/schema  dashboard: "
            f"http://{settings.host}:{settings.port}/planner/",
            flush=True,
        )
        # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal: let
        # that end in SystemExit so that leaving ``database()`` stops embedded PostgreSQL
        signal.signal(signal.SIGTERM, _exit_cleanly)
        common: dict[str, Any] = {
            "host": settings.host,
            "port": settings.port,
            "loop": "uvloop",
            "http": "httptools",
            "log_level": "warning",
            "access_log": False,
            "timeout_graceful_shutdown": 10,
        }
        if args.workers > 1:
            # each worker process builds its app from the environment prepared here
            os.environ.update(
                DATABASE_URL=dsn,
                ONECODE_HOST=settings.host,
                ONECODE_PORT=str(settings.port),
                ONECODE_DATA_DIR=str(settings.data_dir),
            )
            uvicorn.run("onecode.app:app_from_env", factory=True, workers=args.workers, **common)
        else:
            uvicorn.run(create_app(settings), **common)
    return 0


async def _prepare_database(settings: Settings) -> str | None:
    """Migrate, then register (or mint, returned once) the admin token: done once here,
    before any worker starts, so that workers never race to mint two."""
    import asyncpg

    from onecode.auth import ensure_admin_token
    from onecode.migrate import migrate

    assert settings.database_url
    applied = await migrate(settings.database_url)
    if applied:
        log.info("migrations applied: %s", ", ".join(applied))
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await ensure_admin_token(conn, settings.admin_token)
    finally:
        await conn.close()


def migrate_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from onecode.migrate import migrate

    with database(settings) as dsn:
        print(f"database: {describe(dsn, embedded=not settings.database_url)}", flush=True)
        applied = asyncio.run(migrate(dsn))
    print("applied: " + (", ".join(applied) if applied else "nothing, up to date"))
    return 0


COMMANDS: tuple[Command, ...] = (
    Command(
        "serve", "run the API (embedded PostgreSQL unless DATABASE_URL is set)", serve, _serve_args
    ),
    Command("migrate", "apply migrations to DATABASE_URL (or the embedded database)", migrate_cmd),
    *codes_cli.COMMANDS,
    *offline_agent.COMMANDS,
    *flows_cli.COMMANDS,
    *demo_run.COMMANDS,
    *webhooks_cli.COMMANDS,
    *operations_cli.COMMANDS,
)
"""Every sub-command: the server's own, then each domain's ``COMMANDS``."""


def parser() -> argparse.ArgumentParser:
    """The ``onecode`` argument parser: one sub-parser per command of ``COMMANDS``."""
    top = argparse.ArgumentParser(prog="onecode", description=_DESCRIPTION, epilog=_EPILOG)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for c in sorted(COMMANDS, key=lambda c: c.name):
        # every option's default in its help line
        c.arguments(
            sub.add_parser(
                c.name,
                help=c.help,
                description=c.help[:1].upper() + c.help[1:] + ".",
                formatter_class=_HelpWithDefaults,
            )
        )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    by_name = {c.name: c for c in COMMANDS}
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"onecode: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level)
    return by_name[args.command].run(args, settings)
