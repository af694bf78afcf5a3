"""The dashboard's static files are served by the app itself (no CDN)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_planner_page_is_served_with_its_scripts(client: AsyncTestClient[Litestar]) -> None:
    r = await client.get("/planner/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<script src="echarts.min.js"' in html
    assert '<script src="app.js"' in html
    assert "<script>" not in html  # no inline script: the page runs under CSP 'self'
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    for asset, kind in (
        ("app.js", "javascript"),
        ("echarts.min.js", "javascript"),
        ("app.css", "text/css"),
        ("ECHARTS-LICENSE.txt", "text/plain"),
        ("ECHARTS-NOTICE.txt", "text/plain"),
        ("favicon.svg", "image/svg+xml"),
    ):
        a = await client.get(f"/planner/{asset}")
        assert a.status_code == 200, asset
        assert kind in a.headers["content-type"], (asset, a.headers["content-type"])
    echarts = (await client.get("/planner/echarts.min.js")).text
    assert len(echarts) > 500_000
    assert "Apache License" in (await client.get("/planner/ECHARTS-LICENSE.txt")).text


async def test_app_js_uses_no_eval(client: AsyncTestClient[Litestar]) -> None:
    js = (await client.get("/planner/app.js")).text
    assert "eval(" not in js
    assert "new Function" not in js
    assert "innerHTML" not in js


async def test_unknown_dashboard_file_is_404(client: AsyncTestClient[Litestar]) -> None:
    r = await client.get("/planner/nope.js")
    assert r.status_code == 404


async def test_page_and_assets_carry_the_dashboard_csp(client: AsyncTestClient[Litestar]) -> None:
    for path in ("/planner/", "/planner/app.js", "/planner/echarts.min.js"):
        r = await client.get(path)
        csp = r.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp, (path, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (path, csp)


async def test_favicon_is_served_not_404(client: AsyncTestClient[Litestar]) -> None:
    html = (await client.get("/planner/")).text
    assert '<link rel="icon" href="favicon.svg"' in html
    r = await client.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/")
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file


async def test_every_dashboard_word_is_in_the_catalog(client: AsyncTestClient[Litestar]) -> None:
    """Each data-i18n key of the page and each t("...") key of app.js has an entry."""
    import re

    from onecode import i18n

    html = (await client.get("/planner/")).text
    js = (await client.get("/planner/app.js")).text
    keys = set(re.findall(r'data-i18n="([a-z_.]+)"', html))
    keys |= set(re.findall(r'\bt\("([a-z_.]*[a-z_])"', js))
    keys |= set(re.findall(r'setStatus\("([a-z_.]+)"', js))
    assert len(keys) > 50, keys
    for locale in i18n.LOCALES:
        room = i18n.catalog(locale).room("dashboard")
        assert not sorted(keys - set(room)), (locale, sorted(keys - set(room)))
