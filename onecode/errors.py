"""The error tree and the one handler that renders it as problem+json (RFC 9457).

    AppError                      any refusal onecode means to give
    ├── BadRequest        400     malformed input (``request.invalid``)
    ├── Unauthorized      401     no or unknown bearer token
    ├── Forbidden         403     known principal, not allowed
    ├── NotFound          404     unknown id, or one outside the caller's scope
    ├── Conflict          409     the state forbids it (``bookings.slot_full``)
    ├── PayloadTooLarge   413     body or batch over its limit
    ├── UnsupportedMediaType 415  a body that is not JSON (a form)
    ├── Unprocessable     422     well-formed but against the rules
    ├── TooManyRequests   429     rate limit, with ``Retry-After``
    └── Unavailable       503     the database does not answer

Every error carries a stable machine ``code`` clients switch on.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import asyncpg
import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from onecode import i18n

log = logging.getLogger("onecode.errors")

PROBLEM_JSON = "application/problem+json"


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem document with onecode's stable ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


class AppError(Exception):
    """A refusal with an HTTP status and a stable machine code."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    default_code: ClassVar[str] = "request.invalid"

    def __init__(
        self,
        detail: str,
        code: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.errors = errors
        self.headers = headers or {}


class BadRequest(AppError):
    status, title, default_code = 400, "Bad request", "request.invalid"


class Unauthorized(AppError):
    status, title, default_code = 401, "Unauthorized", "auth.unauthorized"


class Forbidden(AppError):
    status, title, default_code = 403, "Forbidden", "auth.forbidden"


class NotFound(AppError):
    status, title, default_code = 404, "Not found", "not_found"


class Conflict(AppError):
    status, title, default_code = 409, "Conflict", "conflict"


class PayloadTooLarge(AppError):
    status, title, default_code = 413, "Payload too large", "request.too_large"


class UnsupportedMediaType(AppError):
    status, title, default_code = 415, "Unsupported media type", "request.unsupported_media_type"


class Unprocessable(AppError):
    status, title, default_code = 422, "Unprocessable content", "request.unprocessable"


class TooManyRequests(AppError):
    status, title, default_code = 429, "Too many requests", "rate_limited"


class Unavailable(AppError):
    status, title, default_code = 503, "Service unavailable", "service.unavailable"


_HTTP_CODES = {
    400: "request.invalid",
    401: "auth.unauthorized",
    403: "auth.forbidden",
    404: "not_found",
    405: "request.method_not_allowed",
    406: "request.not_acceptable",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    429: "rate_limited",
}


def problem_response(
    status: int,
    title: str,
    detail: str,
    code: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    locale: str | None = None,
) -> Response[bytes]:
    """A problem+json answer; ``title`` and ``detail`` in the request's language when
    the catalogs have ``code`` (``locale``, else the one the error handler negotiated)."""
    title, detail = localize(code, title, detail, locale)
    body = Problem(
        type=f"https://onecode.dev/problems/{code}",
        title=title,
        status=status,
        detail=detail,
        code=code,
        errors=errors,
    )
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def localize(code: str, title: str, detail: str, locale: str | None = None) -> tuple[str, str]:
    """Title and detail of ``code`` from the message catalog of ``locale`` (default: the
    language of the request being answered, else English); unchanged without an entry."""
    found = i18n.problem_text(code, locale or i18n.CURRENT.get() or i18n.API_DEFAULT, detail)
    return found if found is not None else (title, detail)


def request_locale(request: Request[Any, Any, Any]) -> str:
    """The language a request asks for (``Accept-Language``), English by default."""
    return i18n.negotiate(request.headers.get("accept-language"))


def _public_names(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Python parameter name -> the name a client sends (``start`` -> ``from``), over the
    handler's parameters and its dependencies' (Litestar reports the Python name)."""
    from litestar.params import ParameterKwarg

    names: dict[str, str] = {}
    try:
        handler = request.route_handler
        models = [handler.signature_model]
        models += [
            p.signature_model
            for p in handler.resolve_dependencies().values()
            if getattr(p, "signature_model", None)
        ]
    except Exception:  # no handler (404 before routing): nothing to rename
        return names
    for model in models:
        for name, field in getattr(model, "_fields", {}).items():
            kwarg = field.kwarg_definition
            if isinstance(kwarg, ParameterKwarg):
                names[name] = kwarg.name or kwarg.query or kwarg.header or kwarg.cookie or name
    return names


def _field_errors(extra: Any, names: dict[str, str] | None = None) -> list[dict[str, Any]] | None:
    if not isinstance(extra, list):
        return None
    names = names or {}
    out: list[dict[str, Any]] = []
    for item in extra:
        if isinstance(item, dict):
            entry: dict[str, Any] = {}
            for k, v in item.items():
                text = str(getattr(v, "value", v))  # ParamType.QUERY -> "query"
                entry[str(k)] = names.get(text, text) if k == "key" else text
            if entry.get("key") == "data" and entry.get("source") == "body":
                # Litestar's words for a request without a body are "'data'"
                entry["key"] = "body"
                entry["message"] = (
                    "The request has no body; send a JSON object (Content-Type: application/json)."
                )
            out.append(entry)
    return out or None


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The single exception handler: every error leaves as problem+json."""
    i18n.CURRENT.set(request_locale(request))  # this request's task only
    if isinstance(exc, AppError):
        return problem_response(
            exc.status, exc.title, exc.detail, exc.code, errors=exc.errors, headers=exc.headers
        )
    if isinstance(exc, ValidationException):
        errors = _field_errors(exc.extra, _public_names(request))
        fields = ", ".join(str(e.get("key", "")) for e in errors or [] if e.get("key"))
        detail = exc.detail or "Validation failed"
        if errors:
            detail = "; ".join(str(e.get("message", "")) for e in errors if e.get("message"))
        if fields and fields not in detail:
            detail = f"{detail} (field: {fields})"
        return problem_response(400, "Bad request", detail, "request.invalid", errors=errors)
    if isinstance(exc, HTTPException) and exc.detail == "client disconnected prematurely":
        # the client hung up mid-body (a load generator stopping, a phone losing signal):
        # nothing failed on our side and nobody reads the answer
        log.info("client disconnected before its request body was read")
        return problem_response(499, "Client closed request", exc.detail, "request.client_closed")
    if isinstance(exc, HTTPException):
        status = exc.status_code
        if status >= 500:
            log.error("http exception %s on %s", status, request.scope.get("path"))
        code = _HTTP_CODES.get(status, f"http.{status}")
        return problem_response(
            status,
            _title(status),
            exc.detail or _title(status),
            code,
            headers=dict(exc.headers or {}),
        )
    if _is_database_down(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem_response(
            503,
            "Service unavailable",
            "The database does not answer; try again shortly.",
            "service.unavailable",
            headers={"Retry-After": "2"},
        )
    log.exception("unhandled error on %s %s", request.method, request.scope.get("path"))
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal server error",
        "An unexpected error occurred.",
        "internal",
    )


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _is_database_down(exc: BaseException) -> bool:
    return isinstance(
        exc,
        (
            OSError,
            TimeoutError,
            asyncpg.exceptions.CannotConnectNowError,
            asyncpg.exceptions.ConnectionDoesNotExistError,
            asyncpg.exceptions.InterfaceError,
            asyncpg.exceptions.AdminShutdownError,
            asyncpg.exceptions.CrashShutdownError,
            asyncpg.exceptions.TooManyConnectionsError,
        ),
    )


__all__ = [
    "PROBLEM_JSON",
    "AppError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "MediaType",
    "NotFound",
    "PayloadTooLarge",
    "Problem",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "UnsupportedMediaType",
    "handle_exception",
    "localize",
    "problem_response",
    "request_locale",
]
