"""base64url without padding (RFC 4648 §5), as every text field of onecode writes bytes:
keys, credential ids in the offline pack, code secrets, paging cursors."""

from __future__ import annotations

import base64


def b64url_encode(raw: bytes) -> str:
    """``raw`` as base64url text without ``=`` padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of base64url text, padded or not; raises ``ValueError`` (``binascii.Error``
    is one) for anything else."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
