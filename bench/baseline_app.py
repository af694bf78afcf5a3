"""The yardstick of the gate benchmark: a bare Litestar + asyncpg endpoint doing an
INSERT … ON CONFLICT and a SELECT in one transaction (four round trips), served by
uvicorn like onecode. ``python -m bench.baseline_app --dsn DSN --port PORT``."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
import msgspec
import uvicorn
from litestar import Litestar, post
from litestar.datastructures import State
from litestar.params import JSONBody


class In(msgspec.Struct, frozen=True):
    id: uuid.UUID


class Out(msgspec.Struct, frozen=True):
    id: uuid.UUID
    at: datetime


@post("/baseline", status_code=200)
async def baseline(state: State, data: JSONBody[In]) -> Out:
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO bench_baseline (id) VALUES ($1) ON CONFLICT DO NOTHING", data.id
        )
        row = await conn.fetchrow("SELECT id, at FROM bench_baseline WHERE id = $1", data.id)
    return Out(row["id"], row["at"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pool-max", type=int, default=20)
    args = p.parse_args()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        app.state.pool = await asyncpg.create_pool(args.dsn, min_size=2, max_size=args.pool_max)
        async with app.state.pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_baseline "
                "(id uuid PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
            )
        yield
        await app.state.pool.close()

    app = Litestar([baseline], lifespan=[lifespan])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
