"""Hypothesis strategies for the inputs schemathesis never made, across every operation.

Schemathesis sent 4,018 requests and found none of issue 19's 500s: it generates values
that fit (or break) the schema's types, not JSON nested a thousand deep, a NUL inside a
valid-looking name, or a date in year 9999 with a -12:00 offset. Here each of those is a
strategy, and every example is sent to **every operation** of the app's own OpenAPI
document (bodies built from the operation's request schema, strings replaced by the
hostile text, days and times by the extreme ones; path and query parameters likewise),
as the operation's first allowed principal (tests/api/test_authz_matrix.py TABLE).

Checks: no 5xx, and every refusal is problem+json whose code is documented for that
operation and status (or under ``default``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_authz_matrix import PARAMS, ROUTE_PARAMS, TABLE, _objects_of_a, fill
from tests.api.test_no_500 import principal_of
from tests.conftest import World
from tests.support.apps import Client

EXAMPLES = 4
CONTROLS = [chr(c) for c in (*range(0x00, 0x20), 0x7F, 0x85, 0x9F, 0x2028)]
OFFSETS = [timezone(timedelta(hours=h)) for h in (-12, -1, 0, 8, 14)]


@st.composite
def deep_json(draw: st.DrawFn) -> bytes:
    """Arrays and objects nested 33 to 3,000 deep, in any mix, maybe unbalanced."""
    depth = draw(st.integers(33, 3000))
    opens = draw(st.lists(st.sampled_from(["[", '{"a":']), min_size=1, max_size=4))
    body = "".join(opens[i % len(opens)] for i in range(depth))
    closes = "".join("]" if opens[i % len(opens)] == "[" else "}" for i in reversed(range(depth)))
    inner = draw(st.sampled_from(["1", "null", '"x"', "[]"]))
    balanced = draw(st.booleans())
    return (body + inner + (closes if balanced else closes[: depth // 2])).encode()


@st.composite
def hostile_text(draw: st.DrawFn) -> str:
    """A plausible text with a control character (NUL most often) somewhere inside."""
    head = draw(st.text(max_size=8))
    tail = draw(st.text(max_size=8))
    control = draw(st.sampled_from(["\x00", *CONTROLS]))
    return head + control + tail


def extreme_days() -> st.SearchStrategy[date]:
    return st.one_of(
        st.dates(min_value=date(1, 1, 1), max_value=date(1999, 12, 31)),
        st.dates(min_value=date(2100, 1, 1), max_value=date(9999, 12, 31)),
        st.sampled_from([date(1, 1, 1), date(9999, 12, 31), date(9999, 12, 30)]),
    )


def extreme_instants() -> st.SearchStrategy[str]:
    far = st.one_of(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(1999, 12, 31)),
        st.datetimes(min_value=datetime(2100, 1, 1), max_value=datetime(9999, 12, 30)),
        st.sampled_from([datetime(9999, 12, 31, 23, 59, 59), datetime(1, 1, 1, 0, 0, 0)]),
    )
    return st.builds(
        lambda at, tz: at.replace(microsecond=0, tzinfo=tz).isoformat(),
        far,
        st.sampled_from(OFFSETS),
    )


class Hostile:
    """One example: the values every operation gets this round."""

    def __init__(self, text: str, day: date, instant: str, deep: bytes) -> None:
        self.text, self.day, self.instant, self.deep = text, day.isoformat(), instant, deep


HOSTILE = st.builds(Hostile, hostile_text(), extreme_days(), extreme_instants(), deep_json())


# -- building requests from the document ---------------------------------------------------


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def body_for(doc: dict[str, Any], schema: dict[str, Any], h: Hostile, world: World) -> Any:
    """A body of the schema's shape with every free string, day and time made hostile."""
    schema = _resolve(doc, schema)
    options = schema.get("oneOf") or schema.get("anyOf")
    if options:
        real = [o for o in options if _resolve(doc, o).get("type") != "null"]
        return body_for(doc, real[0] if real else options[0], h, world)
    kind = schema.get("type")
    if "enum" in schema or "const" in schema:
        return schema.get("enum", [schema.get("const")])[0]
    if kind == "object":
        props = schema.get("properties", {})
        return {name: body_for(doc, prop, h, world) for name, prop in props.items()}
    if kind == "array":
        return [body_for(doc, schema.get("items", {}), h, world)]
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return world.ids["venue_a"]
        if fmt == "date":
            return h.day
        if fmt == "date-time":
            return h.instant
        return h.text
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 1.0)
    if kind == "boolean":
        return True
    return None


def documented(op: dict[str, Any], status: int) -> list[str] | None:
    """The codes an operation documents for a status (None: only ``default`` covers it)."""
    response = op["responses"].get(str(status))
    if response is None:
        return None
    media = response.get("content", {}).get("application/problem+json", {})
    return list((media.get("examples") or {}).keys())


