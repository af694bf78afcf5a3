"""``onecode webhooks-worker``: the durable delivery worker as its own process.

It needs the database the API uses (``DATABASE_URL``, or the embedded server of the same
data folder) and the same webhook key (``ONECODE_WEBHOOK_KEY`` or the data folder's
``webhook.key``). Run one or more; they share the queue. ``--metrics-port`` serves its
Prometheus metrics. ``ONECODE_WEBHOOKS_IN_PROCESS=on`` runs the same loop inside
``onecode serve`` instead (onecode/webhooks/runner.py).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import msgspec

from onecode.commands import Command
from onecode.devdb import database
from onecode.settings import Settings


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", type=Path, help="data folder (ONECODE_DATA_DIR, default ./.onecode)"
    )
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")


def webhooks_worker(args: argparse.Namespace, settings: Settings) -> int:
    from onecode.logs import configure_logging
    from onecode.webhooks.runner import run_worker

    configure_logging(settings)
    if args.data_dir:
        settings = msgspec.structs.replace(settings, data_dir=args.data_dir)
    if args.metrics_port:
        from prometheus_client import start_http_server

        from onecode.observability import REGISTRY

        start_http_server(args.metrics_port, addr=settings.host, registry=REGISTRY)

    async def main(dsn: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, dsn, stop)

    with database(settings) as dsn:
        asyncio.run(main(dsn))
    return 0


COMMANDS = [
    Command(
        "webhooks-worker",
        "deliver webhooks and run the alert detectors (one or more beside the API)",
        webhooks_worker,
        _arguments,
    )
]
