"""The OpenAPI document says what the API really does, so a client can be built from it.

After the app is built, :func:`document_api` rewrites Litestar's document:

- **security**: a ``bearer`` scheme, and on every operation the tokens it takes (from
  its guards; a public route says ``security: []``), so the docs' Authorize works;
- **summary and description** from the handler's docstring (summary: its first clause;
  description: all of it, and who may call);
- **errors** as they are: RFC 9457 ``application/problem+json`` (see onecode/errors.py),
  one response per status the operation can give, each naming its ``code`` values in
  its description and giving one example per code (Swagger UI lists them; a generated
  client gets one ``Problem`` type). The codes come from what the route is (a body, a
  guard, a cursor, a rate limit, a date: :func:`_generic`) and, for its own refusals,
  from :data:`ROUTE_PROBLEMS` (one row per operation). tests/api/test_openapi_spec.py
  checks that every code in the source is documented somewhere; the fuzzer checks that
  every code it meets is documented for its operation and status.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from litestar import Litestar
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPIMediaType,
    OpenAPIResponse,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.routes import HTTPRoute

from onecode.errors import PROBLEM_JSON

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="An RFC 9457 problem with onecode's stable machine `code`.",
    required=["type", "title", "status", "detail", "code"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER, minimum=400, maximum=599),
        "detail": Schema(type=OpenAPIType.STRING),
        "code": Schema(type=OpenAPIType.STRING, examples=["bookings.slot_full"]),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(type=OpenAPIType.OBJECT, additional_properties=True),
        ),
    },
)

BEARER = SecurityScheme(
    type="http",
    scheme="bearer",
    description=(
        "An onecode token: `oc_admin_…`, `oc_operator_…`, `oc_planner_…` and `oc_gate_…` "
        "are issued by an admin (shown once, on creation), `oc_traveller_…` by "
        "`POST /v1/travellers`. Each operation says which kinds it takes."
    ),
)

_OPERATIONS = ("get", "put", "post", "delete", "patch")

_TITLES = {
    400: "Bad request",
    401: "No or unknown token",
    403: "This token may not do this",
    404: "Unknown, or outside the caller's scope",
    409: "The current state forbids it",
    413: "Too large",
    415: "Not JSON",
    422: "Well-formed but against the rules",
    429: "Rate limited (see Retry-After)",
    503: "Database unavailable (see Retry-After)",
}

_VENUE = {404: ["venues.not_found"]}
_REGION = {404: ["regions.not_found"]}
_HOOK = {404: ["webhooks.not_found"]}
_SLOT = {404: ["venues.not_found", "slots.not_found"]}
_HOOK_RULES = [
    "webhooks.bad_host",
    "webhooks.address_not_allowed",
    "webhooks.host_not_found",
    "webhooks.event_not_allowed",
    "webhooks.bad_secret",
]
_VENUE_RULES = [
    "venues.bad_timezone",
    "venues.bad_capacity",
    "venues.contradiction",
    "regions.not_found",
]
_WINDOW = {
    404: ["venues.not_found", "regions.not_found"],
    422: ["planner.bad_range", "planner.bad_scope"],
}

#: Each operation's own refusals, by status; the generic ones are added by ``_generic``.
_SCOPE_404 = ["venues.not_found", "regions.not_found"]
_URL_422 = ["webhooks.bad_url", "webhooks.host_not_allowed", "webhooks.address_not_allowed"]
_EVENT_422 = "webhooks.event_not_allowed"
_SUBSCRIPTION: Mapping[int, list[str]] = {404: ["webhooks.not_found"]}
_DELIVERY: Mapping[int, list[str]] = {404: ["webhooks.not_found", "webhooks.delivery_not_found"]}

ROUTE_PROBLEMS: dict[str, Mapping[int, list[str]]] = {
    "GET /readyz": {503: ["service.not_ready"]},
    "POST /v1/admin/regions": {409: ["regions.exists"], 422: ["regions.unknown_parent"]},
    "POST /v1/admin/venues": {422: _VENUE_RULES},
    "POST /v1/admin/venues/{venue_id}/gates": {**_VENUE, 422: ["gates.venue_ungated"]},
    "POST /v1/admin/operators": {422: ["venues.not_found"]},
    "POST /v1/admin/planners": {422: ["regions.not_found"]},
    "GET /v1/venues": {404: ["regions.not_found"]},
    "GET /v1/venues/{venue_id}": _VENUE,
    "GET /v1/venues/{venue_id}/slots": _VENUE,
    "POST /v1/venues/{venue_id}/slots": {
        **_VENUE,
        409: ["slots.duplicate", "venues.inactive"],
        422: [
            "slots.naive_time",
            "slots.bad_window",
            "slots.out_of_range",
            "slots.over_daily_capacity",
        ],
    },
    "GET /v1/venues/{venue_id}/live": _VENUE,
    "GET /v1/me": {404: ["travellers.not_found"]},
    "GET /v1/me/code": {404: ["travellers.not_found"]},
    "GET /v1/me/code.png": {404: ["travellers.not_found"]},
    "GET /v1/me/code.svg": {404: ["travellers.not_found"]},
    "POST /v1/me/code/rotate": {404: ["travellers.not_found"]},
    "POST /v1/bookings": {
        400: ["idempotency.bad_key"],
        404: ["slots.not_found"],
        409: [
            "bookings.slot_full",
            "bookings.daily_limit",
            "bookings.lottery_open",
            "slots.cancelled",
            "venues.inactive",
            "idempotency.in_progress",
        ],
        422: ["bookings.party_too_large", "bookings.outside_window", "idempotency.key_reused"],
    },
    "GET /v1/bookings/{booking_id}": {404: ["bookings.not_found"]},
    "POST /v1/bookings/{booking_id}/cancel": {
        404: ["bookings.not_found"],
        409: ["bookings.already_used", "bookings.too_late_to_cancel"],
    },
    "POST /v1/gate/scans": {403: ["gates.no_venue"], 422: ["scans.bad_time"]},
    "GET /v1/me/visits": {422: ["visits.naive_time"]},
    "GET /v1/gate/pack": {400: ["pack.bad_cursor"]},
    "POST /v1/gate/scans/batch": {
        400: ["scans.duplicate_in_batch"],
        413: ["scans.batch_too_large"],
    },
    "GET /v1/venues/{venue_id}/conflicts": _VENUE,
    **{
        f"GET /v1/planner/{name}": _WINDOW
        for name in ("arrivals", "od", "dwell", "origins", "heatmap", "bookings", "feedback")
    },
    "GET /v1/planner/occupancy": _VENUE,
    "GET /v1/venues/{venue_id}/reviews": _VENUE,
    "POST /v1/venues/{venue_id}/reviews": {
        **_VENUE,
        403: ["reviews.no_visit"],
        409: ["reviews.duplicate"],
        422: ["reviews.bad_text"],
    },
    "GET /v1/places/{place_code}": {404: ["places.not_found"]},
    "POST /v1/places/{place_code}/checkin": {
        404: ["places.not_found"],
        409: ["places.gated_venue", "checkins.retry"],
    },
    "GET /v1/venues/{venue_id}/place-code": _VENUE,
    "GET /v1/venues/{venue_id}/place-code.png": _VENUE,
    "GET /v1/venues/{venue_id}/place-code.svg": _VENUE,
    "POST /v1/venues/{venue_id}/place-code/rotate": _VENUE,
    "POST /v1/complaints": {**_VENUE, 422: ["complaints.bad_text"]},
    "POST /v1/complaints/{complaint_id}/answer": {
        404: ["complaints.not_found"],
        422: ["complaints.bad_text"],
    },
    "POST /v1/complaints/{complaint_id}/rating": {
        404: ["complaints.not_found"],
        409: ["complaints.not_answered"],
    },
    "GET /v1/venues/{venue_id}/complaints": _VENUE,
    **{
        # webhooks (onecode/webhooks): subscriptions, their log, the host allow-list
        "POST /v1/webhooks": {404: _SCOPE_404, 422: [*_URL_422, _EVENT_422, "webhooks.bad_secret"]},
        "GET /v1/webhooks/{subscription_id}": _SUBSCRIPTION,
        "PATCH /v1/webhooks/{subscription_id}": {
            404: ["webhooks.not_found", *_SCOPE_404],
            422: [*_URL_422, _EVENT_422],
        },
        "DELETE /v1/webhooks/{subscription_id}": _SUBSCRIPTION,
        "POST /v1/webhooks/{subscription_id}/rotate": _SUBSCRIPTION,
        "POST /v1/webhooks/{subscription_id}/ping": _SUBSCRIPTION,
        "GET /v1/webhooks/{subscription_id}/deliveries": _SUBSCRIPTION,
        "GET /v1/webhooks/{subscription_id}/deliveries/{delivery_id}": _DELIVERY,
        "POST /v1/webhooks/{subscription_id}/deliveries/{delivery_id}/replay": {
            **_DELIVERY,
            409: ["webhooks.delivery_pending"],
        },
        "POST /v1/admin/webhook-hosts": {
            422: ["webhooks.bad_host", "webhooks.address_not_allowed"]
        },
        "DELETE /v1/admin/webhook-hosts/{host}": {404: ["webhooks.host_not_found"]},
        "GET /v1/alerts": {404: ["regions.not_found"], 422: ["alerts.bad_scope"]},
    },
    # operations (admin lists, changes, tokens, audit)
    **{
        f"GET /v1/admin/{name}": _REGION
        for name in ("regions", "venues", "operators", "planners", "gates")
    },
    "GET /v1/admin/regions/{code}": _REGION,
    "PATCH /v1/admin/regions/{code}": {
        **_REGION,
        422: ["regions.unknown_parent", "regions.parent_loop"],
    },
    "GET /v1/admin/venues/{venue_id}": _VENUE,
    "PATCH /v1/admin/venues/{venue_id}": {
        **_VENUE,
        409: ["venues.has_gates", "venues.timezone_in_use"],
        422: _VENUE_RULES,
    },
    "POST /v1/admin/venues/{venue_id}/deactivate": _VENUE,
    "POST /v1/admin/venues/{venue_id}/reactivate": _VENUE,
    **{
        f"{method} /v1/admin/{kind}s/{{{kind}_id}}{tail}": {404: [f"{kind}s.not_found"]}
        for kind in ("gate", "operator", "planner")
        for method, tail in (("GET", ""), ("POST", "/revoke"), ("POST", "/token"))
    },
    "GET /v1/admin/audit": {404: ["regions.not_found"]},
    "PATCH /v1/admin/gates/{gate_id}": {404: ["gates.not_found"]},
    "PATCH /v1/admin/operators/{operator_id}": {
        404: ["operators.not_found"],
        422: ["venues.not_found"],
    },
    "PATCH /v1/admin/planners/{planner_id}": {
        404: ["planners.not_found"],
        422: ["regions.not_found"],
    },
    # venue slots one by one, and in a weekly pattern (operations)
    "GET /v1/venues/{venue_id}/slots/{slot_id}": _SLOT,
    "PATCH /v1/venues/{venue_id}/slots/{slot_id}": {
        **_SLOT,
        409: ["slots.cancelled", "slots.below_booked", "slots.times_locked", "slots.duplicate"],
        422: [
            "slots.bad_window",
            "slots.naive_time",
            "slots.out_of_range",
            "slots.over_daily_capacity",
        ],
    },
    "POST /v1/venues/{venue_id}/slots/{slot_id}/cancel": {
        **_SLOT,
        409: ["slots.ended"],
        422: ["slots.no_reason"],
    },
    "POST /v1/venues/{venue_id}/slots/recurring": {
        **_VENUE,
        409: ["slots.duplicate", "venues.inactive"],
        422: [
            "slots.bad_range",
            "slots.too_many",
            "slots.empty_pattern",
            "slots.duplicate",
            "slots.bad_window",
            "slots.naive_time",
            "slots.out_of_range",
            "slots.over_daily_capacity",
        ],
    },
    # the waiting list, lotteries and walk-ins (allocation; outcomes in bookings/outcomes.py)
    "POST /v1/slots/{slot_id}/waitlist": {
        404: ["slots.not_found"],
        409: [
            "waitlist.slot_not_full",
            "waitlist.already_waiting",
            "slots.cancelled",
            "venues.inactive",
        ],
        422: ["bookings.party_too_large", "bookings.outside_window"],
    },
    "GET /v1/me/waitlist/{entry_id}": {404: ["waitlist.not_found"]},
    "DELETE /v1/me/waitlist/{entry_id}": {404: ["waitlist.not_found"]},
    "POST /v1/me/waitlist/{entry_id}/accept": {
        404: ["waitlist.not_found"],
        409: ["waitlist.no_offer", "waitlist.offer_expired"],
    },
    "POST /v1/lotteries/{lottery_id}/applications": {
        404: ["lotteries.not_found", "slots.not_found"],
        409: ["lotteries.closed", "lotteries.already_applied", "bookings.daily_limit"],
        422: ["lotteries.slot_not_in_lottery", "bookings.party_too_large"],
    },
    "POST /v1/venues/{venue_id}/lotteries": {
        404: ["venues.not_found", "slots.not_found"],
        409: ["lotteries.exists"],
        422: ["lotteries.bad_deadline"],
    },
    "GET /v1/venues/{venue_id}/lotteries": _VENUE,
    "GET /v1/venues/{venue_id}/lotteries/{lottery_id}/draw": {
        404: ["venues.not_found", "lotteries.not_found"]
    },
    # webhook subscriptions and the admin's allow-list of hosts
    "POST /v1/webhooks": {422: _HOOK_RULES},
    "GET /v1/webhooks/{subscription_id}": _HOOK,
    "PATCH /v1/webhooks/{subscription_id}": {**_HOOK, 422: _HOOK_RULES},
    "DELETE /v1/webhooks/{subscription_id}": _HOOK,
    "POST /v1/webhooks/{subscription_id}/rotate": {**_HOOK, 422: ["webhooks.bad_secret"]},
    "POST /v1/webhooks/{subscription_id}/ping": _HOOK,
    "GET /v1/webhooks/{subscription_id}/deliveries": _HOOK,
    "GET /v1/webhooks/{subscription_id}/deliveries/{delivery_id}": {
        404: ["webhooks.not_found", "webhooks.delivery_not_found"]
    },
    "POST /v1/webhooks/{subscription_id}/deliveries/{delivery_id}/replay": {
        404: ["webhooks.not_found", "webhooks.delivery_not_found"],
        409: ["webhooks.delivery_pending"],
    },
    "POST /v1/admin/webhook-hosts": {422: ["webhooks.bad_host", "webhooks.address_not_allowed"]},
    "DELETE /v1/admin/webhook-hosts/{host}": {
        404: ["webhooks.host_not_found"],
        422: ["webhooks.bad_host", "webhooks.address_not_allowed"],
    },
    "GET /v1/venues/{venue_id}/audit": _VENUE,
}


def _handlers(app: Litestar) -> dict[tuple[str, str], Any]:
    """(OpenAPI path, method) -> the route handler that serves it."""
    out: dict[tuple[str, str], Any] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    out[(route.path_format or "/", method.lower())] = handler
    return out


def caller_kinds(handler: Any) -> list[str] | None:
    """The token kinds a handler's guards admit (``None``: a public route)."""
    kinds: set[str] = set()
    guarded = False
    for guard in handler.resolve_guards():
        admitted = getattr(guard, "kinds", None)
        if admitted is not None:
            guarded = True
            kinds |= set(admitted)
    return sorted(kinds) if guarded else None


