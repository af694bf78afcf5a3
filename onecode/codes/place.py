"""Signed place codes: ``base32(kid | venue id | version | HMAC-SHA256/128)``.

Layout (37 bytes, big-endian), as 60 upper-case base32 characters without padding, so a
poster QR uses the compact alphanumeric mode::

    kid      1   which server secret signed it (``place_code_keys``)
    venue   16   the venue's uuid
    version  4   bumped on rotation; only the venue's current version resolves
    mac     16   HMAC-SHA256(secret, "onecode/place/v1" | kid | venue | version)[:16]

A code that is not exactly this, names an unknown key, or carries a wrong MAC is
refused here, before any database lookup. Framework-free; the secrets come in as bytes
(loaded by onecode.catalog.place_keys).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import uuid
from collections.abc import Mapping

CODE_LEN = 60
_RAW_LEN = 37
_BODY = struct.Struct(">B16sI")
_MAC_LEN = 16
_DOMAIN = b"onecode/place/v1"
_BASE32 = re.compile(r"^[A-Z2-7]{60}$")
# venues made before signed codes carry 128 random bits (secrets.token_urlsafe(16))
_LEGACY = re.compile(r"^[A-Za-z0-9_-]{22}$")


class PlaceKeys:
    """The server secrets that sign place codes, by key id; the highest id signs."""

    def __init__(self, secrets: Mapping[int, bytes]) -> None:
        if not secrets:
            raise ValueError("no place code key")
        self._secrets = dict(secrets)
        self.current = max(self._secrets)

    def __repr__(self) -> str:
        return f"PlaceKeys(kids={sorted(self._secrets)})"

    def _mac(self, kid: int, body: bytes) -> bytes | None:
        secret = self._secrets.get(kid)
        if secret is None:
            return None
        return hmac.new(secret, _DOMAIN + body, hashlib.sha256).digest()[:_MAC_LEN]

    def sign(self, venue_id: uuid.UUID, version: int) -> str:
        """The place code of this venue at this version."""
        body = _BODY.pack(self.current, venue_id.bytes, version)
        mac = self._mac(self.current, body)
        assert mac is not None
        return base64.b32encode(body + mac).decode("ascii").rstrip("=")

    def verify(self, text: str) -> tuple[uuid.UUID, int] | None:
        """``(venue_id, version)`` of a genuine code, or None for anything else."""
        if len(text) != CODE_LEN:
            return None
        text = text.upper()
        if not _BASE32.match(text):
            return None
        try:
            raw = base64.b32decode(text + "====")
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _RAW_LEN or base64.b32encode(raw).decode("ascii") != text + "====":
            return None  # not the canonical spelling (stray low bits in the last character)
        body, mac = raw[: _BODY.size], raw[_BODY.size :]
        kid, venue, version = _BODY.unpack(body)
        expected = self._mac(kid, body)
        if expected is None or not hmac.compare_digest(expected, mac):
            return None
        return uuid.UUID(bytes=venue), version


def is_legacy(text: str) -> bool:
    """A random (unsigned) code from before signed codes: looked up, never trusted blindly."""
    return bool(_LEGACY.match(text))
