"""The planner dashboard in a real browser: a uvicorn server on a free port over a test
database filled by the demo simulator, Debian's Chromium driven by Playwright, in
Simplified Chinese and in English, at desktop and at phone width. The screenshots land in
test-artifacts/dashboard-{zh-CN,en}-{desktop,phone}.png (looked at, see issue 19).

The page runs under the app's own strict Content-Security-Policy (scripts, styles and
data from 'self' only, no inline code, no eval), every other origin is refused at the
network layer, and any CSP violation or script error fails the test.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import uvicorn

from onecode.app import create_app
from onecode.codes import screenshot_suffix
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
def settings(settings: Settings) -> Settings:
    """The demo here is small (300 travellers): at the default epsilon its noise would hide
    most cells. Drawing is under test, not privacy (tests/privacy): a large epsilon keeps
    the noise at a person or two, and days are released as soon as they close."""
    return msgspec.structs.replace(settings, dp_epsilon=100.0, dp_release_delay_hours=0.0)


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
            text = (await client.get("/v1/me/code", headers=me)).json()["code"]
            secret = base64.urlsafe_b64decode(t["code_secret"] + "=" * (-len(t["code_secret"]) % 4))
            code = text + screenshot_suffix(text, secret, time.time())  # the phone's live code
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
    """A small demo played over real HTTP against the server, rollups advanced. Three
    days, so that yesterday is a whole day whatever the hour in Guizhou."""
    plan = make_plan(days=3, travellers=300, seed=5, now=datetime.now(UTC))
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        summary = await demo.run_plan(client, ADMIN_TOKEN, plan, demo.Progress(False))
        await _bookings_that_ended(client, db_url)
    await demo.advance_rollups(db_url)
    return server, summary


LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# what the page must say, per language
WORDS = {
    "zh-CN": {
        "arrivals": "到访",
        "sup": "已隐藏\uff08少于 10 名游客\uff09",
        "rejected": "令牌被拒绝",
        "alerts": "条最近提醒",
    },
    "en": {
        "arrivals": "Arrivals",
        "sup": "suppressed (<10 travellers)",
        "rejected": "Token rejected",
        "alerts": "recent alert(s)",
    },
}


def _yesterday_in_guizhou() -> str:
    from zoneinfo import ZoneInfo

    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()


async def _busiest(base: str, token: str, region: str, day: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.get(
            "/v1/planner/venues",
            params={"region": region, "from": day, "to": day},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    return str(r.json()["busiest"])


async def _chart_option(page: Any, name: str) -> dict[str, Any]:
    option = await page.evaluate(
        "n => JSON.parse(JSON.stringify(echarts.getInstanceByDom("
        "document.getElementById('chart-' + n)).getOption()))",
        name,
    )
    assert isinstance(option, dict)
    return option


async def _check_locale(
    browser: Any, base: str, summary: demo.Summary, locale: str, problems: list[str]
) -> None:
    words = WORDS[locale]
    # the browser's own language: Playwright sends it as Accept-Language
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="zh-CN" if locale == "zh-CN" else "en-US"
    )
    page = await context.new_page()
    failed: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    # anything not from this server is refused: no CDN, no internet
    await page.route(lambda url: not url.startswith(base), lambda route: route.abort())
    response = await page.goto(f"{base}/planner/")
    assert response is not None
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe" not in csp, csp
    await page.wait_for_selector(f"html[lang='{locale}']", state="attached")
    assert await page.locator('[data-card="arrivals"] h2').inner_text() == words["arrivals"]

    # 1. a wrong token says so, in the page's language
    await page.fill("#token", "oc_planner_not-a-real-token")
    await page.click("#token-form button[type=submit]")
    await page.wait_for_selector("body[data-loaded='1']", timeout=20_000)
    assert await page.get_attribute("#status", "data-status") == "status.token_rejected"
    assert words["rejected"] in await page.locator("#status").inner_text()

    # 2. the real token; occupancy of yesterday (a whole day whatever the hour in
    # Guizhou), the other charts up to today (the bookings that just ended)
    day = _yesterday_in_guizhou()
    await page.fill("#day", day)
    await page.evaluate("document.body.setAttribute('data-loaded', '0')")
    await page.fill("#token", summary.planner_token)
    await page.click("#token-form button[type=submit]")
    await page.wait_for_selector("body[data-loaded='1']", timeout=30_000)
    stored = await page.evaluate("sessionStorage.getItem('onecode.planner.token')")
    assert stored == summary.planner_token  # the token stays in this tab only
    assert await page.get_attribute("#status", "data-status") == "status.showing"

    # occupancy opens on the day's busiest gated venue, from the server's scoped list
    assert await page.input_value("#venue") == await _busiest(
        base, summary.planner_token, "CN-GZ", day
    )
    options = await page.locator("#venue option").all_inner_texts()
    assert options and "Nanming River Night Cruise" in " ".join(options)

    counts: dict[str, tuple[int, int, str | None]] = {}
    notes = {n: await page.locator(f'[data-card="{n}"] .note').inner_text() for n in CHARTS}
    for name in CHARTS:
        el = page.locator(f'.chart[data-chart="{name}"]')
        counts[name] = (
            int(await el.get_attribute("data-points") or 0),
            int(await el.get_attribute("data-suppressed") or 0),
            await el.get_attribute("data-state"),
        )
        assert await el.locator("canvas").count() >= 1, (name, counts[name], notes[name])
    assert all(c[2] == "rendered" for c in counts.values()), (counts, notes)
    assert all(c[0] > 0 for c in counts.values()), (counts, notes)
    assert sum(c[1] for c in counts.values()) > 0, counts
    badge = page.locator(".sup-count:visible").first
    assert words["sup"] in await badge.inner_text()
    # the crowd levels and alerts card read GET /v1/alerts without an error
    alerts_note = page.locator('[data-card="alerts"] .note')
    assert words["alerts"] in await alerts_note.inner_text()
    assert await alerts_note.get_attribute("class") == "note"
    assert "10" in await page.locator(".legend .k").inner_text()

    # suppressed origins are stubs of k, shorter than every shown bar (never full width)
    origins = await _chart_option(page, "origins")
    shown = [v for v in origins["series"][0]["data"] if v is not None]
    stubs = [v for v in origins["series"][1]["data"] if v is not None]
    assert shown and all(v == 10 for v in stubs) and all(v >= 10 for v in shown), origins
    assert not origins["series"][0].get("markArea", {}).get("data"), "no full-width bands"
    # origin names, not bare codes
    cats = origins["yAxis"][0]["data"]
    assert ("广东" if locale == "zh-CN" else "Guangdong") in cats, cats
    # occupancy: the axis top is a whole step (no "51" on "50"), the capacity label on the
    # left and the level labels on the right
    occupancy = await _chart_option(page, "occupancy")
    y = occupancy["yAxis"][0]
    assert y["max"] % y["interval"] == 0, y
    levels = occupancy["series"][1]
    assert levels["markLine"]["label"]["position"] == "insideStartTop"
    assert levels["markArea"]["label"]["position"] == "insideRight"

    if locale == "en":
        # CSV download: fetched with the bearer header, saved from a Blob
        async with page.expect_download() as info:
            await page.click('button.csv[data-endpoint="origins"]')
        download = await info.value
        text = Path(await download.path()).read_text(encoding="utf-8")
        assert "home_region" in text.splitlines()[0]

    ARTIFACTS.mkdir(exist_ok=True)
    await asyncio.sleep(1.0)  # ECharts' entry animations
    await page.screenshot(path=str(ARTIFACTS / f"dashboard-{locale}-desktop.png"), full_page=True)

    # phone width: one column, charts resized to the screen, flow labels under half width
    await page.set_viewport_size({"width": 390, "height": 844})
    await asyncio.sleep(1.5)
    boxes = [await page.locator(f'[data-card="{n}"]').bounding_box() for n in CHARTS]
    assert len({round(b["x"]) for b in boxes if b}) == 1, boxes
    canvas = await page.locator('.chart[data-chart="heatmap"] canvas').bounding_box()
    assert canvas is not None and canvas["width"] <= 390
    od = await _chart_option(page, "od")
    if od["series"][0]["type"] == "sankey":
        label = od["series"][0]["label"]
        assert label["width"] <= 0.45 * 390 and label["overflow"] == "break", label
    await page.screenshot(path=str(ARTIFACTS / f"dashboard-{locale}-phone.png"), full_page=True)

    # the planner switches language: every word follows, the data stays
    other = "en" if locale == "zh-CN" else "zh-CN"
    await page.evaluate("document.body.setAttribute('data-loaded', '0')")
    await page.select_option("#lang", other)
    await page.wait_for_selector("body[data-loaded='1']", timeout=30_000)
    assert await page.locator('[data-card="arrivals"] h2').inner_text() == WORDS[other]["arrivals"]
    await context.close()
    # the wrong token's 401s are expected; nothing else may fail (no favicon 404)
    unexpected = [f for f in failed if not f.startswith("401 ")]
    assert not unexpected, unexpected


@pytest.mark.slow
async def test_dashboard_in_both_languages_at_desktop_and_phone_width(
    filled: tuple[str, demo.Summary],
) -> None:
    from playwright.async_api import async_playwright

    base, summary = filled
    problems: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            for locale in ("zh-CN", "en"):
                await _check_locale(browser, base, summary, locale, problems)
        finally:
            await browser.close()
    refused = [m for m in problems if "Content Security Policy" in m or "Refused" in m]
    assert not refused, refused
    assert not [m for m in problems if "Uncaught" in m or "TypeError" in m], problems