def _summary(doc: str) -> str:
    """The docstring's first clause (up to ``:``, ``;`` or ``(``), or its first sentence
    when that clause is under three words."""
    sentence = " ".join(doc.split("\n\n", 1)[0].split())
    first = sentence
    for stop in (": ", "; ", " ("):
        first = first.split(stop, 1)[0]
    if len(first.split()) < 3:
        first = sentence.split(". ", 1)[0]
    return first.rstrip(".")


def _has_text(parameters: Iterable[Any]) -> bool:
    """Any query parameter, or a text path parameter: what the ``before_request`` hook
    checks for control characters (path ids are UUIDs, refused by the router)."""
    for parameter in parameters:
        where = str(getattr(getattr(parameter, "param_in", None), "value", ""))
        if where == "query":
            return True
        schema = getattr(parameter, "schema", None)
        if where == "path" and getattr(schema, "format", None) != "uuid":
            return True
    return False


def _has_query_date(parameters: Iterable[Any]) -> bool:
    for parameter in parameters:
        schema = getattr(parameter, "schema", None)
        options = [schema, *(getattr(schema, "one_of", None) or [])]
        if any(getattr(s, "format", None) in {"date", "date-time"} for s in options if s):
            return True
    return False


def _generic(key: str, handler: Any, operation: Any) -> dict[int, list[str]]:
    """The refusals a route gives by what it is (guards, body, parameters, limits)."""
    from onecode.http.bodies import body_rules

    codes: dict[int, list[str]] = {503: ["service.unavailable"]}
    parameters = list(operation.parameters or [])
    names = {getattr(p, "name", "") for p in parameters}
    model = body_model(handler)
    if parameters or model is not None:
        codes[400] = ["request.invalid"]
    if caller_kinds(handler) is not None:
        codes[401] = ["auth.missing_token", "auth.invalid_token", "auth.malformed"]
        codes[403] = ["auth.wrong_principal"]
    if "cursor" in names and not any(
        c.endswith("bad_cursor") for c in ROUTE_PROBLEMS.get(key, {}).get(400, [])
    ):
        codes.setdefault(400, []).append("request.bad_cursor")
    if _has_text(parameters):
        codes.setdefault(422, []).append("request.control_character")
    if _has_query_date(parameters):
        codes.setdefault(422, []).append("request.date_out_of_range")
    if model is not None:
        codes[400].append("request.too_deep")
        codes[413] = ["request.too_large"]
        codes[415] = ["request.unsupported_media_type"]
        for code in sorted(body_rules(model)):
            if code not in codes.get(422, []):
                codes.setdefault(422, []).append(code)
    if handler.opt.get("rate_limit"):
        codes[429] = ["rate_limited"]
    return codes


