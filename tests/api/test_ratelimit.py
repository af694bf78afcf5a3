"""Rate limits: token buckets per address and per token, 429 problems; gate routes carry
no bucket, and a header that looks like a gate token is no exemption."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Litestar

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


async def test_a_gate_token_header_is_no_exemption(settings: Settings) -> None:
    """Issue #15, hole 7: ``Bearer oc_gate_…`` used to skip every limit."""
    fake = {"Authorization": "Bearer oc_gate_made-up-token-0000000000000000000000"}
    async with client_with(
        settings, rate_limit=True, rate_register="3/60", rate_address_factor=2
    ) as c:
        statuses = [
            (await c.post("/v1/travellers", json={}, headers=fake)).status_code for _ in range(6)
        ]
        assert statuses == [201] * 3 + [429] * 3
        # fresh made-up gate tokens hit the address budget (3 x 2) all the same
        more = [
            (
                await c.post(
                    "/v1/travellers",
                    json={},
                    headers={"Authorization": f"Bearer oc_gate_{i:040d}"},
                )
            ).status_code
            for i in range(6)
        ]
        assert more.count(201) <= 3 and more[-1] == 429


async def test_no_gate_route_carries_a_bucket(app: Litestar) -> None:
    """Gates are never throttled because none of their routes has a bucket."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if route.path.startswith("/v1/gate"):
                assert not handler.opt.get("rate_limit"), route.path


def test_registration_budget_tolerates_a_tour_group_behind_one_address(
    settings: Settings,
) -> None:
    n, _seconds = parse_rate(settings.rate_register)  # the default budget
    assert n >= 40  # a coach of 40 registering at once behind one NAT


@pytest.mark.parametrize(
    ("path_of", "bucket"),
    [("complaints", "complaint"), ("reviews", "review"), ("checkin", "checkin")],
)
def test_traveller_writes_have_limits(app: Litestar, path_of: str, bucket: str) -> None:
    buckets = {
        handler.opt.get("rate_limit")
        for route in app.routes
        if path_of in route.path
        for handler in getattr(route, "route_handlers", ())
        if "POST" in handler.http_methods
    }
    assert bucket in buckets, buckets
