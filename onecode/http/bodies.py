"""The one request-body decoder, and the bounds every input keeps.

Every route that takes ``data: JSONBody[Model]`` gets its body from :func:`decode_body`
through :class:`JsonRequest` (the app's request class), once:

1. a body that is not JSON is refused with a sentence (a form gets 415, an empty body 400);
2. nesting deeper than :data:`MAX_DEPTH` is refused *before* decoding (``request.too_deep``;
   1,000 levels of ``[`` used to end in a RecursionError);
3. the body is decoded into ``Model`` **strictly**: ``"2"`` is not an integer and
   ``"true"`` not a boolean (Litestar's own conversion is lax, ``strict=False``);
4. every text field refuses control characters (NUL, C0, DEL, C1; single-line fields
   also line breaks): 422 ``request.control_character``; a field marked
   :data:`MULTILINE` keeps ``\\n``, ``\\r`` and ``\\t``;
5. every date and time is within :data:`EARLIEST` .. :data:`LATEST` (422
   ``request.date_out_of_range``): year 9999 overflowed Python's and PostgreSQL's types.
   A field marked :data:`DEVICE_CLOCK` (a gate's clock reading) is judged by its
   service instead, which answers a wrong clock in its own words (``scans.bad_time``,
   or one batch item ``rejected``: a batch is not refused for one gate's wrong clock).

Query parameters that are days or instants are held to the same bounds, with the same
code, by :func:`bound_query_dates` (the app's ``before_request`` hook, run before
Litestar parses the parameters): every route, with no call in its handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar, get_args

import msgspec
import msgspec.inspect as mi
from litestar import Request
from litestar.types import Empty

from onecode.errors import BadRequest, Unprocessable, UnsupportedMediaType

T = TypeVar("T")

#: No onecode body nests deeper than 4; 16 leaves room, stops a stack blow-up cold, and
#: bounds the scan: a hostile 2 MB body costs at most 16 passes of `bytes.replace`.
MAX_DEPTH = 16
#: Days and instants outside this range are refused (2000-01-01 to 2099-12-31 UTC).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
#: ``Annotated[str, MULTILINE]`` marks free text that may hold line breaks and tabs.
MULTILINE = msgspec.Meta(extra={"multiline": True})
#: ``Annotated[datetime, DEVICE_CLOCK]`` marks a device's clock reading: any instant
#: decodes, and the service must bound it (see :func:`clamp_instant` for storing one).
DEVICE_CLOCK = msgspec.Meta(extra={"device_clock": True})

_SINGLE_LINE_BAD = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MULTILINE_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ESCAPES = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_TO_SQUARE = bytes.maketrans(b"{}", b"[]")
_RANGE_TEXT = "2000-01-01 and 2099-12-31"


# -- depth ---------------------------------------------------------------------------------


def nesting_depth_over(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests arrays/objects deeper than ``limit``.

    Escapes go first, then everything but quotes and brackets (``bytes.translate``), then
    the strings (a ``[`` inside one is text). Each pass then removes the innermost ``[]``
    pairs (``bytes.replace``): a body ``d`` deep takes ``d`` passes, a hostile one at most
    ``limit``. All of it runs at C speed; malformed text is judged here by depth only
    (the decoder refuses it next).
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    if b"\\" in raw:
        raw = _ESCAPES.sub(b"", raw)
    # outside strings are the even pieces between quotes (escapes are gone already)
    brackets = b"".join(raw.translate(_TO_SQUARE, _NOT_STRUCTURE).split(b'"')[::2])
    if b"[" * (limit + 1) in brackets:  # the usual attack: a run of openers
        return True
    for passes in range(limit):
        shorter = brackets.replace(b"[]", b"")
        if not shorter:
            return False
        if len(shorter) == len(brackets):
            # nothing closes any more: what is left opens at most its count of "[" more
            return shorter.count(b"[") > limit - passes
        brackets = shorter
    return True


# -- the values of a decoded body ----------------------------------------------------------

Finding = dict[str, str]
Check = Callable[[Any, str, list[Finding]], None]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _text_check(multiline: bool) -> Check:
    bad = _MULTILINE_BAD if multiline else _SINGLE_LINE_BAD
    allowed = " (line breaks and tabs are allowed here)" if multiline else ""

    def check(value: Any, path: str, out: list[Finding]) -> None:
        if isinstance(value, str) and (found := bad.search(value)):
            out.append(
                {
                    "field": path,
                    "code": "request.control_character",
                    "message": f"`{path}` contains the control character "
                    f"U+{ord(found.group()):04X}, which text may not hold{allowed}.",
                }
            )

    return check


def _instant_check(value: Any, path: str, out: list[Finding]) -> None:
    if isinstance(value, datetime) and not _instant_ok(value):
        out.append(_out_of_range(path))


def _day_check(value: Any, path: str, out: list[Finding]) -> None:
    if isinstance(value, date) and not _day_ok(value):
        out.append(_out_of_range(path))


def _out_of_range(path: str) -> Finding:
    return {
        "field": path,
        "code": "request.date_out_of_range",
        "message": f"`{path}` must be between {_RANGE_TEXT}.",
    }


def _instant_ok(value: datetime) -> bool:
    if value.tzinfo is None:
        return EARLIEST.replace(tzinfo=None) <= value < LATEST.replace(tzinfo=None)
    try:
        return EARLIEST <= value < LATEST
    except OverflowError:  # pragma: no cover - comparison converts to UTC first
        return False


def _day_ok(value: date) -> bool:
    return EARLIEST.date() <= value < LATEST.date()


def _sequence(item: Check) -> Check:
    def check(value: Any, path: str, out: list[Finding]) -> None:
        if not isinstance(value, list | tuple | set | frozenset):
            return
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]", out)

    return check


def _plan(t: mi.Type, multiline: bool = False, text: bool = True) -> Check | None:
    """A checker for values of type ``t`` (None: nothing in it can break a rule);
    ``text=False`` checks days and times only (the body holds no control character)."""
    if isinstance(t, mi.Metadata):
        extra = t.extra or {}
        if extra.get("device_clock"):
            return None
        return _plan(t.type, multiline or bool(extra.get("multiline")), text)
    if isinstance(t, mi.StrType):
        return _text_check(multiline) if text else None
    if isinstance(t, mi.DateTimeType):
        return _instant_check
    if isinstance(t, mi.DateType):
        return _day_check
    if isinstance(t, mi.StructType):
        fields = [(f.name, f.encode_name, c) for f in t.fields if (c := _plan(f.type, False, text))]
        if not fields:
            return None

        cls = t.cls

        def struct(value: Any, path: str, out: list[Finding]) -> None:
            if not isinstance(value, cls):
                return
            for name, public, check in fields:
                check(getattr(value, name), _join(path, public), out)

        return struct
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        item = _plan(t.item_type, multiline, text)
        return _sequence(item) if item else None
    if isinstance(t, mi.TupleType):
        items = [_plan(x, multiline, text) for x in t.item_types]
        if not any(items):
            return None

        def fixed(value: Any, path: str, out: list[Finding]) -> None:
            if not isinstance(value, list | tuple):
                return
            for i, (element, check) in enumerate(zip(value, items, strict=True)):
                if check:
                    check(element, f"{path}[{i}]", out)

        return fixed
    if isinstance(t, mi.DictType):
        key, val = _plan(t.key_type, False, text), _plan(t.value_type, multiline, text)
        if not (key or val):
            return None

        def mapping(value: Any, path: str, out: list[Finding]) -> None:
            if not isinstance(value, dict):
                return
            for k, v in value.items():
                if key:
                    key(k, f"{path}{{key}}", out)
                if val:
                    val(v, f"{path}[{k!r}]", out)

        return mapping
    if isinstance(t, mi.UnionType):
        members = [c for x in t.types if (c := _plan(x, multiline, text))]
        if not members:
            return None

        def union(value: Any, path: str, out: list[Finding]) -> None:
            # each member checks only values of its own type (isinstance inside)
            for check in members:
                check(value, path, out)

        return union
    return None


def _rules(t: mi.Type, out: set[str], seen: set[type]) -> None:
    if isinstance(t, mi.Metadata):
        if not (t.extra or {}).get("device_clock"):
            _rules(t.type, out, seen)
    elif isinstance(t, mi.StrType):
        out.add("request.control_character")
    elif isinstance(t, mi.DateTimeType | mi.DateType):
        out.add("request.date_out_of_range")
    elif isinstance(t, mi.StructType):
        if t.cls not in seen:
            seen.add(t.cls)
            for f in t.fields:
                _rules(f.type, out, seen)
    elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        _rules(t.item_type, out, seen)
    elif isinstance(t, mi.TupleType | mi.UnionType):
        for x in t.item_types if isinstance(t, mi.TupleType) else t.types:
            _rules(x, out, seen)
    elif isinstance(t, mi.DictType):
        _rules(t.key_type, out, seen)
        _rules(t.value_type, out, seen)


def body_rules(model: Any) -> set[str]:
    """The 422 codes :func:`check_values` can give for a body of type ``model``."""
    out: set[str] = set()
    _rules(mi.type_info(model), out, set())
    return out


@lru_cache(maxsize=512)
def _checker(model: Any, text: bool = True) -> Check | None:
    return _plan(mi.type_info(model), text=text)


# What can become a control character inside a JSON string: an escape (``\u0000``,
# ``\n``, ...), or DEL, C1 and U+2028/9, which JSON allows unescaped. Raw C0 bytes are
# not JSON at all (the decoder refuses them). A body with none of these holds no control
# character, and its text need not be walked (a 5,000-scan batch: ~15 ms saved).
_MAY_HOLD_CONTROLS = re.compile(rb"\\[ux0nrtbf]|\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


def check_values(value: Any, model: Any, raw: bytes | None = None) -> None:
    """Refuse control characters in text and days/instants out of range (422)."""
    text = raw is None or _MAY_HOLD_CONTROLS.search(raw) is not None
    check = _checker(model, text)
    if check is None:
        return
    findings: list[Finding] = []
    check(value, "", findings)
    if findings:
        first = findings[0]
        raise Unprocessable(first["message"], first["code"], errors=findings)


# -- the decoder ---------------------------------------------------------------------------


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def decode_body(raw: bytes, model: Any, *, content_type: str = "application/json") -> Any:
    """The body as ``model``, by every rule of this module (400/415/422 otherwise)."""
    if not raw.strip():
        raise BadRequest(
            "The request has no body; send a JSON object (Content-Type: application/json).",
            "request.invalid",
        )
    if nesting_depth_over(raw):
        raise BadRequest(
            f"The JSON body nests deeper than {MAX_DEPTH} levels; no onecode body is that deep.",
            "request.too_deep",
        )
    try:
        value = msgspec.json.decode(raw, type=model, strict=True)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"{exc}.".replace("..", "."), "request.invalid") from None
    except msgspec.DecodeError:
        if content_type and not _is_json(content_type):
            raise UnsupportedMediaType(
                f"The body must be JSON sent as Content-Type: application/json; "
                f"a {content_type} body is not read.",
                "request.unsupported_media_type",
            ) from None
        raise BadRequest("The body is not valid JSON.", "request.invalid") from None
    check_values(value, model, raw)
    return value


def _date_kind(annotation: Any) -> type | None:
    """``datetime`` or ``date`` if a parameter's type is one (optional or not)."""
    if annotation in (datetime, date):
        return annotation  # type: ignore[no-any-return]
    for arg in get_args(annotation):
        if (kind := _date_kind(arg)) is not None:
            return kind
    return None