def body_model(handler: Any) -> Any:
    """The type of a handler's JSON body, or None."""
    field = handler.parsed_fn_signature.parameters.get("data")
    return None if field is None else field.annotation


def problems_of(key: str, handler: Any, operation: Any) -> dict[int, list[str]]:
    """Every (status, codes) an operation documents."""
    codes = _generic(key, handler, operation)
    for status, own in ROUTE_PROBLEMS.get(key, {}).items():
        merged = codes.setdefault(status, [])
        merged.extend(c for c in own if c not in merged)
    return dict(sorted(codes.items()))


def _problem(
    description: str, codes: list[str] | None = None, status: int | None = None
) -> OpenAPIResponse:
    """A problem+json response; its codes are named in the description and given one
    example each (Swagger UI lists them; a generated client gets one ``Problem`` type)."""
    examples: dict[str, Example | Reference] | None = None
    if codes:
        description = f"{description}: " + ", ".join(f"`{c}`" for c in codes) + "."
        examples = {
            code: Example(
                summary=code,
                value={
                    "type": f"https://onecode.dev/problems/{code}",
                    "title": _TITLES.get(status or 0, "Refused"),
                    "status": status,
                    "detail": "A sentence saying what was refused and why.",
                    "code": code,
                },
            )
            for code in codes
        }
    return OpenAPIResponse(
        description=description,
        content={
            PROBLEM_JSON: OpenAPIMediaType(
                schema=Reference("#/components/schemas/Problem"), examples=examples
            )
        },
    )


