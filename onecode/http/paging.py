"""Opaque keyset cursors over ``(created_at, id)``, newest first.

A cursor names the last row of a page; the next page holds the rows strictly older than
it in ``(created_at, id)`` order. Rows inserted later are newer than every cursor, so a
reader paging backwards never sees a duplicate or skips a row that existed when it started.
"""

from __future__ import annotations

import binascii
import uuid
from datetime import UTC, datetime, timedelta

import msgspec

from onecode.codes.b64url import b64url_decode, b64url_encode
from onecode.errors import BadRequest

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CURSOR_LEN = 200


class Position(msgspec.Struct, frozen=True, array_like=True):
    """Where a page ended: microseconds since the epoch and the row id."""

    micros: int
    id: uuid.UUID

    @property
    def created_at(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.micros)


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """The opaque text of a position (base64url, no padding)."""
    delta = created_at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raw = msgspec.msgpack.encode(Position(micros, row_id))
    return b64url_encode(raw)


def decode_cursor(text: str) -> Position:
    """Parse a cursor made by :func:`encode_cursor`; anything else is a 400."""
    bad = BadRequest("The cursor is not one this API made.", "request.bad_cursor")
    if not text or len(text) > MAX_CURSOR_LEN:
        raise bad
    try:
        raw = b64url_decode(text)
        position = msgspec.msgpack.decode(raw, type=Position)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise bad from None
    # keep within what timestamptz and datetime both hold
    if not -62_135_596_800_000_000 < position.micros < 253_402_300_799_000_000:
        raise bad
    return position


#: Every list answers ``{items, next_cursor}``; a list's older field name stays, with
#: the same items, marked deprecated in the OpenAPI document (removed in /v2).
SAME_AS_ITEMS = msgspec.Meta(
    description="Deprecated: the same list as `items`, kept for earlier clients.",
    extra_json_schema={"deprecated": True},
)
#: The ``next_cursor`` of a list that is complete in one answer.
ONE_PAGE = msgspec.Meta(
    description="Always null: this list is complete in one answer (no further page)."
)
