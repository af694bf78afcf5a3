"""Rate limits for the public and traveller routes: in-process token buckets.

A route opts in with ``opt={"rate_limit": "<bucket>"}``; the bucket's budget is the
setting ``rate_<bucket>`` (``ONECODE_RATE_REGISTER="10/60"``: 10 requests per 60 s,
refilled continuously). The caller is counted

- per token (its SHA-256) when it sends a bearer token, and also per client address
  with ``rate_address_factor`` times the budget, so a carrier NAT shared by many
  phones is not throttled as one, yet minting random tokens does not escape;
- per client address otherwise (registration).

No gate route carries a bucket, so gate devices are never throttled; a header that
merely looks like a gate token (``Bearer oc_gate_…``) is no exemption anywhere: it is
counted like any token (and the address budget caps made-up ones). A refusal is a
429 ``rate_limited`` problem with ``Retry-After``. ``ONECODE_RATE_LIMIT=off`` disables
every bucket.

The buckets live in this process: with N replicas (or uvicorn workers) a caller gets
up to N budgets. That is acceptable for abuse control (the budgets are generous); a
strict global limit belongs in the shared edge (the reverse proxy's ``limit_req``) or
in a shared store (Redis ``INCR`` + ``EXPIRE``, or a PostgreSQL counter row). Behind
a proxy, run uvicorn with ``--proxy-headers --forwarded-allow-ips`` so the client
address is the traveller's, not the proxy's.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from onecode import i18n
from onecode.errors import PROBLEM_JSON, Problem, localize
from onecode.observability import record_rate_limited
from onecode.settings import Settings, SettingsError

OPT_KEY = "rate_limit"


def parse_rate(text: str) -> tuple[int, float]:
    """``"10/60"`` -> (10 requests, 60 seconds)."""
    count, sep, seconds = text.partition("/")
    try:
        n, s = int(count), float(seconds)
    except ValueError:
        n, s = 0, 0.0
    if not sep or n < 1 or not math.isfinite(s) or s <= 0:
        raise SettingsError(f"a rate must look like '10/60' (requests/seconds), not {text!r}")
    return n, s


class TokenBuckets:
    """Token buckets by key: ``capacity`` tokens, refilled at ``capacity / period`` a second.

    Bounded: past ``max_keys`` entries the refilled (idle) ones are dropped."""

    def __init__(self, capacity: int, period: float, max_keys: int = 200_000) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / period
        self.max_keys = max_keys
        self._buckets: dict[Any, list[float]] = {}

    def take(self, key: Any, now: float | None = None) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is back."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            self._buckets[key] = [self.capacity - 1.0, now]
            return 0.0
        tokens = min(self.capacity, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = self.capacity / self.rate
        idle = [k for k, (_, last) in self._buckets.items() if now - last >= full]
        for k in idle:
            del self._buckets[k]
        if len(self._buckets) >= self.max_keys:  # all busy: forget rather than grow
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)


class Limits:
    """Every bucket's per-key and per-address budgets for one app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._by_bucket: dict[str, tuple[TokenBuckets, TokenBuckets]] = {}

    def buckets(self, name: str) -> tuple[TokenBuckets, TokenBuckets]:
        pair = self._by_bucket.get(name)
        if pair is None:
            raw = getattr(self.settings, f"rate_{name}", None)
            if not isinstance(raw, str):
                raise SettingsError(f"route bucket {name!r} has no setting rate_{name}")
            n, seconds = parse_rate(raw)
            factor = max(1, self.settings.rate_address_factor)
            pair = (TokenBuckets(n, seconds), TokenBuckets(n * factor, seconds))
            self._by_bucket[name] = pair
        return pair

    def check(self, name: str, token: bytes | None, address: str) -> float:
        """0.0 when the request may go on, else its Retry-After in seconds."""
        per_key, per_address = self.buckets(name)
        if token is None:
            return per_key.take(("addr", address))
        wait = per_key.take(("token", hashlib.sha256(token).digest()))
        if wait:
            return wait
        return per_address.take(("addr", address))

    def validate(self, bucket_names: Iterable[str]) -> None:
        """Fail at startup, not at the first request, on a bucket without a budget."""
        for name in bucket_names:
            self.buckets(name)


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            token = token.strip()
            return token if scheme.lower() == b"bearer" and token else None
    return None


def _accept_language(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"accept-language":
            return value.decode("latin-1")
    return None


async def _refuse(send: Send, bucket: str, wait: float, language: str | None = None) -> None:
    record_rate_limited(bucket)
    retry_after = str(max(1, math.ceil(wait)))
    title, detail = localize(
        "rate_limited",
        "Too many requests",
        f"Too many requests; try again in {retry_after} s.",
        i18n.negotiate(language),
    )
    body = msgspec.json.encode(
        Problem(
            type="https://onecode.dev/problems/rate_limited",
            title=title,
            status=429,
            detail=detail,
            code="rate_limited",
        )
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", retry_after.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def rate_limit_middleware(limits: Limits) -> Callable[[ASGIApp], ASGIApp]:
    """A Litestar middleware factory applying ``limits`` to the routes that opt in."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            handler = scope.get("route_handler")
            bucket = handler.opt.get(OPT_KEY) if handler is not None else None
            if bucket and scope["type"] == ScopeType.HTTP and limits.settings.rate_limit:
                token = _bearer(scope)
                client = scope.get("client")
                address = client[0] if client else "unknown"
                wait = limits.check(bucket, token, address)
                if wait:
                    await _refuse(send, bucket, wait, _accept_language(scope))
                    return
            await app(scope, receive, send)

        return middleware

    return factory


def route_buckets(routes: Iterable[Any]) -> set[str]:
    """The buckets the app's route handlers opt into."""
    names: set[str] = set()
    for route in routes:
        for handler in getattr(route, "route_handlers", ()):
            bucket = handler.opt.get(OPT_KEY)
            if bucket:
                names.add(str(bucket))
    return names
