"""``onecode rollup``: advance the visitor-flow rollups once (or in a loop), and
release the closed days due (differential privacy, onecode/flows/privacy.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import asyncpg

from onecode.commands import Command
from onecode.devdb import database, describe
from onecode.flows import privacy
from onecode.flows.rollup import advance
from onecode.settings import Settings


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--loop", action="store_true", help="keep advancing every rollup_interval_seconds"
    )


async def _run(dsn: str, loop: bool, interval: float, params: privacy.Params) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        total = 0
        while True:
            consumed = await advance(conn)
            total += consumed
            released = await privacy.release_due(conn, params)
            print(f"rollup: consumed {consumed} rows, released {released} days", flush=True)
            if not loop:
                return total
            await asyncio.sleep(interval)
    finally:
        await conn.close()


def rollup(args: argparse.Namespace, settings: Settings) -> int:
    with database(settings) as dsn, contextlib.suppress(KeyboardInterrupt):
        print(f"database: {describe(dsn, embedded=not settings.database_url)}", flush=True)
        params = privacy.Params(
            epsilon=settings.dp_epsilon, delay_hours=settings.dp_release_delay_hours
        )
        asyncio.run(_run(dsn, bool(args.loop), settings.rollup_interval_seconds, params))
    return 0


COMMANDS = [
    Command("rollup", "advance the visitor-flow rollups from their watermark", rollup, _args)
]
