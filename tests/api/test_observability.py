"""Request ids, access logs, /metrics, security headers, CORS and body limits."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

import pytest

from onecode.logs import JsonFormatter
from onecode.observability import record_booking, record_scan, set_rollup_lag
from onecode.settings import Settings
from tests.conftest import ADMIN, World
from tests.support.apps import Client, client_with
from tests.support.problems import assert_problem


async def test_request_id_is_generated_echoed_and_sanitised(client: Client) -> None:
    r = await client.get("/healthz")
    generated = r.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert (await client.get("/healthz")).headers["x-request-id"] != generated

    r = await client.get("/healthz", headers={"X-Request-ID": "edge-1234abcd"})
    assert r.headers["x-request-id"] == "edge-1234abcd"
    for insane in ("a b c d e f g h", "x" * 65, "short", "<script>alert(1)</script>"):
        r = await client.get("/healthz", headers={"X-Request-ID": insane})
        assert r.headers["x-request-id"] != insane
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    # a request no route matches gets one too
    r = await client.get("/nowhere", headers={"X-Request-ID": "edge-5678abcd"})
    assert r.status_code == 404
    assert r.headers["x-request-id"] == "edge-5678abcd"


async def test_access_log_is_json_with_route_template_and_no_raw_path(
    client: Client, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    venue = world.ids["venue_a"]
    with caplog.at_level(logging.INFO, logger="onecode.access"):
        r = await client.get(
            f"/v1/venues/{venue}/slots?date=2030-01-02", headers={"X-Request-ID": "trace-000001"}
        )
    assert r.status_code == 200
    records = [rec for rec in caplog.records if rec.name == "onecode.access"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "trace-000001"
    assert line["method"] == "GET"
    assert line["route"] == "/v1/venues/{venue_id}/slots"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    text = json.dumps(line)
    assert venue not in text
    assert "2030-01-02" not in text


async def test_metrics_needs_admin_unless_public(
    client: Client, world: World, settings: Settings
) -> None:
    assert_problem(await client.get("/metrics"), 401, "auth.missing_token")
    assert_problem(await client.get("/metrics", headers=world.auth("operator_a")), 403)
    r = await client.get("/metrics", headers=ADMIN)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    async with client_with(settings, metrics_public=True) as public:
        assert (await public.get("/metrics")).status_code == 200


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_by_template_and_domain_counters(
    client: Client, world: World
) -> None:
    route = "/v1/venues/{venue_id}"
    before = (await client.get("/metrics", headers=ADMIN)).text
    for _ in range(3):
        assert (await client.get(f"/v1/venues/{world.ids['venue_a']}")).status_code == 200
    await client.get("/v1/venues/00000000-0000-4000-8000-000000000000")  # 404
    record_scan("reject", "code.revoked")
    record_booking("slot_full")
    set_rollup_lag(12.5)
    after = (await client.get("/metrics", headers=ADMIN)).text

    def delta(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert delta("http_requests_total", route=route, method="GET", status="200") == 3
    assert delta("http_requests_total", route=route, method="GET", status="404") == 1
    assert (
        delta("http_request_duration_seconds_count", route=route, method="GET", status="200") == 3
    )
    assert delta("scan_decisions_total", reason="code.revoked", decision="reject") == 1
    assert delta("bookings_total", outcome="slot_full") == 1
    assert _sample(after, "rollup_lag_seconds") == 12.5
    assert world.ids["venue_a"] not in after  # labels are templates, never ids


async def test_security_headers_on_every_response(client: Client, world: World) -> None:
    responses = [
        await client.get("/healthz"),
        await client.get("/v1/me"),  # 401
        await client.get("/no/such/route"),  # unmatched 404
        await client.post("/v1/admin/regions", json={"code": "bad code"}, headers=ADMIN),  # 400
        await client.get("/v1/venues/not-a-uuid"),
    ]
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
    planner = await client.get("/planner/")
    csp = planner.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp and "*" not in csp and "unsafe" not in csp


async def test_cors_is_configurable(client: Client, settings: Settings) -> None:
    preflight = {
        "Origin": "https://app.example.cn",
        "Access-Control-Request-Method": "GET",
    }
    r = await client.options("/v1/venues", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    async with client_with(settings, cors_origins=("https://app.example.cn",)) as cors:
        r = await cors.options("/v1/venues", headers=preflight)
        assert r.status_code in (200, 204)
        assert r.headers["access-control-allow-origin"] == "https://app.example.cn"
        r = await cors.get("/v1/venues", headers={"Origin": "https://app.example.cn"})
        assert r.headers["access-control-allow-origin"] == "https://app.example.cn"
        r = await cors.get("/v1/venues", headers={"Origin": "https://evil.example"})
        assert r.headers.get("access-control-allow-origin") != "https://evil.example"
    env = Settings.from_env({"ONECODE_CORS_ORIGINS": "https://a.cn, https://b.cn"})
    assert env.cors_origins == ("https://a.cn", "https://b.cn")


async def test_bodies_over_the_limit_are_413_on_every_write_route(
    settings: Settings, world: World
) -> None:
    big = {"name": "x" * 5000}
    async with client_with(settings, max_body_bytes=2048) as small:
        paths = [
            ("/v1/admin/regions", ADMIN),
            ("/v1/admin/venues", ADMIN),
            (f"/v1/admin/venues/{world.ids['venue_a']}/gates", ADMIN),
            ("/v1/admin/operators", ADMIN),
            (f"/v1/venues/{world.ids['venue_a']}/slots", ADMIN),
            ("/v1/travellers", {}),
        ]
        for path, headers in paths:
            r = await small.post(path, json=big, headers=headers)
            assert_problem(r, 413, "request.too_large")

        # just under the limit is parsed (and refused for its content, not its size)
        r = await small.post(
            "/v1/admin/regions", json={"code": "CN-SC", "name": "Sichuan"}, headers=ADMIN
        )
        assert r.status_code == 201


async def test_real_scans_and_bookings_move_their_counters(client: Client, world: World) -> None:
    await world.traveller("a")
    before = (await client.get("/metrics", headers=ADMIN)).text
    scan = {
        "code": "TQ1:NOT-A-CODE",
        "direction": "in",
        "scan_id": "6f1c1d5e-8f2a-4b7e-9a51-1b6f2d3c4e5f",
        "scanned_at": datetime.now(UTC).isoformat(),
    }
    r = await client.post("/v1/gate/scans", json=scan, headers=world.auth("gate_a"))
    assert r.json()["reason"] == "invalid_code"
    r = await client.post(
        "/v1/bookings",
        json={"slot_id": "00000000-0000-4000-8000-000000000000", "party_size": 1},
        headers=world.auth("traveller_a"),
    )
    assert r.status_code == 404
    after = (await client.get("/metrics", headers=ADMIN)).text
    assert (
        _sample(after, "scan_decisions_total", reason="invalid_code", decision="reject")
        - (_sample(before, "scan_decisions_total", reason="invalid_code", decision="reject"))
        == 1
    )
    code = r.json()["code"]
    assert (
        _sample(after, "bookings_total", outcome=code)
        - (_sample(before, "bookings_total", outcome=code))
        == 1
    )
