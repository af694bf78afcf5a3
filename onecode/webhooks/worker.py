"""The delivery worker: fans events out to subscriptions, sends due messages, records
each attempt, and runs the alert detectors.

Durability comes from the queue table, not from the process:

- a message is claimed with ``FOR UPDATE SKIP LOCKED`` (many workers share the queue),
  its ``next_attempt_at`` moved to the end of a lease and its attempt count raised, all
  in one statement that commits before anything is sent;
- no database connection is held while a receiver is being waited on;
- the outcome is recorded by the claim that sent it; a worker killed mid-delivery
  (``kill -9``) recorded nothing, so the message falls due again when the lease ends and
  goes out again with the same ``webhook-id`` (at least once; receivers deduplicate).

Retries: exponential backoff from ``webhooks_backoff_base_seconds`` doubling up to
``webhooks_backoff_max_seconds``, with jitter (each wait is drawn between half and all of
its step), until ``webhooks_retry_hours`` after the message was queued; then the
message is dead-lettered (``state = 'dead'``) and can be replayed from the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from litestar import Litestar
from prometheus_client import Counter, Gauge, Histogram

from onecode import __version__
from onecode.observability import REGISTRY
from onecode.settings import Settings
from onecode.sql import Q
from onecode.tasks import running
from onecode.webhooks import policy
from onecode.webhooks.signing import (
    MessageSigner,
    SecretError,
    SecretSealer,
    sign_headers,
    webhook_id,
)

log = logging.getLogger("onecode.webhooks")

DELIVERIES = Counter(
    "webhook_attempts_total",
    "Webhook delivery attempts by outcome (delivered, http_error, timeout, network, refused).",
    ("outcome",),
    registry=REGISTRY,
)
DEAD = Counter(
    "webhook_dead_letters_total",
    "Messages dead-lettered after their retry window.",
    registry=REGISTRY,
)
ATTEMPT_SECONDS = Histogram(
    "webhook_attempt_duration_seconds",
    "Time from sending a webhook to the receiver's answer (or the failure).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
QUEUE = Gauge(
    "webhook_deliveries",
    "Messages in the delivery table by state (pending, delivered, dead).",
    ("state",),
    registry=REGISTRY,
)
QUEUE_AGE = Gauge(
    "webhook_queue_oldest_seconds",
    "Age of the oldest message not yet delivered (0 when none waits).",
    registry=REGISTRY,
)

MAX_ERROR = 500
QUEUE_GAUGE_SECONDS = 15.0
USER_AGENT = f"onecode-webhooks/{__version__}"


def backoff_seconds(attempt: int, settings: Settings, rng: random.Random) -> float:
    """The wait after failed attempt ``attempt`` (1-based): doubling steps, capped, each
    drawn between half and all of its step so that failures spread out."""
    step = settings.webhooks_backoff_base_seconds * 2.0 ** min(attempt - 1, 40)
    step = min(step, settings.webhooks_backoff_max_seconds)
    return step / 2 + rng.uniform(0, step / 2)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header of delay-seconds (an HTTP date is ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


@dataclass(frozen=True, slots=True)
class Result:
    outcome: str  # delivered, http_error, timeout, network, refused
    status: int | None
    error: str | None
    started_at: datetime
    seconds: float
    retry_after: float | None = None  # the receiver's Retry-After (429, 503), in seconds


@dataclass(frozen=True, slots=True)
class Decision:
    state: str  # delivered, pending, dead
    next_attempt_at: datetime


def decide(
    result: Result,
    attempt: int,
    retry_until: datetime,
    settings: Settings,
    rng: random.Random,
) -> Decision:
    """What happens to a message after an attempt: delivered, again later, or dead."""
    finished = result.started_at + timedelta(seconds=result.seconds)
    if result.outcome == "delivered":
        return Decision("delivered", finished)
    wait = backoff_seconds(attempt, settings, rng)
    if result.retry_after is not None:  # a receiver asking for time gets it, within the cap
        wait = max(wait, min(result.retry_after, settings.webhooks_backoff_max_seconds))
    again = finished + timedelta(seconds=wait)
    if again > retry_until:
        return Decision("dead", finished)
    return Decision("pending", again)


class DeliveryWorker:
    """One worker process's loop (several may run against one database)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        sealer: SecretSealer,
        *,
        client: httpx.AsyncClient | None = None,
        signer: MessageSigner | None = None,
        rng: random.Random | None = None,
        ticks: list[Callable[[asyncpg.Pool], Awaitable[None]]] | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.sealer = sealer
        self.signer = signer
        self.rng = rng or random.Random()
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.webhooks_timeout_seconds, connect=settings.webhooks_connect_timeout_seconds
            ),
            follow_redirects=False,  # a redirect could lead past the SSRF policy
            trust_env=False,  # no proxy from the environment
            limits=httpx.Limits(max_connections=settings.webhooks_concurrency * 2),
        )
        self._own_client = client is None
        self.ticks = ticks or []
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stats_at = 0.0
        self._pruned_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; then wait briefly for messages in flight."""
        log.info("webhook worker started")
        try:
            while not stop.is_set():
                try:
                    for tick in self.ticks:
                        await tick(self.pool)
                    await self.fan_out()
                    claimed = await self.claim_and_send()
                    await self.prune()
                    await self._stats()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("webhook worker: database trouble (%s), retrying", exc)
                    claimed = 0
                except Exception:
                    # a defect in one step must not stop deliveries: log it, go on
                    log.exception("webhook worker step failed")
                    claimed = 0
                if claimed == 0 or len(self._inflight) >= self.settings.webhooks_concurrency:
                    await self._pause(stop)
        finally:
            if self._inflight:
                # unrecorded messages are not lost: their lease ends and they go again
                await asyncio.wait(self._inflight, timeout=self.settings.webhooks_timeout_seconds)
            if self._own_client:
                await self.client.aclose()
            log.info("webhook worker stopped")

    async def _pause(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(
                waiters,
                timeout=self.settings.webhooks_poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for w in waiters:
                w.cancel()

    async def prune(self, every: float = 600.0, batch: int = 5000) -> None:
        """Delete delivered and dead messages older than ``webhooks_log_days``."""
        if time.monotonic() - self._pruned_at < every:
            return
        self._pruned_at = time.monotonic()
        before = datetime.now(UTC) - timedelta(days=self.settings.webhooks_log_days)
        async with self.pool.acquire() as conn:
            while (await conn.execute(Q()["webhooks_prune_log"], before, batch)).endswith(
                f" {batch}"
            ):
                pass

    async def fan_out(self, batch: int = 500) -> int:
        """Turn new events into messages for the subscriptions that match them."""
        total = 0
        while True:
            now = datetime.now(UTC)
            retry_until = now + timedelta(hours=self.settings.webhooks_retry_hours)
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(Q()["webhooks_fan_out"], batch, retry_until, now)
            assert row is not None
            total += int(row["deliveries"])
            if int(row["events"]) < batch:
                return total

    async def claim_and_send(self) -> int:
        """Claim as many due messages as there is room for, and start sending them."""
        room = self.settings.webhooks_concurrency - len(self._inflight)
        if room <= 0:
            return 0
        now = datetime.now(UTC)
        lease_end = now + timedelta(seconds=self.settings.webhooks_lease_seconds)
        claim = uuid.uuid4()
        async with self.pool.acquire() as conn:
            jobs = await conn.fetch(Q()["webhooks_claim_deliveries"], room, lease_end, claim, now)
            hosts = (
                [r["host"] for r in await conn.fetch(Q()["webhooks_select_hosts"])] if jobs else []
            )
        for job in jobs:
            task = asyncio.create_task(self.deliver(job, claim, hosts))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        return len(jobs)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery failed unexpectedly", exc_info=task.exception())

    async def send(self, job: asyncpg.Record, hosts: list[str]) -> Result:
        """One attempt: check the target, sign, POST, and read only the status."""
        started = datetime.now(UTC)
        t0 = time.perf_counter()

        def result(
            outcome: str,
            status: int | None = None,
            error: str | None = None,
            retry_after: float | None = None,
        ) -> Result:
            short = error[:MAX_ERROR] if error else None
            return Result(outcome, status, short, started, time.perf_counter() - t0, retry_after)

        try:
            secrets_ = [self.sealer.open(job["secret_box"])]
            if job["previous_secret_box"] is not None:
                secrets_.append(self.sealer.open(job["previous_secret_box"]))
            target = await policy.resolve(job["url"], hosts, self.settings)
        except policy.Refused as exc:
            return result("refused", error=f"{exc.code}: {exc}")
        except SecretError as exc:
            return result("refused", error=str(exc))
        body: str = job["body"]
        headers = sign_headers(webhook_id(job["message_id"]), body, secrets_, signer=self.signer)
        headers.update(
            {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "host": target.host_header,
            }
        )
        extensions: dict[str, Any] = {}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        request = self.client.build_request(
            "POST", target.pinned_url, content=body.encode(), headers=headers, extensions=extensions
        )
        try:
            async with asyncio.timeout(self.settings.webhooks_timeout_seconds):
                response = await self.client.send(request, stream=True)
                await response.aclose()  # the body is not read: a receiver cannot flood us
        except (TimeoutError, httpx.TimeoutException):
            return result("timeout", error="no answer in time")
        except (httpx.HTTPError, OSError) as exc:
            return result("network", error=f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return result("delivered", response.status_code)
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = _retry_after(response.headers.get("retry-after"))
        return result(
            "http_error", response.status_code, f"HTTP {response.status_code}", retry_after
        )

    async def deliver(self, job: asyncpg.Record, claim: uuid.UUID, hosts: list[str]) -> None:
        res = await self.send(job, hosts)
        decision = decide(res, job["attempts"], job["retry_until"], self.settings, self.rng)
        DELIVERIES.labels(res.outcome).inc()
        ATTEMPT_SECONDS.observe(res.seconds)
        if decision.state == "dead":
            DEAD.inc()
        async with self.pool.acquire() as conn:
            await conn.execute(
                Q()["webhooks_record_attempt"],
                job["id"],
                claim,
                decision.state,
                decision.next_attempt_at,
                res.status,
                res.error,
                res.started_at,
                res.started_at + timedelta(seconds=res.seconds),
                round(res.seconds * 1000),
                res.outcome,
            )

    async def _stats(self, every: float = 5.0) -> None:
        if time.monotonic() - self._stats_at < every:
            return
        self._stats_at = time.monotonic()
        async with self.pool.acquire() as conn:
            await refresh_queue_gauges(conn)


async def refresh_queue_gauges(conn: Any) -> None:
    """Messages by state and the oldest waiting one's age, read from the queue table (so
    any process can serve them: the API's /metrics and the worker's alike)."""
    rows = await conn.fetch(Q()["webhooks_select_queue"])
    counts = {"pending": 0, "delivered": 0, "dead": 0}
    oldest: datetime | None = None
    for row in rows:
        counts[row["state"]] = row["n"]
        oldest = row["oldest"] or oldest
    for state, n in counts.items():
        QUEUE.labels(state).set(n)
    QUEUE_AGE.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)


@asynccontextmanager
async def queue_gauges(app: Litestar) -> AsyncGenerator[None, None]:
    """Lifespan: keep the queue gauges of this API process fresh (every 15 s)."""

    async def loop() -> None:
        while True:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                async with app.state.pool.acquire() as conn:
                    await refresh_queue_gauges(conn)
            await asyncio.sleep(QUEUE_GAUGE_SECONDS)

    async with running(loop(), "webhook-queue-gauges"):
        yield