def check(op: dict[str, Any], label: str, r: Any, findings: list[str]) -> None:
    if r.status_code >= 500:
        findings.append(f"{label}: {r.status_code} {r.text[:200]}")
        return
    if r.status_code < 400:
        return
    if not r.headers.get("content-type", "").startswith("application/problem+json"):
        findings.append(f"{label}: {r.status_code} not problem+json")
        return
    code = r.json().get("code")
    codes = documented(op, r.status_code)
    if codes is not None and code not in codes:
        findings.append(f"{label}: {r.status_code} {code} is not documented (has {codes})")


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(matrix key, method, OpenAPI path, operation) of every documented operation."""
    out = []
    for key in sorted(TABLE):
        method, template = key.split(" ", 1)
        path = re.sub(r":\w+\}", "}", template)
        op = doc["paths"].get(path, {}).get(method.lower())
        if op is not None and not path.startswith("/schema"):
            out.append((key, method, template, op))
    return out


def _url(template: str, h: Hostile, world: World) -> str:
    """The path with every text parameter the hostile text (percent-encoded, NUL and all)
    and every id one of A's (tests/api/test_authz_matrix.py PARAMS)."""
    params = {**PARAMS, **ROUTE_PARAMS.get(template, {})}

    def one(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if kind in {"str", "path"}:
            return quote(h.text, safe="")
        return params[name](world)

    return re.sub(r"\{(\w+)(?::(\w+))?\}", one, template)


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _hostile_params(op: dict[str, Any], h: Hostile) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in op.get("parameters", []):
        if p.get("in") != "query":
            continue
        schema = p.get("schema", {})
        parts = [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]
        formats = {str(x.get("format")) for x in parts}
        types = {t for x in parts for t in _listed(x.get("type"))}
        if "date" in formats:
            out[p["name"]] = h.day
        elif "date-time" in formats:
            out[p["name"]] = h.instant
        elif "string" in types and "uuid" not in formats and not any("enum" in x for x in parts):
            out[p["name"]] = h.text
    return out


async def _world(world: World) -> World:
    if "code_a" not in world.ids:
        await world.traveller("a", display_name="Traveller A")
        await world.traveller("b", display_name="Traveller B")
        await _objects_of_a(world)
    return world


async def _send_everywhere(client: Client, world: World, h: Hostile) -> tuple[list[str], int]:
    doc = (await client.get("/schema/openapi.json")).json()
    findings: list[str] = []
    sent = 0
    for key, method, template, op in _operations(doc):
        principal = principal_of(key)
        headers = {} if principal == "none" else world.auth(principal)
        label = f"{key} [{principal}]"
        params = {k: (v(world) if callable(v) else v) for k, v in TABLE[key].query.items()}
        hostile = _hostile_params(op, h)
        texts_in_path = re.search(r":(str|path)\}", template) is not None
        # an operation with nothing hostile to take (DELETE /v1/me, revoke, ...) is not sent
        if hostile or texts_in_path:
            r = await client.request(
                method, _url(template, h, world), params={**params, **hostile}, headers=headers
            )
            check(op, f"{label} hostile query/path", r, findings)
            sent += 1
        media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "schema" not in media:
            continue
        url = fill(template, world)
        json_headers = {**headers, "Content-Type": "application/json"}
        body = json.dumps(body_for(doc, media["schema"], h, world)).encode()
        r = await client.request(method, url, params=params, content=body, headers=json_headers)
        check(op, f"{label} hostile body", r, findings)
        r = await client.request(method, url, params=params, content=h.deep, headers=json_headers)
        check(op, f"{label} deep body", r, findings)
        sent += 2
        if r.status_code != 400 or r.json().get("code") != "request.too_deep":
            findings.append(f"{label} deep body: {r.status_code} {r.text[:160]}")
    return findings, sent


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(h=HOSTILE)
async def test_hostile_inputs_on_every_operation(client: Client, world: World, h: Hostile) -> None:
    await _world(world)
    findings, sent = await _send_everywhere(client, world, h)
    assert sent >= 60, sent  # every operation with something hostile to take
    assert not findings, "\n".join(findings[:40])


@settings(max_examples=200, deadline=None, database=None)
@given(body=deep_json(), text=hostile_text(), day=extreme_days(), instant=extreme_instants())
def test_the_strategies_make_what_they_say(body: bytes, text: str, day: date, instant: str) -> None:
    from onecode.http.bodies import nesting_depth_over

    assert nesting_depth_over(body)
    assert any(c in text for c in CONTROLS)
    assert not date(2000, 1, 1) <= day < date(2100, 1, 1)
    at = datetime.fromisoformat(instant)
    assert not datetime(2000, 1, 1, tzinfo=UTC) <= at < datetime(2100, 1, 1, tzinfo=UTC)
