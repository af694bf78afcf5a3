"""The TQ1 traveller credential: fixed binary layout, Ed25519 signature, Base45 text.

Pure functions, no framework: `issue` signs a `Credential` into `TQ1:` text, `verify`
parses it strictly and answers with a `Verified` outcome (never raises), and
`screenshot_suffix` makes the 30-second anti-screenshot suffix (the app's side;
the server checks it in SQL, ``gate_suffix_ok`` in sql/functions/gates.sql). The byte
layout is documented in `docs/tq1.md`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import struct
from dataclasses import dataclass
from enum import StrEnum

import base45
import nacl.exceptions

from onecode.codes.keys import KeyRing, SigningKey

__all__ = [
    "BODY_LEN",
    "CRED_ID_BYTES",
    "FULL_LEN",
    "MAX_TEXT_LEN",
    "PREFIX",
    "QR_ALPHANUMERIC",
    "SUFFIX_LEN",
    "TIME_STEP_SECONDS",
    "VERSION",
    "Credential",
    "Reason",
    "Verified",
    "issue",
    "new_cred_id",
    "screenshot_suffix",
    "verify",
]

VERSION = 1
PREFIX = "TQ1:"
CRED_ID_BYTES = 16
SIGNATURE_BYTES = 64
SUFFIX_MAC_BYTES = 4
SUFFIX_MARK = "*"
TIME_STEP_SECONDS = 30
SUFFIX_SECRET_BYTES = 32
#: Reject anything longer than this before decoding a single character.
MAX_TEXT_LEN = 200
U32_MAX = 0xFFFF_FFFF

# version u8, kid u8, credential id 16 bytes, generation u32, not_before u32, expires_at u32
_FIELDS = struct.Struct(">BB16sIII")
_STEP = struct.Struct(">Q")
PAYLOAD_BYTES = _FIELDS.size  # 30
SIGNED_BYTES = PAYLOAD_BYTES + SIGNATURE_BYTES  # 94


def _b45_len(n: int) -> int:
    return n // 2 * 3 + n % 2 * 2


#: `TQ1:` + Base45 of the 94 signed bytes: 145 characters.
BODY_LEN = len(PREFIX) + _b45_len(SIGNED_BYTES)
#: `*` + Base45 of the 4-byte truncated HMAC: 7 characters.
SUFFIX_LEN = len(SUFFIX_MARK) + _b45_len(SUFFIX_MAC_BYTES)
#: Body and suffix together: 152 characters, QR version 7-M holds 154.
FULL_LEN = BODY_LEN + SUFFIX_LEN

QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
_BASE45 = frozenset(base45.BASE45_CHARSET)


class Reason(StrEnum):
    """Why a code was accepted or rejected; the values are the API's reason codes."""

    OK = "ok"
    INVALID_CODE = "invalid_code"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED_CODE = "expired_code"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED_CODE = "revoked_code"  # decided by the caller (database generation)
    SCREENSHOT_CODE = "screenshot_code"  # decided by the caller (gate_scan, in SQL)


@dataclass(frozen=True, slots=True)
class Credential:
    """What a TQ1 code says. `cred_id` is random, never a traveller id or a row key."""

    kid: int
    cred_id: bytes
    generation: int
    not_before: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class Verified:
    """The outcome of `verify`: data, not an exception.

    `credential` is set when the signature is good, including for `expired_code` and
    `not_yet_valid` (the fields are then authentic but not currently valid); it is None
    for every other rejection. `body` is the text without suffix, `suffix` the raw
    4 suffix bytes if the text carried one.
    """

    ok: bool
    reason: Reason
    credential: Credential | None = None
    body: str | None = None
    suffix: bytes | None = None


def new_cred_id() -> bytes:
    """A fresh random credential id."""
    return secrets.token_bytes(CRED_ID_BYTES)


