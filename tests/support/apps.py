"""Apps for tests: the test client type, and an app built with changed settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
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
