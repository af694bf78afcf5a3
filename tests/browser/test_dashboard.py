"""The planner dashboard in a real browser: a uvicorn server on a free port over a test
database filled by the demo simulator, Debian's Chromium driven by Playwright.

The page runs under the app's own strict Content-Security-Policy (scripts, styles and
data from 'self' only, no inline code, no eval), every other origin is refused at the
network layer, and any CSP violation or script error fails the test.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn

from onecode.app import create_app
from onecode.demo import run as demo
from onecode.demo.plan import make_plan
from onecode.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.servers import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHARTS = ("arrivals", "heatmap", "od", "occupancy", "origins", "bookings")

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(
        f"{CHROMIUM} is absent (apt-get install chromium); the browser test never downloads one",
        allow_module_level=True,
    )


class _Server:
    """uvicorn in a thread, on its own event loop."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            loop="asyncio",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with _Server(settings) as url:
        yield url


async def _bookings_that_ended(client: httpx.AsyncClient, db_url: str) -> None:
    """The demo's bookings are all ahead (no past slot can be booked): here a boat tour
    gets a slot that ends in seconds (12 no-shows) and one that is open now (12 entries),
    all through the API; then the no-show sweep runs as the server's lifespan would."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    venue = (
        await client.post(
            "/v1/admin/venues",
            headers=admin,
            json={
                "region_code": "CN-GZ-GY",
                "name": "Nanming River Night Cruise",
                "kind": "boat_tour",
                "gated": True,
                "requires_booking": True,
                "entry_rule": "single",
                "capacity_instant": 200,
                "capacity_daily": 1000,
                "late_grace_min": 0,
            },
        )
    ).json()
    gate = (
        await client.post(
            f"/v1/admin/venues/{venue['id']}/gates", headers=admin, json={"name": "Pier"}
        )
    ).json()
    now = datetime.now(UTC)
    slots = (
        await client.post(
            f"/v1/venues/{venue['id']}/slots",
            headers=admin,
            json={
                "slots": [
                    {
                        "starts_at": (now + timedelta(seconds=2)).isoformat(),
                        "ends_at": (now + timedelta(seconds=3)).isoformat(),
                        "capacity": 20,
                    },
                    {
                        "starts_at": (now + timedelta(minutes=5)).isoformat(),
                        "ends_at": (now + timedelta(hours=2)).isoformat(),
                        "capacity": 20,
                    },
                ]
            },
        )
    ).json()["slots"]
    short, open_now = sorted(slots, key=lambda sl: str(sl["starts_at"]))
    for i in range(24):
        t = (await client.post("/v1/travellers", json={"home_region": "CN-44"})).json()
        me = {"Authorization": f"Bearer {t['access_token']}"}
        slot = short if i < 12 else open_now
        r = await client.post(
            "/v1/bookings", headers=me, json={"slot_id": slot["id"], "party_size": 1}
        )
        assert r.status_code == 201, r.text
        if slot is open_now:
            code = (await client.get("/v1/me/code", headers=me)).json()["code"]
            scan = await client.post(
                "/v1/gate/scans",
                headers={"Authorization": f"Bearer {gate['token']}"},
                json={
                    "code": code,
                    "direction": "in",
                    "scan_id": str(uuid.uuid4()),
                    "scanned_at": datetime.now(UTC).isoformat(),
                },
            )
            assert scan.json()["decision"] == "accept", scan.text
    await asyncio.sleep(
        max(0.0, (now + timedelta(seconds=3.2) - datetime.now(UTC)).total_seconds())
    )
    from onecode.bookings.service import release_no_shows

    conn = await asyncpg.connect(db_url)
    try:
        assert await release_no_shows(conn) == 12
    finally:
        await conn.close()


@pytest.fixture
async def filled(server: str, db_url: str) -> tuple[str, demo.Summary]:
    """A small demo played over real HTTP against the server, rollups advanced."""
    plan = make_plan(days=2, travellers=240, seed=5, now=datetime.now(UTC))
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        summary = await demo.run_plan(client, ADMIN_TOKEN, plan, demo.Progress(False))
        await _bookings_that_ended(client, db_url)
    await demo.advance_rollups(db_url)
    return server, summary


@pytest.mark.slow
async def test_dashboard_renders_every_chart_and_shows_suppression(
    filled: tuple[str, demo.Summary],
) -> None:
    from playwright.async_api import async_playwright

    base, summary = filled
    problems: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            # anything not from this server is refused: no CDN, no internet
            await page.route(
                lambda url: not url.startswith(base),
                lambda route: route.abort(),
            )
            response = await page.goto(f"{base}/planner/")
            assert response is not None
            csp = response.headers.get("content-security-policy", "")
            assert "script-src 'self'" in csp and "unsafe" not in csp, csp
            await page.fill("#token", summary.planner_token)
            await page.click("#token-form button[type=submit]")
            await page.wait_for_selector("body[data-loaded='1']", timeout=20_000)
            # the token stays in this tab only
            stored = await page.evaluate("sessionStorage.getItem('onecode.planner.token')")
            assert stored == summary.planner_token
            # occupancy of the busiest gated venue today
            await page.select_option("#venue", label="Huangguoshu Waterfall")
            await page.evaluate("document.body.setAttribute('data-loaded', '0')")
            await page.click("#filters button[type=submit]")
            await page.wait_for_selector("body[data-loaded='1']", timeout=20_000)

            counts: dict[str, tuple[int, int, str | None]] = {}
            for name in CHARTS:
                el = page.locator(f'.chart[data-chart="{name}"]')
                counts[name] = (
                    int(await el.get_attribute("data-points") or 0),
                    int(await el.get_attribute("data-suppressed") or 0),
                    await el.get_attribute("data-state"),
                )
                # the chart drew a canvas
                assert await el.locator("canvas").count() >= 1, name
            notes = {n: await page.locator(f'[data-card="{n}"] .note').inner_text() for n in CHARTS}
            assert all(c[2] == "rendered" for c in counts.values()), (counts, notes)
            assert all(c[0] > 0 for c in counts.values()), (counts, notes)

            assert sum(c[1] for c in counts.values()) > 0, counts
            # the crowd levels and alerts card read GET /v1/alerts without an error
            alerts_note = page.locator('[data-card="alerts"] .note')
            assert "recent alert(s)" in await alerts_note.inner_text()
            assert await alerts_note.get_attribute("class") == "note"
            # a suppressed cell is shown as suppressed, with its label visible
            badge = page.locator(".sup-count:visible").first
            assert await badge.is_visible()
            assert "suppressed (<10 travellers)" in await badge.inner_text()
            assert "10" in await page.locator(".legend .k").inner_text()

            # CSV download: fetched with the bearer header, saved from a Blob
            async with page.expect_download() as info:
                await page.click('button.csv[data-endpoint="origins"]')
            download = await info.value
            path = await download.path()
            text = Path(path).read_text(encoding="utf-8")
            assert "home_region" in text.splitlines()[0]

            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # phone width: one column, charts resized to the screen
            await page.set_viewport_size({"width": 390, "height": 844})
            await asyncio.sleep(0.5)
            boxes = [await page.locator(f'[data-card="{n}"]').bounding_box() for n in CHARTS]
            assert len({round(b["x"]) for b in boxes if b}) == 1, boxes
            canvas = await page.locator('.chart[data-chart="heatmap"] canvas').bounding_box()
            assert canvas is not None and canvas["width"] <= 390
            await page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
        finally:
            await browser.close()
    refused = [m for m in problems if "Content Security Policy" in m or "Refused" in m]
    assert not refused, refused
    assert not [m for m in problems if "Uncaught" in m or "TypeError" in m], problems
