"""A request's pooled connection always returns to the pool, whatever fails."""

from __future__ import annotations

import gc

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.settings import Settings
from tests.conftest import World


async def test_refused_requests_give_their_connection_back(settings: Settings) -> None:
    """With a pool of two, many requests that fail after the connection was leased
    (a 422 from a later dependency, a 404 from a service, a 400 from a body) must
    leave the pool whole: the next request is served, and shutdown does not hang
    waiting for connections nobody will release."""
    app = create_app(msgspec.structs.replace(settings, pool_min=1, pool_max=2))
    # a lost async generator is only closed when the cycle collector finds it: keep the
    # collector out of the way so that a leak shows at once instead of some day
    gc.disable()
    try:
        await _exercise(app)
    finally:
        gc.enable()


async def _exercise(app: Litestar) -> None:
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as client:
        try:
            await _requests(client, app)
        except BaseException:
            app.state.pool.terminate()  # a leak must fail the test, not hang its teardown
            raise


async def _requests(client: AsyncTestClient[Litestar], app: Litestar) -> None:
    world = await World(client).build()
    await world.traveller("a")
    planner = world.auth("planner_x")
    pool = app.state.pool
    for _ in range(6):
        r = await client.get(
            "/v1/planner/arrivals",
            params={"region": "CN-GZ", "to": "2030-01-01"},
            headers=planner,
        )
        assert r.status_code == 422
        r = await client.get(
            "/v1/planner/arrivals",
            params={"region": "CN-XX", "from": "2030-01-01", "to": "2030-01-02"},
            headers=planner,
        )
        assert r.status_code == 404
        r = await client.get(
            "/v1/planner/arrivals",
            params={"region": "CN-GZ", "from": "2030-13-01", "to": "2030-01-02"},
            headers=planner,
        )
        assert r.status_code == 400
        r = await client.post(
            "/v1/bookings",
            json={"slot_id": "nope", "party_size": 1},
            headers=world.auth("traveller_a"),
        )
        assert r.status_code == 400
        assert pool.get_size() - pool.get_idle_size() == 0, "a connection was not given back"
    r = await client.get(
        "/v1/planner/arrivals",
        params={"region": "CN-GZ", "from": "2030-01-01", "to": "2030-01-02"},
        headers=planner,
    )
    assert r.status_code == 200, r.text
