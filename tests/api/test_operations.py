"""Operations through the API: listings, revocation (here and on another replica), new
tokens, region and venue changes, and the audit trail of each."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from onecode.app import create_app
from onecode.settings import Settings
from tests.conftest import ADMIN, World, bearer
from tests.support.apps import Client
from tests.support.problems import assert_problem


async def _all(client: Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a cursor-paged listing, two at a time."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        q = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(path, params=q, headers=ADMIN)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"}
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def _audit(client: Client, **params: Any) -> list[dict[str, Any]]:
    return await _all(client, "/v1/admin/audit", **params)


async def test_listings_page_and_filter(client: Client, world: World) -> None:
    regions = await _all(client, "/v1/admin/regions")
    assert [r["code"] for r in regions] == ["CN-GZ", "CN-GZ-AS", "CN-YN"]
    children = await _all(client, "/v1/admin/regions", parent="CN-GZ")
    assert [r["code"] for r in children] == ["CN-GZ-AS"]

    venues = await _all(client, "/v1/admin/venues")
    assert {v["id"] for v in venues} == {world.ids["venue_a"], world.ids["venue_b"]}
    assert all(v["active"] and v["place_code"] for v in venues)
    in_gz = await _all(client, "/v1/admin/venues", region="CN-GZ")  # and the regions below
    assert [v["id"] for v in in_gz] == [world.ids["venue_a"]]

    gates = await _all(client, "/v1/admin/gates", venue=world.ids["venue_b"])
    assert [g["id"] for g in gates] == [world.ids["gate_b"]]
    assert gates[0]["live_tokens"] == 1 and gates[0]["revoked_at"] is None
    assert "token" not in gates[0]
    ops = await _all(client, "/v1/admin/operators", venue=world.ids["venue_a"])
    assert len(ops) == 1 and ops[0]["venue_ids"] == [world.ids["venue_a"]]
    assert len(await _all(client, "/v1/admin/operators", region="CN-YN")) == 1
    planners = await _all(client, "/v1/admin/planners", region="CN-YN")
    assert len(planners) == 1 and planners[0]["region_codes"] == ["CN-YN"]
    assert len(await _all(client, "/v1/admin/planners")) == 2

    # one object each
    for path in (
        f"/v1/admin/venues/{world.ids['venue_a']}",
        f"/v1/admin/gates/{world.ids['gate_a']}",
        f"/v1/admin/operators/{ops[0]['id']}",
        f"/v1/admin/planners/{planners[0]['id']}",
        "/v1/admin/regions/CN-GZ-AS",
    ):
        r = await client.get(path, headers=ADMIN)
        assert r.status_code == 200, (path, r.text)
    for path, code in (
        (f"/v1/admin/venues/{uuid.uuid4()}", "venues.not_found"),
        (f"/v1/admin/gates/{uuid.uuid4()}", "gates.not_found"),
        (f"/v1/admin/operators/{uuid.uuid4()}", "operators.not_found"),
        (f"/v1/admin/planners/{uuid.uuid4()}", "planners.not_found"),
        ("/v1/admin/regions/CN-XX", "regions.not_found"),
    ):
        assert_problem(await client.get(path, headers=ADMIN), 404, code)
    # bad cursors, unknown filters
    for path in ("/v1/admin/venues", "/v1/admin/regions", "/v1/admin/audit"):
        r = await client.get(path, params={"cursor": "not-a-cursor!"}, headers=ADMIN)
        assert_problem(r, 400, "request.bad_cursor")
    assert_problem(
        await client.get("/v1/admin/venues", params={"region": "CN-XX"}, headers=ADMIN),
        404,
        "regions.not_found",
    )
    assert_problem(
        await client.get("/v1/admin/gates", params={"venue": "nope"}, headers=ADMIN), 400
    )


@pytest.fixture
async def caching(settings: Settings) -> AsyncIterator[Client]:
    """A client of an app that caches token lookups for five minutes."""
    app = create_app(msgspec.structs.replace(settings, token_cache_seconds=300.0))
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as c:
        yield c


async def _gate_ok(client: Client, token: str) -> int:
    r = await client.get("/v1/gate/pack", headers=bearer(token))
    return r.status_code


async def test_revoked_gate_token_is_refused_at_once_despite_the_cache(
    caching: Client, world: World
) -> None:
    token = world.tokens["gate_a"]
    assert await _gate_ok(caching, token) == 200  # now cached for 300 s
    r = await caching.post(f"/v1/admin/gates/{world.ids['gate_a']}/revoke", headers=ADMIN)
    assert r.status_code == 204, r.text
    assert_problem(
        await caching.get("/v1/gate/pack", headers=bearer(token)), 401, "auth.invalid_token"
    )
    gate = (await caching.get(f"/v1/admin/gates/{world.ids['gate_a']}", headers=ADMIN)).json()
    assert gate["revoked_at"] is not None and gate["live_tokens"] == 0
    # revoking again changes nothing and answers the same
    r = await caching.post(f"/v1/admin/gates/{world.ids['gate_a']}/revoke", headers=ADMIN)
    assert r.status_code == 204
    # the other gate is untouched
    assert await _gate_ok(caching, world.tokens["gate_b"]) == 200


async def test_a_new_token_replaces_the_old_one_and_is_stored_hashed(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    gate_id = world.ids["gate_a"]
    old = world.tokens["gate_a"]
    await client.post(f"/v1/admin/gates/{gate_id}/revoke", headers=ADMIN)
    r = await client.post(f"/v1/admin/gates/{gate_id}/token", headers=ADMIN)
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["id"] == gate_id and issued["kind"] == "gate"
    new = issued["token"]
    assert new.startswith("oc_gate_") and new != old
    assert await _gate_ok(client, new) == 200  # the gate is back in service
    assert await _gate_ok(client, old) == 401
    # stored only as its SHA-256, never in clear, never in the audit trail
    digest = hashlib.sha256(new.encode()).digest()
    assert await conn.fetchval("SELECT count(*) FROM api_tokens WHERE token_hash = $1", digest)
    dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM api_tokens t")
    assert new not in dump and old not in dump
    trail = json.dumps(await _audit(client))
    assert new not in trail and old not in trail and digest.hex() not in trail
    # a second new token revokes the first
    again = (await client.post(f"/v1/admin/gates/{gate_id}/token", headers=ADMIN)).json()
    assert again["revoked_tokens"] == 1
    assert await _gate_ok(client, new) == 401
    assert await _gate_ok(client, again["token"]) == 200
    assert_problem(
        await client.post(f"/v1/admin/gates/{uuid.uuid4()}/token", headers=ADMIN),
        404,
        "gates.not_found",
    )


async def test_operators_and_planners_are_revoked_and_reissued(
    client: Client, world: World
) -> None:
    ops = await _all(client, "/v1/admin/operators", venue=world.ids["venue_a"])
    planners = await _all(client, "/v1/admin/planners", region="CN-GZ")
    live = f"/v1/venues/{world.ids['venue_a']}/live"
    arrivals = "/v1/planner/arrivals"
    q = {"region": "CN-GZ", "from": "2030-01-01", "to": "2030-01-02"}
    assert (await client.get(live, headers=world.auth("operator_a"))).status_code == 200
    assert (
        await client.get(arrivals, params=q, headers=world.auth("planner_x"))
    ).status_code == 200

    r = await client.post(f"/v1/admin/operators/{ops[0]['id']}/revoke", headers=ADMIN)
    assert r.status_code == 204
    r = await client.post(f"/v1/admin/planners/{planners[0]['id']}/revoke", headers=ADMIN)
    assert r.status_code == 204
    assert_problem(await client.get(live, headers=world.auth("operator_a")), 401)
    assert_problem(await client.get(arrivals, params=q, headers=world.auth("planner_x")), 401)
    revoked = await _all(client, "/v1/admin/operators", revoked="true")
    assert [o["id"] for o in revoked] == [ops[0]["id"]]

    op = (await client.post(f"/v1/admin/operators/{ops[0]['id']}/token", headers=ADMIN)).json()
    assert (await client.get(live, headers=bearer(op["token"]))).status_code == 200
    pl = (await client.post(f"/v1/admin/planners/{planners[0]['id']}/token", headers=ADMIN)).json()
    r = await client.get(arrivals, params=q, headers=bearer(pl["token"]))
    assert r.status_code == 200

    actions = [e["action"] for e in await _audit(client, actor_kind="admin")]
    for action in (
        "operator.revoked",
        "planner.revoked",
        "operator.token_issued",
        "planner.token_issued",
    ):
        assert action in actions


async def test_revocation_reaches_another_replica_at_once(settings: Settings, world: World) -> None:
    """Two app instances on one database, each with its own pool, listener and a token
    cache of five minutes: a revocation on one is refused by the other at once (within
    the time NOTIFY takes), not after the cache time."""
    cached = msgspec.structs.replace(settings, token_cache_seconds=300.0)
    first, second = create_app(cached), create_app(cached)
    async with (
        AsyncTestClient(app=first, raise_server_exceptions=False) as one,
        AsyncTestClient(app=second, raise_server_exceptions=False) as two,
    ):
        await asyncio.wait_for(second.state.token_listener.ready.wait(), 5)
        token = world.tokens["gate_b"]
        assert await _gate_ok(two, token) == 200  # cached on the second replica
        assert await _gate_ok(one, token) == 200
        r = await one.post(f"/v1/admin/gates/{world.ids['gate_b']}/revoke", headers=ADMIN)
        assert r.status_code == 204
        assert await _gate_ok(one, token) == 401
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0
        while await _gate_ok(two, token) != 401:
            assert loop.time() < deadline, "the second replica still accepts a revoked token"
            await asyncio.sleep(0.02)
        assert await _gate_ok(two, world.tokens["gate_a"]) == 200


async def test_the_listener_comes_back_after_losing_its_connection(
    settings: Settings, world: World, conn: asyncpg.Connection
) -> None:
    cached = msgspec.structs.replace(settings, token_cache_seconds=300.0)
    first, second = create_app(cached), create_app(cached)
    async with (
        AsyncTestClient(app=first, raise_server_exceptions=False) as one,
        AsyncTestClient(app=second, raise_server_exceptions=False) as two,
    ):
        listener = second.state.token_listener
        await asyncio.wait_for(listener.ready.wait(), 5)
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        assert killed >= 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while listener.connections < 2 or not listener.ready.is_set():
            assert loop.time() < deadline, "the listener did not reconnect"
            await asyncio.sleep(0.05)
        token = world.tokens["gate_a"]
        assert await _gate_ok(two, token) == 200
        await one.post(f"/v1/admin/gates/{world.ids['gate_a']}/revoke", headers=ADMIN)
        deadline = loop.time() + 3.0
        while await _gate_ok(two, token) != 401:
            assert loop.time() < deadline
            await asyncio.sleep(0.02)


async def test_region_changes_are_checked_and_audited(client: Client, world: World) -> None:
    r = await client.patch(
        "/v1/admin/regions/CN-YN", json={"name": "Yunnan Province"}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Yunnan Province"
    r = await client.patch("/v1/admin/regions/CN-YN", json={"parent_code": "CN-GZ"}, headers=ADMIN)
    assert r.json()["parent_code"] == "CN-GZ"
    # a loop: CN-GZ under its own child
    assert_problem(
        await client.patch(
            "/v1/admin/regions/CN-GZ", json={"parent_code": "CN-GZ-AS"}, headers=ADMIN
        ),
        422,
        "regions.parent_loop",
    )
    assert_problem(
        await client.patch("/v1/admin/regions/CN-GZ", json={"parent_code": "CN-GZ"}, headers=ADMIN),
        422,
        "regions.parent_loop",
    )
    assert_problem(
        await client.patch("/v1/admin/regions/CN-YN", json={"parent_code": "XX"}, headers=ADMIN),
        422,
        "regions.unknown_parent",
    )
    assert_problem(
        await client.patch("/v1/admin/regions/CN-YN", json={"name": ""}, headers=ADMIN), 400
    )
    assert_problem(
        await client.patch("/v1/admin/regions/CN-YN", json={"colour": "red"}, headers=ADMIN), 400
    )
    assert_problem(
        await client.patch("/v1/admin/regions/CN-XX", json={"name": "x"}, headers=ADMIN), 404
    )
    r = await client.patch("/v1/admin/regions/CN-YN", json={"parent_code": None}, headers=ADMIN)
    assert r.json()["parent_code"] is None
    entries = await _audit(client, object_kind="region", action="region.changed")
    assert [(e["action"], e["before"], e["after"]) for e in reversed(entries)] == [
        ("region.changed", {"name": "Yunnan"}, {"name": "Yunnan Province"}),
        ("region.changed", {"parent_code": None}, {"parent_code": "CN-GZ"}),
        ("region.changed", {"parent_code": "CN-GZ"}, {"parent_code": None}),
    ]
    assert all(e["actor_kind"] == "admin" and e["region_code"] == "CN-YN" for e in entries)


async def test_operator_changes_elsewhere_are_audited_without_their_text(
    client: Client, world: World
) -> None:
    await world.traveller("t")
    va = world.ids["venue_a"]
    op = world.auth("operator_a")
    r = await client.post(
        "/v1/complaints",
        json={"venue_id": va, "category": "service", "text": "My name is Li Wei; slow queue."},
        headers=world.auth("traveller_t"),
    )
    assert r.status_code == 201, r.text
    answer = "Sorry, Li Wei: a second gate opens tomorrow."
    r = await client.post(
        f"/v1/complaints/{r.json()['id']}/answer", json={"text": answer}, headers=op
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/venues/{va}/place-code/rotate", headers=op)
    assert r.status_code == 200, r.text
    code = r.json()["place_code"]
    r = await client.get(f"/v1/venues/{va}/audit", headers=op)
    entries = r.json()["items"]
    assert [e["action"] for e in entries[:2]] == ["venue.place_code_rotated", "complaint.answered"]
    assert all(e["actor_kind"] == "operator" for e in entries[:2])
    trail = json.dumps(entries)
    assert "Li Wei" not in trail and code not in trail
    assert world.ids["traveller_t"] not in trail


def test_no_statement_changes_or_deletes_the_audit_trail() -> None:
    """The trail is append-only: no named query or rule file updates, deletes or
    truncates audit_log (its one writer is operations_insert_audit)."""
    import re

    from onecode.sql import sql_root

    pattern = re.compile(
        r"\b(UPDATE|DELETE\s+FROM|TRUNCATE)\s+(TABLE\s+)?(ONLY\s+)?audit_log\b", re.I
    )
    found = [
        str(path)
        for folder in ("queries", "functions")
        for path in sorted((sql_root() / folder).glob("*.sql"))
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []
    assert pattern.search("DELETE FROM audit_log WHERE true")  # the check can fail


async def test_openapi_documents_every_operations_route(client: Client) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    paths = doc["paths"]
    for path, method in (
        ("/v1/admin/regions", "get"),
        ("/v1/admin/regions/{code}", "patch"),
        ("/v1/admin/venues", "get"),
        ("/v1/admin/venues/{venue_id}", "patch"),
        ("/v1/admin/venues/{venue_id}/deactivate", "post"),
        ("/v1/admin/gates", "get"),
        ("/v1/admin/gates/{gate_id}/revoke", "post"),
        ("/v1/admin/operators/{operator_id}/token", "post"),
        ("/v1/admin/planners/{planner_id}", "get"),
        ("/v1/admin/audit", "get"),
        ("/v1/venues/{venue_id}/audit", "get"),
        ("/v1/venues/{venue_id}/slots/{slot_id}", "patch"),
        ("/v1/venues/{venue_id}/slots/{slot_id}/cancel", "post"),
        ("/v1/venues/{venue_id}/slots/recurring", "post"),
    ):
        assert method in paths.get(path, {}), (path, method)
        assert paths[path][method].get("summary"), (path, method)


async def test_a_narrowed_scope_reaches_cached_tokens_on_every_replica(
    settings: Settings, world: World
) -> None:
    """An operator loses a venue, a planner a region: with five-minute token caches on two
    replicas, both refuse the old scope at once."""
    cached = msgspec.structs.replace(settings, token_cache_seconds=300.0)
    first, second = create_app(cached), create_app(cached)
    va, vb = world.ids["venue_a"], world.ids["venue_b"]
    live_a = f"/v1/venues/{va}/live"
    async with (
        AsyncTestClient(app=first, raise_server_exceptions=False) as one,
        AsyncTestClient(app=second, raise_server_exceptions=False) as two,
    ):
        await asyncio.wait_for(second.state.token_listener.ready.wait(), 5)
        op = world.auth("operator_a")
        assert (await two.get(live_a, headers=op)).status_code == 200  # cached there
        r = await one.patch(
            f"/v1/admin/operators/{world.ids['operator_a']}",
            json={"venue_ids": [vb], "name": "Stone Forest office"},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        assert r.json()["venue_ids"] == [vb]
        assert (await one.get(live_a, headers=op)).status_code == 404
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0
        while (await two.get(live_a, headers=op)).status_code != 404:
            assert loop.time() < deadline, "the second replica still uses the old scope"
            await asyncio.sleep(0.02)
        assert (await two.get(f"/v1/venues/{vb}/live", headers=op)).status_code == 200

        q = {"region": "CN-GZ", "from": "2030-01-01", "to": "2030-01-02"}
        pl = world.auth("planner_x")
        assert (await two.get("/v1/planner/arrivals", params=q, headers=pl)).status_code == 200
        r = await one.patch(
            f"/v1/admin/planners/{world.ids['planner_x']}",
            json={"region_codes": ["CN-YN"]},
            headers=ADMIN,
        )
        assert r.json()["region_codes"] == ["CN-YN"]
        deadline = loop.time() + 3.0
        while (await two.get("/v1/planner/arrivals", params=q, headers=pl)).status_code == 200:
            assert loop.time() < deadline
            await asyncio.sleep(0.02)

        for path, body, code in (
            (f"/v1/admin/operators/{world.ids['operator_a']}", {"venue_ids": []}, 400),
            (
                f"/v1/admin/operators/{world.ids['operator_a']}",
                {"venue_ids": [str(uuid.uuid4())]},
                422,
            ),
            (f"/v1/admin/planners/{world.ids['planner_x']}", {"region_codes": ["XX"]}, 422),
            (f"/v1/admin/gates/{world.ids['gate_a']}", {"name": ""}, 400),
            (f"/v1/admin/gates/{uuid.uuid4()}", {"name": "x"}, 404),
        ):
            assert_problem(await one.patch(path, json=body, headers=ADMIN), code)
        r = await one.patch(
            f"/v1/admin/gates/{world.ids['gate_a']}", json={"name": "East 1"}, headers=ADMIN
        )
        assert r.json()["name"] == "East 1"
        r = await one.get("/v1/admin/audit", params={"object_kind": "operator"}, headers=ADMIN)
        (change,) = [e for e in r.json()["items"] if e["action"] == "operator.changed"]
        assert change["before"] == {"venue_ids": [va]}
        assert change["after"] == {"name_changed": True, "venue_ids": [vb]}
        assert "Stone Forest office" not in json.dumps(r.json())
