"""Running the delivery worker: with its own small pool, as its own process (``onecode
webhooks-worker``) or inside ``onecode serve`` (``ONECODE_WEBHOOKS_IN_PROCESS=on``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import msgspec
from litestar import Litestar

from onecode.db import create_pool
from onecode.settings import Settings
from onecode.webhooks.detectors import detector_tick
from onecode.webhooks.signing import MessageSigner, SecretSealer
from onecode.webhooks.worker import DeliveryWorker


async def run_worker(settings: Settings, dsn: str, stop: asyncio.Event) -> None:
    """Run the worker until ``stop`` is set. Its pool is its own: a receiver that hangs
    holds no connection of the API's (and none of the worker's either while it waits)."""
    small = msgspec.structs.replace(settings, pool_min=1, pool_max=4)
    pool = await create_pool(dsn, small)
    try:
        signer = MessageSigner(settings) if settings.webhooks_sign_ed25519 else None
        worker = DeliveryWorker(
            pool, settings, SecretSealer(settings), signer=signer, ticks=[detector_tick(settings)]
        )
        await worker.run(stop)
    finally:
        await pool.close()


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
