"""What the observability middleware and security headers cost per request.

Calls a database-free handler straight through ASGI (no sockets), with and without
the hardening layers, and prints microseconds per request. Run:
``python bench/middleware_overhead.py [requests]``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any

from litestar import Litestar, get

from onecode.logs import JsonFormatter
from onecode.observability import observability_middleware, security_headers


@get("/v1/venues/{venue_id:uuid}")
async def venue(venue_id: Any) -> dict[str, str]:
    return {"status": "ok"}


SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/v1/venues/6f1c2d3e-4b5a-4c6d-8e7f-001122334455",
    "raw_path": b"/v1/venues/6f1c2d3e-4b5a-4c6d-8e7f-001122334455",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"x"), (b"authorization", b"Bearer oc_gate_xyz")],
    "client": ("127.0.0.1", 1),
    "server": ("x", 80),
}


async def _run(app: Litestar, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    for _ in range(500):  # warm up
        await app(dict(SCOPE, state={}), receive, send)  # type: ignore[arg-type]
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(SCOPE, state={}), receive, send)  # type: ignore[arg-type]
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    bare = Litestar([venue], logging_config=None)
    hardened = Litestar(
        [venue],
        middleware=[observability_middleware],
        before_send=[security_headers],
        logging_config=None,
    )
    middleware_only = Litestar([venue], middleware=[observability_middleware], logging_config=None)
    access = logging.getLogger("onecode.access")
    access.propagate = False
    access.setLevel(logging.WARNING)  # first without the log line: the pure cost
    a = asyncio.run(_run(bare, n))
    m = asyncio.run(_run(middleware_only, n))
    b = asyncio.run(_run(hardened, n))
    access.setLevel(logging.INFO)
    with open(os.devnull, "w") as sink:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(JsonFormatter())
        access.addHandler(handler)
        c = asyncio.run(_run(hardened, n))
    print(f"bare handler:                  {a:7.1f} us/request")
    print(f"+ ids, metrics (middleware):   {m:7.1f} us/request  (+{m - a:.1f})")
    print(f"+ security headers hook:       {b:7.1f} us/request  (+{b - a:.1f})")
    print(f"+ JSON access line (devnull):  {c:7.1f} us/request  (+{c - a:.1f})")


if __name__ == "__main__":
    main()
