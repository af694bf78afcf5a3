"""Alert detectors run by the delivery worker (filled in on top of the events outbox)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from onecode.settings import Settings


def detector_tick(settings: Settings) -> Callable[[asyncpg.Pool], Awaitable[None]]:
    """The worker's periodic step that turns state into events."""

    async def tick(pool: asyncpg.Pool) -> None:
        del pool

    del settings
    return tick
