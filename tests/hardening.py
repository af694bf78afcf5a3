"""Helpers of the hardening tests: an app with changed settings, problem checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.settings import Settings

Client = AsyncTestClient[Litestar]


@asynccontextmanager
async def client_with(settings: Settings, **changes: Any) -> AsyncIterator[Client]:
    """A test client of an app built with ``settings`` changed by ``changes``."""
    app = create_app(msgspec.structs.replace(settings, **changes))
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as c:
        yield c


def assert_problem(r: Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body), body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return dict(body)
