"""Standard Webhooks signatures and the sealing of subscription secrets.

A subscription secret is ``whsec_`` + base64 of 32 random bytes (the Standard Webhooks
form). It is shown once, then kept only sealed (XSalsa20-Poly1305, PyNaCl's SecretBox)
under the server's webhook key: ``ONECODE_WEBHOOK_KEY`` (base64 of 32 bytes), or a key
generated into the data folder on first use (development). The API and the worker must
share that key.

Signing uses the ``standardwebhooks`` library: ``webhook-signature: v1,<base64>`` over
``{webhook-id}.{webhook-timestamp}.{body}``; during a rotation's overlap both the new and
the previous secret sign (space-separated), so a receiver switching secrets never drops a
message.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import nacl.exceptions
import nacl.secret
import nacl.utils
from standardwebhooks.webhooks import Webhook

from onecode.settings import Settings

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
SECRET_BYTES = 32
KEY_FILE = "webhook.key"


class SecretError(ValueError):
    """A secret or the webhook key is not one onecode can use."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def parse_secret(text: str) -> bytes:
    """The raw bytes of a ``whsec_`` secret (24 to 64 bytes); anything else is refused."""
    if not text.startswith(SECRET_PREFIX):
        raise SecretError("A secret is 'whsec_' followed by base64.")
    try:
        raw = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("A secret is 'whsec_' followed by base64.") from None
    if not 24 <= len(raw) <= 64:
        raise SecretError("A secret holds 24 to 64 bytes.")
    return raw


def _load_key(settings: Settings) -> bytes:
    if settings.webhook_key:
        try:
            key = base64.b64decode(settings.webhook_key, validate=True)
        except (binascii.Error, ValueError):
            raise SecretError("ONECODE_WEBHOOK_KEY must be base64 of 32 bytes.") from None
        if len(key) != nacl.secret.SecretBox.KEY_SIZE:
            raise SecretError("ONECODE_WEBHOOK_KEY must be base64 of 32 bytes.")
        return key
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(key))
        try:
            os.link(tmp, path)  # the first process to create it wins; others read it
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = base64.b64decode(path.read_bytes().strip())
    if len(key) != nacl.secret.SecretBox.KEY_SIZE:
        raise SecretError(f"{path} does not hold a webhook key")
    return key


class SecretSealer:
    """Seals and opens subscription secrets with the server's webhook key."""

    def __init__(self, settings: Settings) -> None:
        self._box = nacl.secret.SecretBox(_load_key(settings))

    def seal(self, secret: str) -> bytes:
        return bytes(self._box.encrypt(secret.encode("ascii")))

    def open(self, sealed: bytes) -> str:
        try:
            return self._box.decrypt(sealed).decode("ascii")
        except nacl.exceptions.CryptoError:
            raise SecretError("a subscription secret was sealed with another key") from None


def webhook_id(message_id: object) -> str:
    """The ``webhook-id`` of a message (an event's id): the same on every attempt, every
    replay and for every subscription that receives it."""
    return "msg_" + str(message_id).replace("-", "")


def sign_headers(
    message_id: str, body: str, secrets_: list[str], at: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (signed by every secret)."""
    at = at or datetime.now(UTC)
    signatures = [Webhook(s).sign(message_id, at, body) for s in secrets_]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
