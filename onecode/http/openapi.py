"""The OpenAPI document says what errors really look like.

Litestar documents its own validation error shape (``application/json`` with
``status_code``/``detail``/``extra``); onecode answers every error as RFC 9457
``application/problem+json`` (see onecode/errors.py). After the app is built, every
operation's error responses are replaced by the ``Problem`` schema, and a ``default``
response covers the refusals any route can give (401, 403, 404, 413, 429, 503).
"""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import Components, OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

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

_OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _problem(description: str) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description,
        content={PROBLEM_JSON: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))},
    )


def document_problems(app: Litestar) -> None:
    """Rewrite the app's OpenAPI document so every error response is a Problem."""
    openapi = app.openapi_schema  # built once here, cached and served by Litestar
    if openapi.components is None:
        openapi.components = Components()
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["Problem"] = PROBLEM_SCHEMA
    for path_item in (openapi.paths or {}).values():
        for name in _OPERATIONS:
            operation = getattr(path_item, name, None)
            if operation is None:
                continue
            responses = dict(operation.responses or {})
            for status in list(responses):
                if status[:1] in {"4", "5"}:
                    responses[status] = _problem(f"Refused ({status}); see `code`.")
            responses["default"] = _problem(
                "Any refusal: 400 bad input, 401/403 token, 404 unknown or outside the "
                "caller's scope, 413 too large, 429 rate limited, 503 database unavailable."
            )
            operation.responses = responses
