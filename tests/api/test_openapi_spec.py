"""The OpenAPI document, across the whole spec: a client can be built from it.

Security (bearer, per operation, matching the authorization matrix), a summary and a
description for every operation, every refusal documented with its problem codes, and
every problem code in the source documented on some operation. The docs page loads
nothing from another host.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.api.test_authz_matrix import TABLE
from tests.support.apps import Client

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "post", "put", "patch", "delete"}
ERRORS = (
    "BadRequest|Unauthorized|Forbidden|NotFound|Conflict|PayloadTooLarge|Unprocessable|"
    "TooManyRequests|Unavailable|UnsupportedMediaType"
)
# Error(..., "code") with a literal code, over one or more lines
RAISED = re.compile(rf"\b(?:{ERRORS})\(\s*(?:[^()]|\([^()]*\))*?,\s*\"([a-z_]+\.[a-z_]+)\"", re.S)
SQL_CODE = re.compile(r"'code',\s*'([a-z_]+\.[a-z_]+)'")
# (Error, "code", ...) in a table of outcomes (onecode/bookings/outcomes.py, operations/slots)
TABLED = re.compile(rf"\(\s*(?:{ERRORS}),\s*\"([a-z_]+\.[a-z_]+)\"")


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def codes_of(response: dict[str, Any]) -> list[str]:
    """The problem codes a response documents: one example each."""
    media = response["content"]["application/problem+json"]
    assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
    examples = media.get("examples") or {}
    for code, example in examples.items():
        assert example["value"]["code"] == code
    return list(examples)


def matrix_key(method: str, path: str) -> str | None:
    """The authorization matrix's key of an OpenAPI operation (paths carry types there)."""
    for key in TABLE:
        m, template = key.split(" ", 1)
        if m.lower() == method and re.sub(r":\w+\}", "}", template) == path:
            return key
    return None


async def spec(client: Client) -> dict[str, Any]:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


async def test_bearer_security_on_every_operation_as_the_matrix_says(client: Client) -> None:
    doc = await spec(client)
    scheme = doc["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for method, path, op in operations(doc):
        key = matrix_key(method, path)
        assert key is not None, (method, path)
        public = TABLE[key].who is None
        assert op["security"] == ([] if public else [{"bearer": []}]), (method, path)
        if not public:
            kinds = TABLE[key].who or frozenset()
            for kind in kinds:
                assert f"`{kind}`" in op["description"], (method, path, kind)


async def test_every_operation_has_its_own_summary_and_a_description(client: Client) -> None:
    doc = await spec(client)
    summaries: dict[str, str] = {}
    for method, path, op in operations(doc):
        label = f"{method.upper()} {path}"
        summary = op.get("summary", "")
        # not a handler's name turned into words ("Od", "Rotate", "CreateScan")
        assert len(summary.split()) >= 2, (label, summary)
        assert not re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z]+)*", summary), (label, summary)
        assert summary not in summaries, f"{label} and {summaries.get(summary)}: {summary!r}"
        summaries[summary] = label
        assert len(op.get("description", "")) > len(summary), label
        assert "**Callers:**" in op["description"], label


async def test_every_refusal_is_documented_with_its_codes(client: Client) -> None:
    doc = await spec(client)
    for method, path, op in operations(doc):
        label = f"{method.upper()} {path}"
        responses = op["responses"]
        assert any(s[0] == "2" for s in responses), label
        assert "503" in responses and "service.unavailable" in codes_of(responses["503"])
        guarded = op["security"] != []
        assert ("401" in responses) == guarded, label
        assert ("403" in responses) == guarded, label
        if guarded:
            assert "auth.missing_token" in codes_of(responses["401"]), label
        body = "requestBody" in op
        if body:
            assert "request.too_deep" in codes_of(responses["400"]), label
            assert {"413", "415"} <= set(responses), label
        for status, response in responses.items():
            if status == "default":
                continue
            if status[0] in "45":
                codes = codes_of(response)
                assert codes, (label, status)
                assert all(c in response["description"] for c in codes), (label, status)
                assert len(codes) == len(set(codes)), (label, status)
        dates = [
            p
            for p in op.get("parameters", [])
            if "date" in str(p.get("schema", {}).get("format", ""))
            or any("date" in str(s.get("format", "")) for s in p.get("schema", {}).get("oneOf", []))
        ]
        if dates:
            assert "request.date_out_of_range" in codes_of(responses["422"]), label


