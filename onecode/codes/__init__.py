"""Signed codes: the TQ1 traveller credential (binary layout, Ed25519 sign/verify, keys,
QR rendering) and the venue place code (``place.py``, HMAC).

Framework-free: no web framework or database imports, so the HTTP routes, the gate hot
path and third-party tools can all use it.
"""

from __future__ import annotations

from onecode.codes.credential import (
    BODY_LEN,
    FULL_LEN,
    MAX_TEXT_LEN,
    PREFIX,
    Credential,
    Reason,
    Verified,
    issue,
    new_cred_id,
    screenshot_suffix,
    verify,
)
from onecode.codes.keys import (
    KeyRing,
    KeyStore,
    KeyStoreError,
    PublicKey,
    PublicKeyInfo,
    SigningKey,
    parse_signing_keys,
)
from onecode.codes.qr import qr_version, render_png, render_svg

__all__ = [
    "BODY_LEN",
    "FULL_LEN",
    "MAX_TEXT_LEN",
    "PREFIX",
    "Credential",
    "KeyRing",
    "KeyStore",
    "KeyStoreError",
    "PublicKey",
    "PublicKeyInfo",
    "Reason",
    "SigningKey",
    "Verified",
    "issue",
    "new_cred_id",
    "parse_signing_keys",
    "qr_version",
    "render_png",
    "render_svg",
    "screenshot_suffix",
    "verify",
]
