"""The ``onecode`` command: serve, migrate and the operator tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from onecode.settings import Settings, SettingsError

log = logging.getLogger("onecode.cli")

Command = Callable[[argparse.Namespace, Settings], int]
_COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(
    name: str, help_text: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None
) -> Callable[[Command], Command]:
    """Register a sub-command; domains add theirs (keys, gate-agent, demo, rollup)."""

    def register(fn: Command) -> Command:
        _COMMANDS[name] = (fn, arguments, help_text)
        return fn

    return register


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to listen on (ONECODE_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (ONECODE_PORT, default 8000)")
    p.add_argument(
        "--data-dir", type=Path, help="data folder (ONECODE_DATA_DIR, default ./.onecode)"
    )
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers (default 1)")


def database_url(settings: Settings) -> tuple[str, object | None]:
    """The configured database, or a started embedded PostgreSQL (returned to stop later)."""
    if settings.database_url:
        return settings.database_url, None
    from onecode.pg import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir)
    return embedded.start(), embedded


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


@command("serve", "run the API (embedded PostgreSQL unless DATABASE_URL is set)", _serve_args)
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
    dsn, embedded = database_url(settings)
    try:
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
        # that end in SystemExit so the ``finally`` below stops embedded PostgreSQL
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
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    return 0


async def _prepare_database(settings: Settings) -> str | None:
    """Migrate, then register (or mint, returned once) the admin token: done once here,
    before any worker starts, so that workers never race to mint two."""
    import asyncpg

    from onecode.app import ensure_admin_token
    from onecode.migrate import migrate

    assert settings.database_url
    applied = await migrate(settings.database_url)
    if applied:
        log.info("migrations applied: %s", ", ".join(applied))
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await ensure_admin_token(conn, settings)
    finally:
        await conn.close()


@command("migrate", "apply migrations to DATABASE_URL (or the embedded database)")
def migrate_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from onecode.migrate import migrate

    dsn, embedded = database_url(settings)
    try:
        applied = asyncio.run(migrate(dsn))
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    print("applied: " + (", ".join(applied) if applied else "nothing, up to date"))
    return 0


def _load_plugins() -> None:
    """Import the modules that register more sub-commands."""
    import importlib

    plugins = ("onecode.codes.cli", "onecode.offline.agent", "onecode.flows.cli", "onecode.demo")
    for name in (*plugins, "onecode.webhooks.cli"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # the plugin or its package is absent (a domain not merged yet): skip it;
            # a module missing *inside* an existing plugin is a real error
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise


def main(argv: Sequence[str] | None = None) -> int:
    _load_plugins()
    parser = argparse.ArgumentParser(prog="onecode", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, arguments, help_text) in sorted(_COMMANDS.items()):
        arguments(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"onecode: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level)
    fn = _COMMANDS[args.command][0]
    return fn(args, settings)
