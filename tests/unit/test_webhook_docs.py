"""The receiver example of docs/webhooks.md works: it accepts what onecode signs, once per
webhook-id, and refuses a wrong signature."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onecode.webhooks.signing import new_secret, sign_headers

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _example() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks, "docs/webhooks.md has no python example"
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102 (our own docs)
    return namespace


def test_the_documented_receiver_verifies_and_deduplicates() -> None:
    example = _example()
    handle: Callable[[str, bytes, dict[str, str]], int] = example["handle"]
    secret = new_secret()
    body = '{"type":"venue.level_changed","timestamp":"2026-12-03T10:00:00Z",'
    body += '"data":{"level":"red","venue_id":"v"}}'
    headers = sign_headers("msg_1", body, [secret])
    assert handle(secret, body.encode(), headers) == 204
    assert example["seen"] == {"msg_1"}
    assert handle(secret, body.encode(), headers) == 204  # a retry: handled once
    assert handle(new_secret(), body.encode(), headers) == 400
    assert handle(secret, body.replace("red", "green").encode(), headers) == 400
    # during a rotation both secrets sign; the receiver with either one accepts
    old, new = new_secret(), new_secret()
    both = sign_headers("msg_2", body, [new, old])
    assert handle(old, body.encode(), both) == 204
