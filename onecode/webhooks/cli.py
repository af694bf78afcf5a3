"""``onecode webhooks-worker``: the durable delivery worker as its own process.

It needs the database the API uses (``DATABASE_URL``, or the embedded server of the same
data folder) and the same webhook key (``ONECODE_WEBHOOK_KEY`` or the data folder's
``webhook.key``). Run one or more; they share the queue. ``--metrics-port`` serves its
Prometheus metrics. ``ONECODE_WEBHOOKS_IN_PROCESS=on`` runs the same loop inside
``onecode serve`` instead (one process to run; the API and the deliveries then share it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
from litestar import Litestar

from onecode.cli import command, database_url
from onecode.settings import Settings

log = logging.getLogger("onecode.webhooks")


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", type=Path, help="data folder (ONECODE_DATA_DIR, default ./.onecode)"
    )
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")


async def run_worker(settings: Settings, dsn: str, stop: asyncio.Event) -> None:
    """Run the worker with its own small pool until ``stop`` is set."""
    from onecode.db import create_pool
    from onecode.webhooks.detectors import detector_tick
    from onecode.webhooks.signing import SecretSealer
    from onecode.webhooks.worker import DeliveryWorker

    small = msgspec.structs.replace(settings, pool_min=1, pool_max=4)
    pool = await create_pool(dsn, small)
    try:
        worker = DeliveryWorker(
            pool, settings, SecretSealer(settings), ticks=[detector_tick(settings)]
        )
        await worker.run(stop)
    finally:
        await pool.close()


@command("webhooks-worker", "deliver webhooks and run the alert detectors", _arguments)
def webhooks_worker(args: argparse.Namespace, settings: Settings) -> int:
    from onecode.logs import configure_logging

    configure_logging(settings)
    if args.data_dir:
        settings = msgspec.structs.replace(settings, data_dir=args.data_dir)
    if args.metrics_port:
        from prometheus_client import start_http_server

        from onecode.observability import REGISTRY

        start_http_server(args.metrics_port, addr=settings.host, registry=REGISTRY)
    dsn, embedded = database_url(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, dsn, stop)

    try:
        asyncio.run(main())
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    return 0


@asynccontextmanager
async def in_process_worker(app: Litestar) -> AsyncGenerator[None, None]:
    """Lifespan: the worker inside ``onecode serve`` when ``webhooks_in_process`` is on."""
    settings: Settings = app.state.settings
    if not settings.webhooks_in_process or not settings.database_url:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, settings.database_url, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait([task], timeout=settings.webhooks_timeout_seconds + 5)