@lru_cache(maxsize=1024)
def _query_dates(handler: Any) -> tuple[tuple[str, type], ...]:
    """(query name, date or datetime) of every query parameter a handler (or one of its
    dependencies) reads as a day or an instant."""
    from litestar.params import ParameterKwarg

    models = [handler.signature_model]
    models += [
        p.signature_model
        for p in handler.resolve_dependencies().values()
        if getattr(p, "signature_model", None)
    ]
    out: list[tuple[str, type]] = []
    for model in models:
        for name, field in getattr(model, "_fields", {}).items():
            kind = _date_kind(field.annotation)
            kwarg = field.kwarg_definition
            if kind is None:
                continue
            if isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie):
                continue
            alias = (kwarg.name or kwarg.query) if isinstance(kwarg, ParameterKwarg) else None
            out.append((alias or name, kind))
    return tuple(out)


async def bound_query_dates(request: Request[Any, Any, Any]) -> None:
    """``before_request``, for every route before Litestar parses its parameters:

    - a control character in any query or text path parameter is 422
      ``request.control_character`` (a NUL reached PostgreSQL as a 500);
    - a day or instant in the query outside the bounds is 422
      ``request.date_out_of_range`` (one the parser cannot read is left to its 400).
    """
    for name, texts in request.query_params.dict().items():
        for text in texts:
            _refuse_controls(text, name, "query")
    for name, param in request.path_params.items():
        if isinstance(param, str):
            _refuse_controls(param, name, "path")
    for name, kind in _query_dates(request.route_handler):
        if name in request.path_params:
            continue
        for raw in request.query_params.getall(name, []):
            try:
                value: date = msgspec.convert(raw, kind)
            except msgspec.ValidationError:
                continue
            if isinstance(value, datetime):
                check_instant(value, name)
            else:
                check_day(value, name)