def _u32(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U32_MAX:
        raise ValueError(f"{name} must be an integer in 0..2**32-1")


def issue(credential: Credential, signing_key: SigningKey) -> str:
    """Sign `credential` and return its TQ1 text (without the screenshot suffix).

    Raises ValueError if a field does not fit the layout or `kid` is not the key's.
    """
    if credential.kid != signing_key.kid:
        raise ValueError("credential.kid must be the signing key's kid")
    if not isinstance(credential.cred_id, bytes) or len(credential.cred_id) != CRED_ID_BYTES:
        raise ValueError(f"cred_id must be {CRED_ID_BYTES} bytes")
    _u32("generation", credential.generation)
    _u32("not_before", credential.not_before)
    _u32("expires_at", credential.expires_at)
    if credential.expires_at <= credential.not_before:
        raise ValueError("expires_at must be after not_before")
    payload = _FIELDS.pack(
        VERSION,
        credential.kid,
        credential.cred_id,
        credential.generation,
        credential.not_before,
        credential.expires_at,
    )
    signed = payload + signing_key.sign(payload)
    return PREFIX + _b45encode(signed)


def _b45encode(raw: bytes) -> str:
    encoded: bytes = base45.b45encode(raw)
    return encoded.decode("ascii")


def _b45decode(text: str) -> bytes:
    decoded: bytes = base45.b45decode(text)
    return decoded


def _mac(body: str, secret: bytes, step: int) -> bytes:
    message = body.encode("ascii") + _STEP.pack(step)
    return hmac.new(secret, message, hashlib.sha256).digest()[:SUFFIX_MAC_BYTES]


def _step(at_unix: float) -> int:
    return math.floor(at_unix / TIME_STEP_SECONDS)


def screenshot_suffix(code: str, secret: bytes, at_unix: float) -> str:
    """The app-side suffix for `code` at time `at_unix`: `*` + Base45(4-byte HMAC).

    HMAC-SHA256 under the credential's 32-byte secret, over the ASCII code text
    (`TQ1:...`, no suffix) followed by the big-endian u64 30-second time step.
    """
    if len(secret) != SUFFIX_SECRET_BYTES:
        raise ValueError(f"secret must be {SUFFIX_SECRET_BYTES} bytes")
    if not math.isfinite(at_unix) or at_unix < 0:
        raise ValueError("at_unix must be a non-negative finite time")
    if len(code) != BODY_LEN or not code.startswith(PREFIX):
        raise ValueError("code must be a TQ1 code without suffix")
    mac = _mac(code, secret, _step(at_unix))
    return SUFFIX_MARK + _b45encode(mac)


_REJECT = Verified(ok=False, reason=Reason.INVALID_CODE)
_UNKNOWN_KEY = Verified(ok=False, reason=Reason.UNKNOWN_KEY)


def verify(text: str, keys: KeyRing, now_unix: float, skew_seconds: int = 120) -> Verified:
    """Parse and check a scanned TQ1 text. Never raises; every failure is a `Verified`.

    Order: type and length bounds, prefix, optional suffix shape, alphabet, Base45,
    exact byte length, version, key id, signature; only then the validity window
    (`not_before - skew <= now < expires_at + skew`). Revocation (generation) and the
    screenshot suffix need the database and are the caller's job.
    """
    try:
        return _verify(text, keys, now_unix, skew_seconds)
    except Exception:
        # Defence in depth for the gate hot path: a malformed scan is a rejection,
        # never a 500. Every known failure is handled explicitly in _verify.
        return _REJECT


def _verify(text: str, keys: KeyRing, now_unix: float, skew_seconds: int) -> Verified:
    if type(text) is not str or len(text) > MAX_TEXT_LEN:
        return _REJECT
    if len(text) == BODY_LEN:
        body, suffix_text = text, ""
    elif len(text) == FULL_LEN and text[BODY_LEN] == SUFFIX_MARK:
        body, suffix_text = text[:BODY_LEN], text[BODY_LEN + 1 :]
    else:
        return _REJECT
    if not body.startswith(PREFIX):
        return _REJECT
    encoded = body[len(PREFIX) :]
    if not _BASE45.issuperset(encoded) or not _BASE45.issuperset(suffix_text):
        return _REJECT
    try:
        signed = _b45decode(encoded)
        suffix = _b45decode(suffix_text) if suffix_text else None
    except ValueError:
        return _REJECT
    if len(signed) != SIGNED_BYTES or (suffix is not None and len(suffix) != SUFFIX_MAC_BYTES):
        return _REJECT
    payload, signature = signed[:PAYLOAD_BYTES], signed[PAYLOAD_BYTES:]
    if payload[0] != VERSION:
        return _REJECT
    candidates = keys.lookup(payload[1])
    if not candidates:
        return _UNKNOWN_KEY
    for verify_key in candidates:
        try:
            verify_key.verify(payload, signature)
        except nacl.exceptions.BadSignatureError:
            continue
        break
    else:
        return _REJECT
    # The signature is good: from here on the fields can be trusted.
    _version, kid, cred_id, generation, not_before, expires_at = _FIELDS.unpack(payload)
    credential = Credential(kid, cred_id, generation, not_before, expires_at)
    if now_unix + skew_seconds < not_before:
        return Verified(False, Reason.NOT_YET_VALID, credential, body, suffix)
    if not now_unix - skew_seconds < expires_at:  # also rejects a NaN clock
        return Verified(False, Reason.EXPIRED_CODE, credential, body, suffix)
    return Verified(True, Reason.OK, credential, body, suffix)
