"""The one check that an answer is an RFC 9457 problem (onecode/errors.py)."""

from __future__ import annotations

from typing import Any

from httpx import Response


def assert_problem(r: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """``r`` is ``application/problem+json`` with this status (and stable ``code``, if
    given); returns the body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body), body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return dict(body)
