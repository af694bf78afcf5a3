"""No input gives a 500: each case of issue 19, on every route it can reach.

The routes come from the authorization matrix (tests/api/test_authz_matrix.py TABLE,
which its own test keeps complete), so a new route with a body is covered as soon as it
has its row there: it is called as its first allowed principal.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from tests.api.test_authz_matrix import TABLE, _objects_of_a, fill
from tests.conftest import ADMIN, World
from tests.support.apps import Client
from tests.support.problems import assert_problem

DEEP_ARRAY = b"[" * 1000 + b"]" * 1000  # 2 KB, the RecursionError
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000


def body_routes(app: Litestar) -> list[str]:
    """``METHOD path`` of every handler that reads a JSON body (a ``data`` parameter)."""
    keys: list[str] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "data" not in handler.parsed_fn_signature.parameters:
                continue
            for method in sorted(handler.http_methods):
                keys.append(f"{method} {route.path}")
    return sorted(keys)


def principal_of(key: str) -> str:
    """The first principal the matrix allows on a route (``none`` for public routes)."""
    row = TABLE[key]
    if row.who is None:
        return "none"
    kind = sorted(row.who)[0]
    return {"traveller": "traveller_a", "gate": "gate_a", "operator": "operator_a"}.get(
        kind, "planner_x" if kind == "planner" else kind
    )


async def _world_with_objects(world: World) -> World:
    await world.traveller("a", display_name="Traveller A")
    await world.traveller("b", display_name="Traveller B")
    await _objects_of_a(world)
    return world


def _headers(world: World, principal: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if principal != "none":
        headers.update(world.auth(principal))
    return headers


async def test_every_body_route_is_covered(app: Litestar) -> None:
    keys = body_routes(app)
    assert "POST /v1/travellers" in keys
    assert len(keys) >= 12, keys
    for key in keys:
        assert key in TABLE, key


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
async def test_deep_nesting_is_refused_before_decoding_on_every_body_route(
    body: bytes, app: Litestar, client: Client, world: World
) -> None:
    await _world_with_objects(world)
    failures: list[str] = []
    for key in body_routes(app):
        method, template = key.split(" ", 1)
        r = await client.request(
            method,
            fill(template, world),
            content=body,
            headers=_headers(world, principal_of(key)),
        )
        if r.status_code != 400 or r.json().get("code") != "request.too_deep":
            failures.append(f"{key}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


async def test_anonymous_registration_refuses_deep_nesting(client: Client) -> None:
    r = await client.post(
        "/v1/travellers", content=DEEP_ARRAY, headers={"Content-Type": "application/json"}
    )
    body = assert_problem(r, 400, "request.too_deep")
    assert "deep" in body["detail"]


async def test_nesting_within_the_limit_still_decodes(client: Client) -> None:
    # a real body three levels deep is fine; depth counts brackets inside strings not at all
    r = await client.post("/v1/travellers", json={"display_name": "[[[[[[[[[[[[[[[[[[[[[[[[[[[["})
    assert r.status_code == 201, r.text


NAME_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("none", "/v1/travellers", {"display_name": "{}"}),
    ("admin", "/v1/admin/regions", {"code": "CN-ZZ", "name": "{}"}),
    (
        "admin",
        "/v1/admin/venues",
        {
            "region_code": "CN-GZ",
            "name": "{}",
            "kind": "museum",
            "gated": True,
            "requires_booking": False,
            "entry_rule": "single",
            "capacity_instant": 10,
            "capacity_daily": 100,
        },
    ),
    ("admin", "/v1/admin/venues/{venue_a}/gates", {"name": "{}"}),
    ("admin", "/v1/admin/operators", {"name": "{}", "venue_ids": ["{venue_a}"]}),
    ("admin", "/v1/admin/planners", {"name": "{}", "region_codes": ["CN-GZ"]}),
]


def _with_text(body: dict[str, Any], text: str, world: World) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value == "{}":
            out[key] = text
        elif value == ["{venue_a}"]:
            out[key] = [world.ids["venue_a"]]
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    "text",
    ["Hua\x00ngguoshu", "\x00", "bell\x07", "line\nbreak", "tab\tin a name", "del\x7f", "c1\x85"],
    ids=["nul", "only-nul", "bel", "newline", "tab", "del", "c1"],
)
@pytest.mark.parametrize(("who", "path", "body"), NAME_ROUTES, ids=[p for _, p, _ in NAME_ROUTES])
async def test_control_characters_in_names_are_422(
    text: str, who: str, path: str, body: dict[str, Any], client: Client, world: World
) -> None:
    headers = {} if who == "none" else ADMIN
    r = await client.post(
        path.replace("{venue_a}", world.ids["venue_a"]),
        json=_with_text(body, text, world),
        headers=headers,
    )
    problem = assert_problem(r, 422, "request.control_character")
    assert problem["errors"][0]["field"] in {"display_name", "name"}, problem


async def test_multiline_text_keeps_newlines_but_refuses_nul(client: Client, world: World) -> None:
    await _world_with_objects(world)
    headers = world.auth("traveller_a")
    base = {"venue_id": world.ids["venue_a"], "category": "service"}
    ok = await client.post(
        "/v1/complaints", json={**base, "text": "Line one.\nLine two.\ttabbed"}, headers=headers
    )
    assert ok.status_code == 201, ok.text
    bad = await client.post("/v1/complaints", json={**base, "text": "a\x00b"}, headers=headers)
    assert_problem(bad, 422, "request.control_character")
    bell = await client.post("/v1/complaints", json={**base, "text": "a\x1bb"}, headers=headers)
    assert_problem(bell, 422, "request.control_character")


async def test_lone_surrogate_is_refused(client: Client) -> None:
    r = await client.post(
        "/v1/travellers",
        content=b'{"display_name": "a\\ud800b"}',
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text
    assert_problem(r, r.status_code)


# -- extreme dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/planner/arrivals", {"from": "9999-12-30", "to": "9999-12-31"}),
        ("/v1/planner/arrivals", {"from": "0001-01-01", "to": "0001-01-02"}),
        ("/v1/planner/od", {"from": "9999-12-30", "to": "9999-12-31"}),
        ("/v1/planner/occupancy", {"venue": "{venue_a}", "date": "9999-12-31"}),
        ("/v1/planner/occupancy", {"venue": "{venue_a}", "date": "0001-01-01"}),
        ("/v1/venues/{venue_a}/slots", {"date": "9999-12-31"}),
        ("/v1/venues/{venue_a}/slots", {"date": "0001-01-01"}),
    ],
)
async def test_extreme_days_in_queries_are_422(
    path: str, query: dict[str, str], client: Client, world: World
) -> None:
    venue = world.ids["venue_a"]
    params = {k: v.replace("{venue_a}", venue) for k, v in query.items()}
    if "region" not in params and "planner" in path and "venue" not in params:
        params["region"] = "CN-GZ"
    r = await client.get(path.replace("{venue_a}", venue), params=params, headers=ADMIN)
    problem = assert_problem(r, 422, "request.date_out_of_range")
    assert ("from" if "from" in query else "date") in problem["detail"]


@pytest.mark.parametrize(
    "before", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"]
)
async def test_extreme_visits_cursor_is_422(before: str, client: Client, world: World) -> None:
    await world.traveller("a")
    r = await client.get(
        "/v1/me/visits", params={"before": before}, headers=world.auth("traveller_a")
    )
    problem = assert_problem(r, 422, "request.date_out_of_range")
    assert "before" in problem["detail"]


@pytest.mark.parametrize(
    "starts_at", ["9999-12-31T20:00:00-12:00", "0001-01-01T00:00:00+14:00", "1900-01-01T10:00:00Z"]
)
async def test_extreme_slot_times_are_422(starts_at: str, client: Client, world: World) -> None:
    body = {"slots": [{"starts_at": starts_at, "ends_at": starts_at, "capacity": 5}]}
    r = await client.post(f"/v1/venues/{world.ids['venue_a']}/slots", json=body, headers=ADMIN)
    problem = assert_problem(r, 422, "request.date_out_of_range")
    assert problem["errors"][0]["field"] == "slots[0].starts_at", problem


@pytest.mark.parametrize(
    "scanned_at", ["9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00+14:00", "1990-01-01T00:00:00Z"]
)
async def test_extreme_scan_times_are_the_gate_services_refusals(
    scanned_at: str, client: Client, world: World
) -> None:
    """A gate's clock is judged by the gate services: online 422 ``scans.bad_time``, a
    batch item ``rejected`` as ``bad_time`` (the rest of the batch is recorded)."""
    await _world_with_objects(world)
    scan = {
        "code": world.ids["code_a"],
        "direction": "in",
        "scan_id": "00000000-0000-4000-8000-000000000001",
        "scanned_at": scanned_at,
    }
    online = await client.post("/v1/gate/scans", json=scan, headers=world.auth("gate_a"))
    assert_problem(online, 422, "scans.bad_time")
    batch = {"scans": [{**scan, "decision": "accept", "reason": "ok"}]}
    offline = await client.post("/v1/gate/scans/batch", json=batch, headers=world.auth("gate_a"))
    assert offline.status_code == 200, offline.text
    assert offline.json()["results"] == [
        {"scan_id": scan["scan_id"], "status": "rejected", "reason": "bad_time"}
    ]


# -- one strict decoder --------------------------------------------------------------------


async def test_strings_do_not_pass_as_numbers_anywhere(client: Client, world: World) -> None:
    await _world_with_objects(world)
    venue = {
        "region_code": "CN-GZ",
        "name": "Strict",
        "kind": "museum",
        "gated": True,
        "requires_booking": False,
        "entry_rule": "single",
        "capacity_instant": "2",
        "capacity_daily": 100,
    }
    cases: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("/v1/admin/venues", venue, ADMIN),
        ("/v1/admin/venues", {**venue, "capacity_instant": 2, "gated": "true"}, ADMIN),
        (
            f"/v1/venues/{world.ids['venue_a']}/slots",
            {
                "slots": [
                    {
                        "starts_at": "2030-01-01T10:00:00Z",
                        "ends_at": "2030-01-01T11:00:00Z",
                        "capacity": "2",
                    }
                ]
            },
            ADMIN,
        ),
        (
            "/v1/gate/scans/batch",
            {
                "scans": [
                    {
                        "scan_id": "00000000-0000-4000-8000-000000000002",
                        "code": world.ids["code_a"],
                        "direction": "in",
                        "scanned_at": "2030-01-01T10:00:00Z",
                        "decision": "accept",
                        "reason": "ok",
                        "party_size": "2",
                    }
                ]
            },
            world.auth("gate_a"),
        ),
        ("/v1/bookings", {"slot_id": world.ids["slot_free"], "party_size": "1"}, {}),
    ]
    for path, body, headers in cases:
        r = await client.post(path, json=body, headers=headers or world.auth("traveller_a"))
        problem = assert_problem(r, 400, "request.invalid")
        assert "Expected `" in problem["detail"], problem


# -- public names in messages --------------------------------------------------------------


async def test_errors_name_query_parameters_as_the_client_sends_them(
    client: Client, world: World
) -> None:
    r = await client.get(
        "/v1/planner/arrivals", params={"region": "CN-GZ", "from": "tomorrow"}, headers=ADMIN
    )
    problem = assert_problem(r, 400, "request.invalid")
    assert "from" in problem["detail"] and "start" not in problem["detail"], problem
    assert problem["errors"][0]["key"] == "from"
    assert problem["errors"][0]["source"] == "query"
    r = await client.get(
        "/v1/planner/arrivals",
        params={"region": "CN-GZ", "from": "2030-01-01", "to": "2030-01-02", "format": "xml"},
        headers=ADMIN,
    )
    problem = assert_problem(r, 400, "request.invalid")
    assert "format" in problem["detail"] and "fmt" not in problem["detail"], problem
    assert problem["errors"][0] == {**problem["errors"][0], "key": "format", "source": "query"}


async def test_a_form_encoded_body_gets_a_sentence(client: Client) -> None:
    r = await client.post("/v1/travellers", data={"display_name": "Form"})
    problem = assert_problem(r, 415, "request.unsupported_media_type")
    assert "application/json" in problem["detail"] and problem["detail"].endswith("."), problem


async def test_an_empty_body_gets_a_sentence(client: Client) -> None:
    r = await client.post(
        "/v1/admin/regions", content=b"", headers={**ADMIN, "Content-Type": "application/json"}
    )
    problem = assert_problem(r, 400, "request.invalid")
    assert problem["detail"].endswith("."), r.text


def _date_params(op: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for p in op.get("parameters", []):
        schema = p.get("schema", {})
        formats = {schema.get("format"), *(s.get("format") for s in schema.get("oneOf", []))}
        if p.get("in") == "query" and formats & {"date", "date-time"}:
            out.append((p["name"], "date-time" if "date-time" in formats else "date"))
    return out


async def test_every_date_in_every_query_is_bounded(client: Client, world: World) -> None:
    """Each operation's day or instant query parameter, sent as year 9999 and year 1."""
    await _world_with_objects(world)
    doc = (await client.get("/schema/openapi.json")).json()
    checked: list[str] = []
    failures: list[str] = []
    for key, row in TABLE.items():
        method, template = key.split(" ", 1)
        path = re.sub(r":\w+\}", "}", template)
        op = doc["paths"].get(path, {}).get(method.lower())
        if op is None:
            continue
        for name, kind in _date_params(op):
            for extreme in (
                ("9999-12-31", "0001-01-01")
                if kind == "date"
                else ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00")
            ):
                params = {k: (v(world) if callable(v) else v) for k, v in row.query.items()}
                params[name] = extreme
                principal = principal_of(key)
                headers = {} if principal == "none" else world.auth(principal)
                r = await client.request(
                    method, fill(template, world), params=params, headers=headers
                )
                checked.append(f"{key} {name}")
                if r.status_code != 422 or r.json().get("code") != "request.date_out_of_range":
                    failures.append(f"{key} {name}={extreme}: {r.status_code} {r.text[:160]}")
    assert len(set(checked)) >= 12, sorted(set(checked))
    assert not failures, "\n".join(failures)


