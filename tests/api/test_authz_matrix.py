"""The authorization matrix: every route x every principal kind, from the route table.

Adding a route is one line in ``TABLE``, keyed by ``"METHOD path"`` exactly as the app
registers it (``GET /v1/venues/{venue_id:uuid}``). A route of the app missing from the
table fails ``test_every_route_is_in_the_table``, naming the line to add.

Path parameters are filled with principal A's side (venue A, traveller A's objects:
``PARAMS``), so the B-side principals exercise object scope and expect 404 where the
route is ``scoped``. Principals run in ``PRINCIPALS`` order, the owner (traveller A)
last, so a destructive route (``DELETE /v1/me``) cannot spoil the others' rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from tests.conftest import World
from tests.support.apps import Client
from tests.support.problems import assert_problem

PRINCIPALS = (
    "none",
    "traveller_b",
    "gate_b",
    "operator_b",
    "planner_y",
    "gate_a",
    "operator_a",
    "planner_x",
    "admin",
    "traveller_a",
)
# principals whose scope excludes A's objects (venue A in CN-GZ-AS, traveller A's things)
B_SIDE = frozenset({"traveller_b", "gate_b", "operator_b", "planner_y"})
# Litestar answers these for every path by itself (CORS preflight, HEAD of GET)
IMPLICIT_METHODS = frozenset({"OPTIONS", "HEAD"})

Body = Callable[[World, int], Any]


def kind_of(principal: str) -> str:
    return principal.split("_", 1)[0]


@dataclass(frozen=True)
class Row:
    """Expected outcome of one route: ``ok`` for an allowed principal; without a token
    401, a kind not in ``who`` 403, a B-side principal on a ``scoped`` route 404."""

    ok: int = 200
    who: frozenset[str] | None = None  # None: anyone, with or without a token
    scoped: bool = False
    body: Body | None = None
    query: Mapping[str, Any] = field(default_factory=dict)  # values may be callables of World
    override: Mapping[str, int] = field(default_factory=dict)  # principal -> status

    def expect(self, principal: str) -> int:
        if principal in self.override:
            return self.override[principal]
        if self.who is None:
            return self.ok
        if principal == "none":
            return 401
        if kind_of(principal) not in self.who:
            return 403
        if self.scoped and principal in B_SIDE:
            return 404
        return self.ok


def public(ok: int = 200, **kw: Any) -> Row:
    return Row(ok=ok, who=None, **kw)


def only(*kinds: str, ok: int = 200, **kw: Any) -> Row:
    return Row(ok=ok, who=frozenset(kinds), **kw)


def _slots(world: World, n: int) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    start += timedelta(hours=n)
    return {
        "slots": [
            {
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(minutes=30)).isoformat(),
                "capacity": 10,
            }
        ]
    }


def _venue(world: World, n: int) -> dict[str, Any]:
    return {
        "region_code": "CN-GZ-AS",
        "name": f"venue {n}",
        "kind": "museum",
        "gated": False,
        "requires_booking": False,
        "entry_rule": "reentry",
        "capacity_instant": 50,
        "capacity_daily": 500,
    }


def _recurring(world: World, n: int) -> dict[str, Any]:
    day = (datetime.now(UTC) + timedelta(days=3 + n)).date().isoformat()
    return {
        "from": day,
        "to": day,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "times": [{"start": "10:00", "end": "11:00"}],
        "capacity": 10,
    }


def _scan(world: World, n: int) -> dict[str, Any]:
    return {
        "code": world.ids["code_a"],
        "direction": "in",
        "scan_id": str(uuid.uuid4()),
        "scanned_at": datetime.now(UTC).isoformat(),
    }


def _lottery(world: World, n: int) -> dict[str, Any]:
    day = datetime.now(UTC).date() + timedelta(days=12 + n % 3)
    return {
        "local_day": day.isoformat(),
        "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    }


def _one_place(world: World, n: int) -> dict[str, Any]:
    body = _slots(world, n)
    body["slots"][0]["capacity"] = 1
    return body


_RANGE = {"region": "CN-GZ", "from": "2030-01-01", "to": "2030-01-07"}


# Path parameters, filled from principal A's side of the world.
PARAMS: dict[str, Callable[[World], str]] = {
    "venue_id": lambda w: str(w.ids["venue_a"]),
    "booking_id": lambda w: str(w.ids["booking_a"]),
    "complaint_id": lambda w: str(w.ids["complaint_a"]),
    "place_code": lambda w: str(w.ids["place_a"]),
    "file_path": lambda w: "app.js",
    "path": lambda w: "swagger",  # the docs catch-all of the render plugins
    "slot_id": lambda w: str(w.ids["slot_full"]),
    "entry_id": lambda w: str(w.ids["entry_a"]),
    "lottery_id": lambda w: str(w.ids["lottery_a"]),
    "code": lambda w: "CN-GZ-AS",
    "gate_id": lambda w: str(w.ids["gate_a"]),
    "operator_id": lambda w: str(w.ids["operator_a"]),
    "planner_id": lambda w: str(w.ids["planner_x"]),
    "subscription_id": lambda w: str(w.ids["subscription_a"]),
    "delivery_id": lambda w: str(w.ids["delivery_a"]),
    "host": lambda w: "old.example.org",
}

# Path parameters of one route that differ from PARAMS (same name, another meaning).
ROUTE_PARAMS: dict[str, dict[str, Callable[[World], str]]] = {
    "/schema/assets/{file_path:path}": {"file_path": lambda w: "swagger-ui.css"},
    # an operator changes an open slot of their venue (the waiting list needs a full one)
    "/v1/venues/{venue_id:uuid}/slots/{slot_id:uuid}": {"slot_id": lambda w: str(w.ids["slot_a"])},
    "/v1/venues/{venue_id:uuid}/slots/{slot_id:uuid}/cancel": {
        "slot_id": lambda w: str(w.ids["slot_a"])
    },
}

ADMIN_ONLY = only("admin", ok=201)
SUBSCRIBERS = ("admin", "operator", "planner")
# a subscription of operator A's: other operators and planners do not know it exists
NOT_THEIRS = {"planner_x": 404}

TABLE: dict[str, Row] = {
    # system
    "GET /healthz": public(),
    "GET /readyz": public(),
    "GET /metrics": only("admin"),
    "GET /schema": public(),
    "GET /schema/openapi.json": public(),
    "GET /schema/{path:str}": public(),
    # Swagger UI's files from the wheel (onecode/http/docs.py)
    "GET /schema/assets/{file_path:path}": public(),
    "GET /schema/swagger": public(),
    "GET /schema/oauth2-redirect.html": public(),
    # admin and catalog
    "POST /v1/admin/regions": only(
        "admin", ok=201, body=lambda w, n: {"code": f"CN-T{n}", "name": f"t{n}"}
    ),
    "POST /v1/admin/venues": only("admin", ok=201, body=_venue),
    "POST /v1/admin/venues/{venue_id:uuid}/gates": only(
        "admin", ok=201, body=lambda w, n: {"name": f"gate {n}"}
    ),
    "POST /v1/admin/operators": only(
        "admin", ok=201, body=lambda w, n: {"name": f"op {n}", "venue_ids": [w.ids["venue_a"]]}
    ),
    "POST /v1/admin/planners": only(
        "admin", ok=201, body=lambda w, n: {"name": f"pl {n}", "region_codes": ["CN-GZ"]}
    ),
    "GET /v1/venues": public(),
    # operations (issue 17): listings, changes, revocation, audit
    "GET /v1/admin/releases": only("admin", query=_RANGE),
    "GET /v1/admin/regions": only("admin"),
    "GET /v1/admin/regions/{code:str}": only("admin"),
    "PATCH /v1/admin/regions/{code:str}": only("admin", body=lambda w, n: {"name": f"r{n}"}),
    "GET /v1/admin/venues": only("admin"),
    "GET /v1/admin/venues/{venue_id:uuid}": only("admin"),
    "PATCH /v1/admin/venues/{venue_id:uuid}": only(
        "admin", body=lambda w, n: {"name": f"venue {n}", "capacity_instant": 90}
    ),
    "POST /v1/admin/venues/{venue_id:uuid}/deactivate": only("admin"),
    "POST /v1/admin/venues/{venue_id:uuid}/reactivate": only("admin"),
    **{f"GET /v1/admin/{kind}s": only("admin") for kind in ("gate", "operator", "planner")},
    **{
        f"GET /v1/admin/{kind}s/{{{kind}_id:uuid}}": only("admin")
        for kind in ("gate", "operator", "planner")
    },
    "PATCH /v1/admin/gates/{gate_id:uuid}": only("admin", body=lambda w, n: {"name": f"g{n}"}),
    "PATCH /v1/admin/operators/{operator_id:uuid}": only(
        "admin", body=lambda w, n: {"venue_ids": [w.ids["venue_a"], w.ids["venue_b"]]}
    ),
    "PATCH /v1/admin/planners/{planner_id:uuid}": only(
        "admin", body=lambda w, n: {"region_codes": ["CN-GZ", "CN-YN"]}
    ),
    **{
        f"POST /v1/admin/{kind}s/{{{kind}_id:uuid}}/revoke": only("admin", ok=204)
        for kind in ("gate", "operator", "planner")
    },
    **{
        f"POST /v1/admin/{kind}s/{{{kind}_id:uuid}}/token": only("admin", ok=201)
        for kind in ("gate", "operator", "planner")
    },
    "GET /v1/admin/audit": only("admin"),
    "GET /v1/venues/{venue_id:uuid}/audit": only("admin", "operator", scoped=True),
    "GET /v1/venues/{venue_id:uuid}/slots/{slot_id:uuid}": only("admin", "operator", scoped=True),
    "PATCH /v1/venues/{venue_id:uuid}/slots/{slot_id:uuid}": only(
        "admin", "operator", scoped=True, body=lambda w, n: {"capacity": 20 + n}
    ),
    "POST /v1/venues/{venue_id:uuid}/slots/{slot_id:uuid}/cancel": only(
        "admin", "operator", scoped=True, body=lambda w, n: {"reason": f"Closed ({n})."}
    ),
    "POST /v1/venues/{venue_id:uuid}/slots/recurring": only(
        "admin", "operator", ok=201, scoped=True, body=_recurring
    ),
    # the dashboard's static files: public, they hold no data
    "GET /planner": public(),
    "GET /planner/{file_path:path}": public(),
    "GET /v1/dashboard/messages": public(query={"region": "CN-GZ"}),
    "GET /favicon.ico": public(),
    "GET /v1/venues/{venue_id:uuid}": public(),
    "GET /v1/venues/{venue_id:uuid}/slots": public(query={"date": "2030-01-01"}),
    "POST /v1/venues/{venue_id:uuid}/slots": only(
        "admin", "operator", ok=201, scoped=True, body=_slots
    ),
    "GET /v1/venues/{venue_id:uuid}/live": only("admin", "operator", scoped=True),
    "GET /v1/keys": public(),
    # traveller
    "POST /v1/travellers": public(ok=201, body=lambda w, n: {}),
    "GET /v1/me": only("traveller"),
    "GET /v1/me/code": only("traveller"),
    "GET /v1/me/code.png": only("traveller"),
    "GET /v1/me/code.svg": only("traveller"),
    "POST /v1/me/code/rotate": only("traveller"),
    "GET /v1/me/visits": only("traveller"),
    "DELETE /v1/me": only("traveller", ok=204),
    "POST /v1/me/bookings/{booking_id:uuid}/paper-pass": only("traveller", ok=201, scoped=True),
    "DELETE /v1/me/bookings/{booking_id:uuid}/paper-pass": only("traveller", ok=204, scoped=True),
    "POST /v1/venues/{venue_id:uuid}/bookings/{booking_id:uuid}/paper-pass": only(
        "admin", "operator", ok=201, scoped=True
    ),
    "DELETE /v1/venues/{venue_id:uuid}/bookings/{booking_id:uuid}/paper-pass": only(
        "admin", "operator", ok=204, scoped=True
    ),
    # bookings
    "POST /v1/bookings": only(
        "traveller", ok=201, body=lambda w, n: {"slot_id": w.ids["slot_free"], "party_size": 1}
    ),
    "GET /v1/me/bookings": only("traveller"),
    "GET /v1/bookings/{booking_id:uuid}": only("traveller", scoped=True),
    "POST /v1/bookings/{booking_id:uuid}/cancel": only("traveller", scoped=True),
    # waiting list, walk-ins, lotteries (issue #18)
    "POST /v1/slots/{slot_id:uuid}/waitlist": only(
        "traveller", ok=201, body=lambda w, n: {"party_size": 1}
    ),
    "GET /v1/me/waitlist": only("traveller"),
    "GET /v1/me/waitlist/{entry_id:uuid}": only("traveller", scoped=True),
    "DELETE /v1/me/waitlist/{entry_id:uuid}": only("traveller", scoped=True),
    # A's entry is waiting, not offered: waitlist.no_offer (the scope is what is checked)
    "POST /v1/me/waitlist/{entry_id:uuid}/accept": only("traveller", ok=409, scoped=True),
    "POST /v1/venues/{venue_id:uuid}/walkins": only(
        "admin",
        "operator",
        ok=201,
        scoped=True,
        body=lambda w, n: {"slot_id": w.ids["slot_free"], "party_size": 1},
    ),
    "POST /v1/venues/{venue_id:uuid}/lotteries": only(
        "admin", "operator", ok=201, scoped=True, body=_lottery
    ),
    "GET /v1/venues/{venue_id:uuid}/lotteries": public(),
    "GET /v1/venues/{venue_id:uuid}/lotteries/{lottery_id:uuid}/draw": only(
        "admin", "operator", scoped=True
    ),
    "POST /v1/lotteries/{lottery_id:uuid}/applications": only(
        "traveller",
        ok=201,
        body=lambda w, n: {"slot_id": w.ids["slot_lottery"], "party_size": 1},
    ),
    "GET /v1/me/applications": only("traveller"),
    # gates
    "POST /v1/gate/scans": only("gate", body=_scan),
    "GET /v1/gate/pack": only("gate"),
    "POST /v1/gate/scans/batch": only("gate", body=lambda w, n: {"scans": []}),
    "GET /v1/venues/{venue_id:uuid}/conflicts": only("admin", "operator", scoped=True),
    # reviews, place codes, complaints
    "GET /v1/venues/{venue_id:uuid}/reviews": public(),
    "POST /v1/venues/{venue_id:uuid}/reviews": only(
        "traveller",
        ok=201,
        body=lambda w, n: {"rating": 4, "text": "Worth the climb."},
        override={"traveller_b": 403},  # B has no visit there: reviews.no_visit
    ),
    "GET /v1/places/{place_code:str}": public(),
    "POST /v1/places/{place_code:str}/checkin": only("traveller", ok=201),
    "GET /v1/venues/{venue_id:uuid}/place-code": only("admin", "operator", scoped=True),
    "GET /v1/venues/{venue_id:uuid}/place-code.png": only("admin", "operator", scoped=True),
    "GET /v1/venues/{venue_id:uuid}/place-code.svg": only("admin", "operator", scoped=True),
    "POST /v1/venues/{venue_id:uuid}/place-code/rotate": only("admin", "operator", scoped=True),
    "POST /v1/complaints": only(
        "traveller",
        ok=201,
        body=lambda w, n: {"venue_id": w.ids["venue_a"], "category": "service", "text": "Slow."},
    ),
    "GET /v1/me/complaints": only("traveller"),
    "GET /v1/me/notifications": only("traveller"),
    "GET /v1/venues/{venue_id:uuid}/complaints": only("admin", "operator", scoped=True),
    "POST /v1/complaints/{complaint_id:uuid}/answer": only(
        "admin", "operator", scoped=True, body=lambda w, n: {"text": f"Sorry ({n})."}
    ),
    "POST /v1/complaints/{complaint_id:uuid}/rating": only(
        "traveller", scoped=True, body=lambda w, n: {"rating": 5}
    ),
    # webhooks
    "POST /v1/webhooks": only(
        *SUBSCRIBERS,
        ok=201,
        body=lambda w, n: {"url": f"https://hooks.example.org/{n}", "events": ["gate.offline"]},
    ),
    "GET /v1/webhooks": only(*SUBSCRIBERS),
    "GET /v1/webhooks/keys": public(),
    # an operator elsewhere gets its own (empty) share of the region; a planner elsewhere 404
    "GET /v1/alerts": only(
        *SUBSCRIBERS, scoped=True, query={"region": "CN-GZ-AS"}, override={"operator_b": 200}
    ),
    "GET /v1/webhooks/{subscription_id:uuid}": only(*SUBSCRIBERS, scoped=True, override=NOT_THEIRS),
    "PATCH /v1/webhooks/{subscription_id:uuid}": only(
        *SUBSCRIBERS, scoped=True, override=NOT_THEIRS, body=lambda w, n: {"description": f"{n}"}
    ),
    "DELETE /v1/webhooks/{subscription_id:uuid}": only(
        *SUBSCRIBERS,
        ok=204,
        scoped=True,
        override={**NOT_THEIRS, "admin": 404},  # gone by then
    ),
    "POST /v1/webhooks/{subscription_id:uuid}/rotate": only(
        *SUBSCRIBERS, scoped=True, override=NOT_THEIRS
    ),
    "POST /v1/webhooks/{subscription_id:uuid}/ping": only(
        *SUBSCRIBERS, ok=202, scoped=True, override=NOT_THEIRS
    ),
    "GET /v1/webhooks/{subscription_id:uuid}/deliveries": only(
        *SUBSCRIBERS, scoped=True, override=NOT_THEIRS
    ),
    "GET /v1/webhooks/{subscription_id:uuid}/deliveries/{delivery_id:uuid}": only(
        *SUBSCRIBERS, scoped=True, override=NOT_THEIRS
    ),
    # no worker runs here: the ping is still queued, so a replay is webhooks.delivery_pending
    "POST /v1/webhooks/{subscription_id:uuid}/deliveries/{delivery_id:uuid}/replay": only(
        *SUBSCRIBERS, ok=409, scoped=True, override=NOT_THEIRS
    ),
    "GET /v1/admin/webhook-hosts": only("admin"),
    "POST /v1/admin/webhook-hosts": only(
        "admin", ok=201, body=lambda w, n: {"host": f"h{n}.example.org"}
    ),
    "DELETE /v1/admin/webhook-hosts/{host:str}": only("admin", ok=204),
    # planner
    **{
        f"GET /v1/planner/{name}": only("planner", "admin", scoped=True, query=_RANGE)
        for name in (
            "arrivals",
            "od",
            "dwell",
            "origins",
            "heatmap",
            "bookings",
            "feedback",
            "venues",
        )
    },
    "GET /v1/planner/occupancy": only(
        "planner",
        "admin",
        scoped=True,
        query={"venue": lambda w: str(w.ids["venue_a"]), "date": "2030-01-01"},
    ),
}


def app_routes(app: Litestar) -> set[str]:
    keys: set[str] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method not in IMPLICIT_METHODS:
                    keys.add(f"{method} {route.path}")
    return keys


def test_every_route_is_in_the_table(app: Litestar) -> None:
    routes = app_routes(app)
    missing = sorted(routes - TABLE.keys())
    assert not missing, (
        "routes without a row in tests/api/test_authz_matrix.py TABLE (add one line each, "
        'e.g. \'"POST /v1/bookings": only("traveller", ok=201, body=...)\'): ' + ", ".join(missing)
    )
    stale = sorted(TABLE.keys() - routes)
    assert not stale, "TABLE rows for routes the app does not have: " + ", ".join(stale)


_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def fill(template: str, world: World) -> str:
    params = {**PARAMS, **ROUTE_PARAMS.get(template, {})}

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in params, f"no PARAMS entry fills path parameter {name!r} of {template}"
        return params[name](world)

    return _PARAM.sub(one, template)


async def _objects_of_a(world: World) -> None:
    """Traveller A's code and a booking of A's, for routes that name them."""
    world.ids["code_a"] = await world.code("a")
    slots = await world.post(f"/v1/venues/{world.ids['venue_a']}/slots", _slots(world, 99))
    world.ids["slot_a"] = slots["slots"][0]["id"]
    booking = await world.post(
        "/v1/bookings",
        {"slot_id": world.ids["slot_a"], "party_size": 1},
        headers=world.auth("traveller_a"),
    )
    world.ids["booking_a"] = booking["id"]
    other_day = await world.post(f"/v1/venues/{world.ids['venue_a']}/slots", _slots(world, 130))
    world.ids["slot_free"] = other_day["slots"][0]["id"]
    # a full slot (its one place taken by C), and A waiting for another full slot
    await world.traveller("c")
    for name, n in (("slot_full", 150), ("slot_full_a", 180)):
        full = await world.post(f"/v1/venues/{world.ids['venue_a']}/slots", _one_place(world, n))
        world.ids[name] = full["slots"][0]["id"]
        await world.post(
            "/v1/bookings",
            {"slot_id": world.ids[name], "party_size": 1},
            headers=world.auth("traveller_c"),
        )
    entry = await world.post(
        f"/v1/slots/{world.ids['slot_full_a']}/waitlist",
        {"party_size": 1},
        headers=world.auth("traveller_a"),
    )
    world.ids["entry_a"] = entry["id"]
    # a lottery of venue A, 11 days ahead, with a slot on its day
    day = datetime.now(UTC).date() + timedelta(days=11)
    lot_start = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)  # 10:00 in Shanghai
    lot_slot = await world.post(
        f"/v1/venues/{world.ids['venue_a']}/slots",
        {
            "slots": [
                {
                    "starts_at": lot_start.isoformat(),
                    "ends_at": (lot_start + timedelta(hours=1)).isoformat(),
                    "capacity": 10,
                }
            ]
        },
    )
    world.ids["slot_lottery"] = lot_slot["slots"][0]["id"]
    lottery = await world.post(
        f"/v1/venues/{world.ids['venue_a']}/lotteries",
        {
            "local_day": day.isoformat(),
            "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
    )
    world.ids["lottery_a"] = lottery["id"]
    # a visit of A's at venue A (an offline gate's accepted entry is a fact)
    scan = {**_scan(world, 0), "decision": "accept", "reason": "ok"}
    r = await world.client.post(
        "/v1/gate/scans/batch", json={"scans": [scan]}, headers=world.auth("gate_a")
    )
    assert r.json()["results"][0]["status"] == "recorded", r.text
    # an ungated village in A's region, for place-code check-ins
    village = await world.venue("CN-GZ-AS", "Village", gated=False, requires_booking=False)
    world.ids["place_a"] = village["place_code"]
    complaint = await world.post(
        "/v1/complaints",
        {"venue_id": world.ids["venue_a"], "category": "service", "text": "Queue too long."},
        headers=world.auth("traveller_a"),
    )
    world.ids["complaint_a"] = complaint["id"]
    await world.client.post(
        f"/v1/complaints/{complaint['id']}/answer",
        json={"text": "We opened a second gate."},
        headers=world.auth("operator_a"),
    )
    # a webhook subscription of operator A's, with one queued test ping
    for host in ("hooks.example.org", "old.example.org"):
        await world.post("/v1/admin/webhook-hosts", {"host": host})
    sub = await world.post(
        "/v1/webhooks",
        {"url": "https://hooks.example.org/a", "events": ["complaint.answered"]},
        headers=world.auth("operator_a"),
    )
    world.ids["subscription_a"] = sub["subscription"]["id"]
    r = await world.client.post(
        f"/v1/webhooks/{sub['subscription']['id']}/ping", headers=world.auth("operator_a")
    )
    world.ids["delivery_a"] = r.json()["id"]


@pytest.mark.parametrize("key", sorted(TABLE))
async def test_route_answers_each_principal_as_declared(
    key: str, client: Client, world: World
) -> None:
    row = TABLE[key]
    await world.traveller("a", display_name="Traveller A")
    await world.traveller("b", display_name="Traveller B")
    await _objects_of_a(world)
    method, template = key.split(" ", 1)
    path = fill(template, world)
    failures: list[str] = []
    for n, principal in enumerate(PRINCIPALS):
        headers = {} if principal == "none" else world.auth(principal)
        body = row.body(world, n) if row.body is not None else None
        params = {k: (v(world) if callable(v) else v) for k, v in row.query.items()}
        r = await client.request(method, path, headers=headers, params=params, json=body)
        expected = row.expect(principal)
        if r.status_code != expected:
            failures.append(f"{principal}: expected {expected}, got {r.status_code} {r.text[:200]}")
        elif r.status_code >= 400:
            assert_problem(r, r.status_code)
    assert not failures, f"{key}:\n  " + "\n  ".join(failures)