def _refuse_controls(value: str, name: str, source: str) -> None:
    if found := _SINGLE_LINE_BAD.search(value):
        raise Unprocessable(
            f"The {source} parameter `{name}` contains the control character "
            f"U+{ord(found.group()):04X}, which no parameter may hold.",
            "request.control_character",
            errors=[{"field": name, "source": source, "code": "request.control_character"}],
        )


def check_day(value: date | None, name: str) -> None:
    """A day from a query parameter (``from``, ``to``, ``date``) within the bounds."""
    if value is not None and not _day_ok(value):
        raise Unprocessable(_out_of_range(name)["message"], "request.date_out_of_range")


def check_instant(value: datetime | None, name: str) -> None:
    """An instant from a query parameter (``before``) within the bounds."""
    if value is not None and not _instant_ok(value):
        raise Unprocessable(_out_of_range(name)["message"], "request.date_out_of_range")


def clamp_instant(value: datetime) -> datetime:
    """``value`` moved into the bounds (a refused device reading, kept as a record)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return min(max(value, EARLIEST), LATEST - timedelta(microseconds=1))


@lru_cache(maxsize=1024)
def _body_model(handler: Any) -> Any:
    field = handler.parsed_fn_signature.parameters.get("data")
    return Any if field is None else field.annotation


class JsonRequest(Request[Any, Any, Any]):
    """The app's request class: ``request.json()`` (what Litestar fills ``data`` from)
    is :func:`decode_body` into the handler's ``data`` type. Litestar then converts the
    already-typed value again, which passes a Struct through unchanged."""

    async def json(self) -> Any:
        if self._json is not Empty:
            return self._json
        model = _body_model(self.route_handler)
        value = decode_body(
            await self.body(),
            model,
            content_type=self.content_type[0],
        )
        self._json = self._connection_state.json = value
        return value
