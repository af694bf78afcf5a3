"""Rate limits: token buckets per address and per token, 429 problems, gates exempt."""

from __future__ import annotations

import asyncio

import pytest

from onecode.app import create_app
from onecode.ratelimit import TokenBuckets, parse_rate
from onecode.settings import Settings, SettingsError
from tests.conftest import World, bearer
from tests.support.apps import client_with
from tests.support.problems import assert_problem


def test_token_bucket_spends_and_refills() -> None:
    buckets = TokenBuckets(3, 60.0)
    assert [buckets.take("k", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", now=0.0) == pytest.approx(20.0)  # one token per 20 s
    assert buckets.take("other", now=0.0) == 0.0  # keys do not share
    assert buckets.take("k", now=10.0) == pytest.approx(10.0)
    assert buckets.take("k", now=20.0) == 0.0
    assert buckets.take("k", now=20.0) > 0
    assert buckets.take("k", now=1000.0) == 0.0  # refills to capacity, not beyond
    assert [buckets.take("k", now=1000.0) for _ in range(3)][-1] > 0


def test_token_buckets_stay_bounded() -> None:
    buckets = TokenBuckets(1, 1.0, max_keys=100)
    for i in range(1000):
        buckets.take(i, now=float(i))
    assert len(buckets) <= 100


def test_rates_parse_or_refuse() -> None:
    assert parse_rate("10/60") == (10, 60.0)
    for bad in ("10", "0/60", "10/0", "x/60", "10/nan", "-1/5", "10/-5"):
        with pytest.raises(SettingsError):
            parse_rate(bad)
    env = Settings.from_env({"ONECODE_RATE_REGISTER": "3/10", "ONECODE_RATE_LIMIT": "off"})
    assert env.rate_register == "3/10"
    assert env.rate_limit is False


def test_a_bad_budget_fails_at_startup(settings: Settings) -> None:
    import msgspec

    with pytest.raises(SettingsError):
        create_app(msgspec.structs.replace(settings, rate_limit=True, rate_register="lots"))


async def test_registration_is_limited_per_address(settings: Settings) -> None:
    async with client_with(settings, rate_limit=True, rate_register="5/60") as c:
        results = await asyncio.gather(*(c.post("/v1/travellers", json={}) for _ in range(20)))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201] * 5 + [429] * 15
        refused = next(r for r in results if r.status_code == 429)
        assert_problem(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 12
        assert refused.headers["x-content-type-options"] == "nosniff"
        assert refused.headers["x-request-id"]
        # the health of the service is not throttled
        assert (await c.get("/healthz")).status_code == 200


async def test_rate_limit_off_disables_every_bucket(settings: Settings) -> None:
    async with client_with(settings, rate_limit=False, rate_register="1/60") as c:
        for _ in range(5):
            assert (await c.post("/v1/travellers", json={})).status_code == 201


async def test_tokens_have_own_budgets_within_an_address_budget(
    settings: Settings, world: World
) -> None:
    tokens = [(await world.traveller(f"t{i}"))["access_token"] for i in range(3)]
    async with client_with(
        settings, rate_limit=True, rate_register="2/60", rate_address_factor=2
    ) as c:
        ok = [
            (await c.post("/v1/travellers", json={}, headers=bearer(tokens[0]))).status_code
            for _ in range(3)
        ]
        assert ok == [201, 201, 429]  # the token's own budget
        ok = [
            (await c.post("/v1/travellers", json={}, headers=bearer(tokens[1]))).status_code
            for _ in range(2)
        ]
        assert ok == [201, 201]  # another token: its own budget ...
        r = await c.post("/v1/travellers", json={}, headers=bearer(tokens[2]))
        assert_problem(r, 429, "rate_limited")  # ... but the address budget (2 x 2) is spent


async def test_gates_are_never_throttled(settings: Settings, world: World) -> None:
    async with client_with(settings, rate_limit=True, rate_register="1/60") as c:
        for _ in range(5):
            r = await c.post("/v1/travellers", json={}, headers=world.auth("gate_a"))
            assert r.status_code == 201
        assert (await c.post("/v1/travellers", json={})).status_code == 201
        assert_problem(await c.post("/v1/travellers", json={}), 429, "rate_limited")
