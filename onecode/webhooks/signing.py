"""Standard Webhooks signatures and the sealing of subscription secrets.

A subscription secret is ``whsec_`` + base64 of 32 random bytes (the Standard Webhooks
form). It is shown once, then kept only sealed (XSalsa20-Poly1305, PyNaCl's SecretBox)
under the server's webhook key: ``ONECODE_WEBHOOK_KEY`` (base64 of 32 bytes), or a key
generated into the data folder on first use (development). The API and the worker must
share that key.

Signing uses the ``standardwebhooks`` library: ``webhook-signature: v1,<base64>`` over
``{webhook-id}.{webhook-timestamp}.{body}``; during a rotation's overlap both the new and
the previous secret sign (space-separated), so a receiver switching secrets never drops a
message. Beside them goes ``v1a,<base64>``, the specification's asymmetric signature:
Ed25519 over the same text under the server's key, whose public half
``GET /v1/webhooks/keys`` publishes (``whpk_`` + base64), so a receiver can verify without
holding a secret (the library verifies ``v1`` and skips ``v1a``).
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
import nacl.signing
import nacl.utils
from standardwebhooks.webhooks import Webhook

from onecode.settings import Settings

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
SECRET_BYTES = 32
KEY_FILE = "webhook.key"
SIGNING_KEY_FILE = "webhook-ed25519.key"
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"


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


def _key_bytes(configured: str | None, setting: str, prefix: str, path: Path) -> bytes:
    """32 key bytes: from the setting (base64, optional prefix), or from a file in the data
    folder, made on first use (the first process to create it wins; others read it)."""
    if configured:
        text = configured.removeprefix(prefix)
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SecretError(f"{setting} must be base64 of 32 bytes.") from None
        if len(key) != 32:
            raise SecretError(f"{setting} must be base64 of 32 bytes.")
        return key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(nacl.utils.random(32)))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = base64.b64decode(path.read_bytes().strip())
    if len(key) != 32:
        raise SecretError(f"{path} does not hold a 32-byte key")
    return key


def _load_key(settings: Settings) -> bytes:
    path = Path(settings.data_dir) / KEY_FILE
    return _key_bytes(settings.webhook_key, "ONECODE_WEBHOOK_KEY", "", path)


class MessageSigner:
    """The server's Ed25519 key for ``v1a`` signatures."""

    def __init__(self, settings: Settings) -> None:
        seed = _key_bytes(
            settings.webhook_signing_key,
            "ONECODE_WEBHOOK_SIGNING_KEY",
            SIGNING_KEY_PREFIX,
            Path(settings.data_dir) / SIGNING_KEY_FILE,
        )
        self._key = nacl.signing.SigningKey(seed)

    @property
    def public_key(self) -> str:
        raw = bytes(self._key.verify_key)
        return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")

    def sign(self, message_id: str, timestamp: str, body: str) -> str:
        signed = self._key.sign(f"{message_id}.{timestamp}.{body}".encode()).signature
        return "v1a," + base64.b64encode(signed).decode("ascii")


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
    message_id: str,
    body: str,
    secrets_: list[str],
    at: datetime | None = None,
    signer: MessageSigner | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt: a ``v1`` signature per secret,
    and the server's ``v1a`` when a signer is given."""
    at = at or datetime.now(UTC)
    timestamp = str(int(at.timestamp()))
    signatures = [Webhook(s).sign(message_id, at, body) for s in secrets_]
    if signer is not None:
        signatures.append(signer.sign(message_id, timestamp, body))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": " ".join(signatures),
    }
