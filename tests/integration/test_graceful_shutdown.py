"""SIGTERM lets the request in flight finish: ``onecode serve`` as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN
from tests.support.servers import free_port


async def _wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as c:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise AssertionError("onecode serve exited early:\n" + err[-3000:])
            try:
                if (await c.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("onecode serve did not start")


async def test_sigterm_lets_the_request_in_flight_finish(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "ONECODE_ADMIN_TOKEN": ADMIN_TOKEN,
        "ONECODE_DATA_DIR": str(tmp_path / "data"),
        "ONECODE_PORT": str(port),
        "ONECODE_RATE_LIMIT": "off",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "onecode", "serve"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # read on failure
    )
    try:
        await _wait_ready(f"http://127.0.0.1:{port}", proc)
        # a slow client: the headers and half the body now, the rest after SIGTERM
        body = b'{"display_name": "slow traveller"}'
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/travellers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body[:10]
        )
        await writer.drain()
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert proc.poll() is None, "the server quit with a request in flight"
        writer.write(body[10:])
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        assert response.startswith(b"HTTP/1.1 201"), response[:200]
        assert b"access_token" in response
        assert proc.wait(timeout=15) == 0
        # and it accepts nothing new
        with_refusal = False
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        except httpx.TransportError:
            with_refusal = True
        assert with_refusal
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
