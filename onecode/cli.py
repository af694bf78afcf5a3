"""The ``onecode`` command: serve, migrate and the operator tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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


@command("serve", "run the API (embedded PostgreSQL unless DATABASE_URL is set)", _serve_args)
def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from onecode.app import create_app
    from onecode.logs import configure_logging
    from onecode.migrate import migrate

    configure_logging(settings)
    settings = msgspec.structs.replace(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        data_dir=args.data_dir or settings.data_dir,
    )
    dsn, embedded = database_url(settings)
    try:
        applied = asyncio.run(migrate(dsn))
        if applied:
            log.info("migrations applied: %s", ", ".join(applied))
        settings = msgspec.structs.replace(settings, database_url=dsn)
        app = create_app(settings)
        print(
            f"onecode {settings.host}:{settings.port}  API docs: "
            f"http://{settings.host}:{settings.port}/schema  dashboard: "
            f"http://{settings.host}:{settings.port}/planner/",
            flush=True,
        )
        # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into SystemExit so
        # the `finally` below still stops the embedded PostgreSQL
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    return 0


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

    for name in ("onecode.codes.cli", "onecode.offline.agent", "onecode.flows.cli", "onecode.demo"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # a plugin (or its package) not built yet is fine; a broken import is not
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
