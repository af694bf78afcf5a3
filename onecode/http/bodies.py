"""Strict request bodies: Litestar converts ``JSONBody`` with ``strict=False`` (so ``"5"``
would pass as a rating of 5); handlers that care decode the cached body again strictly.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request

from onecode.errors import BadRequest

T = TypeVar("T")


async def strict_body(request: Request[Any, Any, Any], model: type[T]) -> T:
    """The body decoded without type coercion; anything else is a 400 ``request.invalid``."""
    try:
        return msgspec.json.decode(await request.body(), type=model)
    except msgspec.ValidationError as exc:
        raise BadRequest(str(exc), "request.invalid") from None
    except msgspec.DecodeError:
        raise BadRequest("The body is not valid JSON.", "request.invalid") from None
