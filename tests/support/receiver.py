"""A real webhook receiver on loopback for the tests: a tiny HTTP/1.1 server on
asyncio's streams that records every request and answers from a script.

A script step is a status code, ``"hang"`` (read the request, never answer),
``"close"`` (drop the connection), ``"slow"`` (answer 204 after ``slow_seconds``) or
``"429+2"`` (a status with ``Retry-After: 2``).
When the script runs out, it answers ``default`` (204).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    script: deque[int | str] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    default: int | str = 204
    slow_seconds: float = 0.3
    _server: asyncio.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _hanging: set[asyncio.StreamWriter] = field(default_factory=set)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def stop(self) -> None:
        self._closing.set()  # hung handlers return
        for writer in self._hanging:
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.received)} of {count} webhooks arrived")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
        return self.received

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = (await reader.readline()).decode("latin-1").rstrip("\r\n")
                    if not h:
                        break
                    name, _, value = h.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                step = self.script.popleft() if self.script else self.default
                self.received.append(Received(method, path, headers, body, time.monotonic()))
                self._arrived.set()
                if step == "hang":
                    self._hanging.add(writer)
                    await self._closing.wait()
                    return
                if step == "slow":
                    await asyncio.sleep(self.slow_seconds)
                    step = 204
                if step == "close":
                    writer.close()
                    return
                extra = ""
                if isinstance(step, str) and "+" in step:
                    step, seconds = step.split("+", 1)
                    extra = f"retry-after: {seconds}\r\n"
                head = f"HTTP/1.1 {step} X\r\n{extra}content-length: 0\r\n\r\n"
                writer.write(head.encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()