async def test_every_problem_code_in_the_source_is_documented(client: Client) -> None:
    doc = await spec(client)
    documented = {
        code
        for _, _, op in operations(doc)
        for status, response in op["responses"].items()
        if status[0] in "45"
        for code in codes_of(response)
    }
    raised: dict[str, str] = {}
    for file in sorted((ROOT / "onecode").rglob("*.py")):
        text = file.read_text(encoding="utf-8")
        for code in RAISED.findall(text) + TABLED.findall(text):
            raised.setdefault(code, str(file.relative_to(ROOT)))
    for file in sorted((ROOT / "sql" / "functions").glob("*.sql")):
        for code in SQL_CODE.findall(file.read_text(encoding="utf-8")):
            raised.setdefault(code, str(file.relative_to(ROOT)))
    assert len(raised) > 40, sorted(raised)
    missing = {code: where for code, where in raised.items() if code not in documented}
    assert not missing, (
        "problem codes raised but documented on no operation; add them to ROUTE_PROBLEMS "
        f"in onecode/http/openapi.py: {missing}"
    )


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


async def test_the_docs_page_loads_nothing_from_another_host(client: Client) -> None:
    for page in ("/schema", "/schema/swagger"):
        r = await client.get(page)
        assert r.status_code == 200, page
        assert r.headers["content-type"].startswith("text/html")
        html = r.text
        assert "SwaggerUIBundle" in html
        parser = _Links()
        parser.feed(html)
        assert len(parser.urls) >= 4, parser.urls  # css, two scripts, icon
        for url in parser.urls:
            assert url.startswith("/") and not url.startswith("//"), (page, url)
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 100, url
        # no host in the page at all, apart from the document's own text
        assert not re.search(r"(?:src|href)=[\"']?(?:https?:)?//", html), page
        assert "validatorUrl: null" in html
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "http" not in csp


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _success_schema(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    for status, response in op["responses"].items():
        if status[0] == "2" and "application/json" in response.get("content", {}):
            return _resolve(doc, response["content"]["application/json"]["schema"])
    return None


# answers that hold lists but are documents, not lists of one thing
NOT_LISTS = {
    "GET /v1/gate/pack": "the offline sync pack: keys, revocations and entitlements, as deltas",
    "GET /v1/venues/{venue_id}/lotteries/{lottery_id}/draw": "the audit of one draw",
    "GET /v1/alerts": "a region's board: each venue's level now, and the recent alerts",
}


async def test_every_list_answers_items_and_next_cursor(client: Client) -> None:
    doc = await spec(client)
    lists = 0
    for method, path, op in operations(doc):
        schema = _success_schema(doc, op)
        if schema is None:
            continue
        label = f"{method.upper()} {path}"
        assert schema.get("type") != "array", f"{label} answers a bare array"
        properties = schema.get("properties", {})
        arrays = [
            name
            for name, prop in properties.items()
            if _resolve(doc, prop).get("type") == "array"
            and _resolve(doc, _resolve(doc, prop).get("items", {})).get("type") == "object"
            and not _resolve(doc, prop).get("deprecated")
        ]
        names = {p["name"] for p in op.get("parameters", [])}
        paged = bool(names & {"cursor", "limit"}) or path.startswith(("/v1/venues", "/v1/keys"))
        if method == "get" and paged and arrays and label not in NOT_LISTS:
            lists += 1
            assert "items" in properties and "next_cursor" in properties, (
                label,
                sorted(properties),
            )
        for name, prop in properties.items():
            if _resolve(doc, prop).get("deprecated"):
                assert "items" in properties, (label, name)
    assert lists >= 12, lists


async def test_every_principal_creation_answers_its_token(client: Client) -> None:
    doc = await spec(client)
    for path in (
        "/v1/travellers",
        "/v1/admin/operators",
        "/v1/admin/planners",
        "/v1/admin/venues/{venue_id}/gates",
    ):
        schema = _success_schema(doc, doc["paths"][path]["post"])
        assert schema is not None and "token" in schema["properties"], path
        assert "token" in schema.get("required", []), path
    r = await client.post("/v1/travellers", json={})
    body = r.json()
    assert body["token"] == body["access_token"]


async def test_scan_reasons_are_an_enum_in_the_document(client: Client) -> None:
    from onecode.gates.rules import ScanReason

    doc = await spec(client)
    schemas = doc["components"]["schemas"]
    for name, field in (("ScanResult", "reason"), ("UploadItem", "reason")):
        prop = _resolve(doc, schemas[name]["properties"][field])
        options = [_resolve(doc, p) for p in prop.get("oneOf", [prop])]
        enums = [o["enum"] for o in options if "enum" in o]
        assert enums and set(enums[0]) == {r.value for r in ScanReason}, (name, prop)
