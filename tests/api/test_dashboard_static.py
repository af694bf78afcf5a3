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
