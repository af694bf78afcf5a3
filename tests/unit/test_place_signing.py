"""Signed place codes and paging cursors, without a database."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest

from onecode.codes.place import CODE_LEN, PlaceKeys, is_legacy
from onecode.errors import BadRequest
from onecode.http.paging import decode_cursor, encode_cursor

KEYS = PlaceKeys({1: b"k" * 32})
VENUE = uuid.UUID("8f0c6a38-52a3-4c61-9d3c-0d4f3c1c2b11")


def test_sign_and_verify_round_trip() -> None:
    code = KEYS.sign(VENUE, 3)
    assert len(code) == CODE_LEN
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")  # QR alphanumeric mode
    assert KEYS.verify(code) == (VENUE, 3)
    assert KEYS.verify(code.lower()) == (VENUE, 3)
    assert KEYS.sign(VENUE, 4) != code
    assert KEYS.sign(uuid.uuid4(), 3) != code


def test_every_altered_character_is_refused() -> None:
    code = KEYS.sign(VENUE, 0)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    for i, ch in enumerate(code):
        for other in (
            alphabet[(alphabet.index(ch) + 1) % 32],
            alphabet[(alphabet.index(ch) + 17) % 32],
        ):
            forged = code[:i] + other + code[i + 1 :]
            assert KEYS.verify(forged) is None, (i, other)


def test_other_secret_and_unknown_key_are_refused() -> None:
    code = KEYS.sign(VENUE, 0)
    assert PlaceKeys({1: b"j" * 32}).verify(code) is None
    assert PlaceKeys({2: b"k" * 32}).verify(code) is None
    # a second key: the newest signs, both verify
    both = PlaceKeys({1: b"k" * 32, 2: b"m" * 32})
    assert both.verify(code) == (VENUE, 0)
    newer = both.sign(VENUE, 0)
    assert newer != code and both.verify(newer) == (VENUE, 0) and KEYS.verify(newer) is None
    assert "k" * 8 not in repr(both)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "A",
        "A" * 59,
        "A" * 60,
        "A" * 61,
        "1" * 60,
        "=" * 60,
        "é" * 60,
        "\x00" * 60,
        "A" * 10_000,
    ],
)
def test_garbage_is_refused(text: str) -> None:
    assert KEYS.verify(text) is None


def test_forged_mac_with_right_layout_is_refused() -> None:
    raw = bytearray(base64.b32decode(KEYS.sign(VENUE, 0) + "===="))
    raw[-1] ^= 1
    assert KEYS.verify(base64.b32encode(bytes(raw)).decode().rstrip("=")) is None


def test_legacy_codes() -> None:
    assert is_legacy("abcdefghijklmnopqrstu_")
    assert not is_legacy(KEYS.sign(VENUE, 0))
    assert not is_legacy("abc/defghijklmnopqrstu")


def test_cursor_round_trip_and_garbage() -> None:
    at = datetime(2026, 5, 1, 8, 30, 12, 345678, tzinfo=UTC)
    row = uuid.uuid4()
    position = decode_cursor(encode_cursor(at, row))
    assert (position.created_at, position.id) == (at, row)
    for bad in ("", "%%", "AAAA", "kwHZJDEyMw", "x" * 201, encode_cursor(at, row)[:-3]):
        with pytest.raises(BadRequest):
            decode_cursor(bad)


class _NoDatabase:
    """A connection stand-in that fails the test on any use."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the database was asked ({name}) for a forged code")


async def test_forged_codes_are_refused_before_any_query() -> None:
    from onecode.errors import NotFound
    from onecode.places import service

    code = KEYS.sign(VENUE, 0)
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    for bad in (
        forged,
        "A" * 60,
        "x",
        "é" * 22,
        code + "A",
        PlaceKeys({1: b"z" * 32}).sign(VENUE, 0),
    ):
        with pytest.raises(NotFound):
            await service.resolve(_NoDatabase(), KEYS, bad)  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            await service.check_in(_NoDatabase(), KEYS, bad, uuid.uuid4())  # type: ignore[arg-type]
