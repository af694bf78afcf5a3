"""``onecode rollup``: advance the visitor-flow rollups once (or in a loop)."""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from onecode.cli import command, database_url
from onecode.flows.rollup import advance
from onecode.settings import Settings


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--loop", action="store_true", help="keep advancing every rollup_interval_seconds"
    )


async def _run(dsn: str, loop: bool, interval: float) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        total = 0
        while True:
            consumed = await advance(conn)
            total += consumed
            print(f"rollup: consumed {consumed} rows", flush=True)
            if not loop:
                return total
            await asyncio.sleep(interval)
    finally:
        await conn.close()


@command("rollup", "advance the visitor-flow rollups from their watermark", _args)
def rollup(args: argparse.Namespace, settings: Settings) -> int:
    dsn, embedded = database_url(settings)
    try:
        asyncio.run(_run(dsn, bool(args.loop), settings.rollup_interval_seconds))
    except KeyboardInterrupt:
        pass
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    return 0