def _callers(kinds: list[str] | None) -> str:
    if kinds is None:
        return "**Callers:** anyone; no token needed."
    return "**Callers:** a bearer token of kind " + ", ".join(f"`{k}`" for k in kinds) + "."


def document_api(app: Litestar) -> None:
    """Rewrite the app's OpenAPI document (built once here, then cached and served)."""
    openapi = app.openapi_schema
    if openapi.components is None:
        openapi.components = Components()
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["Problem"] = PROBLEM_SCHEMA
    openapi.components.security_schemes = {"bearer": BEARER}
    for schema in openapi.components.schemas.values():
        for prop in (getattr(schema, "properties", None) or {}).values():
            if str(getattr(prop, "description", "") or "").startswith("Deprecated:"):
                prop.deprecated = True  # Litestar drops msgspec's extra_json_schema
    handlers = _handlers(app)
    for path, path_item in (openapi.paths or {}).items():
        for name in _OPERATIONS:
            operation = getattr(path_item, name, None)
            if operation is None:
                continue
            key = f"{name.upper()} {path}"
            handler = handlers.get((path, name))
            if handler is None:  # pragma: no cover - every documented path has a handler
                continue
            doc = inspect.cleandoc(handler.fn.__doc__ or "")
            kinds = caller_kinds(handler)
            operation.summary = _summary(doc) if doc else operation.summary
            operation.description = f"{doc}\n\n{_callers(kinds)}" if doc else _callers(kinds)
            operation.security = [] if kinds is None else [{"bearer": []}]
            responses = {
                status: response
                for status, response in (operation.responses or {}).items()
                if status[:1] not in {"4", "5"}
            }
            for status, codes in problems_of(key, handler, operation).items():
                responses[str(status)] = _problem(_TITLES.get(status, "Refused"), codes, status)
            responses["default"] = _problem(
                "Any other refusal, as problem+json with a stable `code`"
            )
            operation.responses = responses


def document_problems(app: Litestar) -> None:
    """Kept for callers of the earlier name: see :func:`document_api`."""
    document_api(app)
