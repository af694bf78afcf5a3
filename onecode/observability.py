"""Observability: request ids, JSON access logs, Prometheus metrics and security headers.

The middleware is plain ASGI and cheap because it sits on the gate hot path: one
regex match, one clock read on either side, one counter and one histogram update.
What it logs is the route *template* (``/v1/venues/{venue_id:uuid}``), never the raw
path, query string, headers or body: paths hold ids and place codes, headers hold
tokens, bodies hold codes and names.

Other domains call the named recorders:

    record_scan(decision, reason)   a gate decision (``accept``/``reject`` + reason)
    record_booking(outcome)         ``created``, ``slot_full``, ``cancelled``, ...
    set_rollup_lag(seconds)         how far the planner rollups trail real time

``GET /metrics`` serves the Prometheus text to admin tokens, or to anyone when
``ONECODE_METRICS_PUBLIC=on``: deploy then binds the API so that /metrics is reachable
only on the internal network (an internal listener or the proxy refusing the path).
Metrics live in this process; with several uvicorn workers each has its own, and
Prometheus scrapes each worker (or use prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar import Response, get
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from onecode.auth import Kind, resolve_principal
from onecode.errors import Forbidden, Unauthorized
from onecode.logs import REQUEST_ID

log = logging.getLogger("onecode.access")

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,64}$")
_RID_KEY = "onecode.request_id"
UNMATCHED = "<unmatched>"  # the route label of a request no route matched (404/405)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by route template, method and status.",
    ("route", "method", "status"),
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request to the end of the response, by route template, method, status.",
    ("route", "method", "status"),
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
SCAN_DECISIONS = Counter(
    "scan_decisions_total",
    "Gate scan decisions by decision and reason.",
    ("reason", "decision"),
    registry=REGISTRY,
)
BOOKINGS = Counter(
    "bookings_total", "Booking attempts by outcome.", ("outcome",), registry=REGISTRY
)
ROLLUP_LAG = Gauge(
    "rollup_lag_seconds",
    "How far the planner rollups trail real time.",
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "rate_limited_total",
    "Requests refused by a rate limit, by bucket.",
    ("bucket",),
    registry=REGISTRY,
)


# (route template, method, status) -> its counter and histogram series; bounded by the
# route table (templates, not paths), the method set and the status codes
_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def record_scan(decision: str, reason: str) -> None:
    """Count one gate decision (``accept``/``reject``) with its reason code."""
    SCAN_DECISIONS.labels(reason=reason, decision=decision).inc()


def record_booking(outcome: str) -> None:
    """Count one booking attempt by outcome (``created``, ``slot_full``, ...)."""
    BOOKINGS.labels(outcome=outcome).inc()


def set_rollup_lag(seconds: float) -> None:
    """Publish how many seconds the planner rollups trail real time."""
    ROLLUP_LAG.set(seconds)


def record_rate_limited(bucket: str) -> None:
    RATE_LIMITED.labels(bucket=bucket).inc()


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in _METHODS else "OTHER"  # a label must not be client-chosen


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _SANE_ID.match(value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


def _access(request_id: str, method: str, route: str, status: int, duration: float | None) -> None:
    key = (route, method, status)
    children = _CHILDREN.get(key)
    if children is None:  # labels() takes a lock and builds a tuple: once per series
        label = str(status)
        children = (
            HTTP_REQUESTS.labels(route, method, label),
            HTTP_LATENCY.labels(route, method, label),
        )
        _CHILDREN[key] = children
    children[0].inc()
    if duration is not None:
        children[1].observe(duration)
    if log.isEnabledFor(logging.INFO):
        ms = -1.0 if duration is None else round(duration * 1000, 2)
        log.info(
            "%s %s %s %sms",
            method,
            route,
            status,
            ms,
            extra={
                "request_id": request_id,
                "fields": {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": ms,
                },
            },
        )


def observability_middleware(app: ASGIApp) -> ASGIApp:
    """Litestar middleware (the outermost of a matched route): id, metrics, access log."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope[_RID_KEY] = request_id  # type: ignore[literal-required]
        token = REQUEST_ID.set(request_id)
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((REQUEST_ID_HEADER, request_id.encode("ascii")))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            route = scope.get("path_template") or UNMATCHED
            _access(request_id, _method(scope), route, status, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    return middleware


_COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
# the dashboard loads only its own scripts, styles and data
DASHBOARD_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    b"form-action 'self'; frame-ancestors 'none'"
)
# the API docs page (Swagger UI, onecode/http/docs.py): the wheel's own files, and the
# inline script that starts it with the document; nothing from another host
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# JSON, CSV and images never need to load anything
API_CSP = b"default-src 'none'; frame-ancestors 'none'"


async def security_headers(message: Message, scope: Scope) -> None:
    """Litestar ``before_send`` hook: security headers on every response, and the
    request id / access line for requests no route matched (those skip middleware)."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or [])
    headers.extend(_COMMON_HEADERS)
    path: str = scope.get("path", "")
    if path == "/planner" or path.startswith("/planner/"):  # the page itself is "/planner"
        headers.append((b"content-security-policy", DASHBOARD_CSP))
    elif path == "/schema" or (path.startswith("/schema/") and path != "/schema/openapi.json"):
        headers.append((b"content-security-policy", DOCS_CSP))
    else:
        headers.append((b"content-security-policy", API_CSP))
    if scope.get("type") == ScopeType.HTTP and _RID_KEY not in scope:
        request_id = _request_id(scope)
        scope[_RID_KEY] = request_id  # type: ignore[literal-required]
        headers.append((REQUEST_ID_HEADER, request_id.encode("ascii")))
        _access(request_id, _method(scope), UNMATCHED, message["status"], None)
    message["headers"] = headers


async def _metrics_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    if connection.app.state.settings.metrics_public:
        return
    principal = await resolve_principal(connection)
    if principal is None:
        raise Unauthorized("/metrics needs an admin token.", "auth.missing_token")
    if principal.kind is not Kind.ADMIN:
        raise Forbidden("/metrics is for admin tokens.", "auth.wrong_principal")


@get("/metrics", tags=["system"], guards=[_metrics_guard], include_in_schema=False)
async def metrics() -> Response[bytes]:
    """Prometheus metrics (admin, or anyone when ONECODE_METRICS_PUBLIC is on)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


ROUTES = [metrics]
