"""The body decoder's depth scan against the real depth of generated JSON."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onecode.errors import BadRequest, Unprocessable
from onecode.http.bodies import (
    LATEST,
    MAX_DEPTH,
    clamp_instant,
    decode_body,
    nesting_depth_over,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text('[]{}"\\ab\n', max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text('[]{}"\\k', max_size=4), inner, max_size=3)
    ),
    max_leaves=60,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def nest(value: Any, levels: int) -> Any:
    for i in range(levels):
        value = [value] if i % 2 else {"k[": value}
    return value


@settings(max_examples=300, deadline=None)
@given(value=JSON, extra=st.integers(0, 40), limit=st.integers(1, 40))
def test_depth_scan_agrees_with_the_real_depth(value: Any, extra: int, limit: int) -> None:
    doc = nest(value, extra)
    raw = json.dumps(doc, ensure_ascii=False).encode()
    assert nesting_depth_over(raw, limit) == (depth(doc) > limit), raw


@pytest.mark.parametrize(
    "raw",
    [b"[" * 5000, b"]" * 50 + b"[" * 50, b"[" * 40 + b"]" * 10, b'"' + b"[" * 100, b"{" * 100],
)
def test_malformed_deep_text_is_too_deep_or_left_to_the_decoder(raw: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_body(raw, Any)
    assert caught.value.code in {"request.too_deep", "request.invalid"}


def test_a_large_shallow_batch_scans_fast() -> None:
    item = {"scan_id": "x" * 36, "code": "TQ1:" + "A" * 200, "reason": "ok", "n": 1}
    raw = msgspec.json.encode({"scans": [item] * 5000})  # ~1.4 MB, the batch's size
    started = time.perf_counter()
    assert not nesting_depth_over(raw)
    # measured ~10 ms quiet; the bound only catches a quadratic scan (minutes), not load
    assert time.perf_counter() - started < 10.0


def test_hostile_depth_is_cheap() -> None:
    raw = b"[" * 2_000_000 + b"]" * 2_000_000
    started = time.perf_counter()
    assert nesting_depth_over(raw)
    # ~0.3 s quiet, 5 s seen with the machine shared by eight test runs; a scan that
    # grew with the depth instead of stopping at the limit would take hours
    assert time.perf_counter() - started < 60.0


class Thing(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    at: datetime


def test_values_are_checked_with_their_public_path() -> None:
    with pytest.raises(Unprocessable) as caught:
        decode_body(b'{"name": "a\\u0000", "at": "2030-01-01T00:00:00Z"}', list[Thing] | Thing)
    assert caught.value.code == "request.control_character"
    with pytest.raises(Unprocessable) as caught:
        decode_body(b'[{"name": "a", "at": "9999-01-01T00:00:00Z"}]', list[Thing])
    assert caught.value.errors == [
        {
            "field": "[0].at",
            "code": "request.date_out_of_range",
            "message": "`[0].at` must be between 2000-01-01 and 2099-12-31.",
        }
    ]
    assert decode_body(b"[]", list[Thing]) == []
    assert MAX_DEPTH >= 8


def test_clamp_keeps_instants_storable() -> None:
    assert clamp_instant(datetime(9999, 12, 31, tzinfo=UTC)) < LATEST
    assert clamp_instant(datetime(2030, 1, 1, tzinfo=UTC)) == datetime(2030, 1, 1, tzinfo=UTC)