async def test_control_characters_in_path_and_query_parameters_are_422(
    app: Litestar, client: Client, world: World
) -> None:
    """Found by tests/fuzz/test_hostile_inputs.py: a NUL in a text path parameter
    (``GET /v1/admin/regions/%00``, ``DELETE /v1/admin/webhook-hosts/%00``) reached
    PostgreSQL as a 500."""
    await _world_with_objects(world)
    texts = [
        key
        for key in TABLE
        if re.search(r":(str|path)\}", key)
        and not key.split(" ", 1)[1].startswith(("/schema", "/planner"))
    ]
    assert len(texts) >= 4, texts
    failures: list[str] = []
    for key in texts:
        method, template = key.split(" ", 1)
        path = re.sub(r"\{\w+:(str|path)\}", "a%00b", template)
        path = fill(path, world)
        principal = principal_of(key)
        headers = {} if principal == "none" else world.auth(principal)
        r = await client.request(method, path, headers=headers)
        if r.status_code != 422 or r.json()["code"] != "request.control_character":
            failures.append(f"{key}: {r.status_code} {r.text[:160]}")
    assert not failures, "\n".join(failures)
    r = await client.get("/v1/venues", params={"region": "CN\x00GZ"})
    problem = assert_problem(r, 422, "request.control_character")
    assert problem["errors"][0] == {
        "field": "region",
        "source": "query",
        "code": "request.control_character",
    }
