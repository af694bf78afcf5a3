"""Ed25519 signing keys for TQ1 codes: the private key store and the public trust list.

A `KeyStore` holds the private signing keys (from an explicit `kid:seed` string, a key
file, or a data folder of one JSON file per key) and hands out the current
`SigningKey` and a `KeyRing` of public keys for verification and for `GET /v1/keys`.
Private seeds are never put in a `repr`, an exception message or a log line.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import msgspec
import nacl.signing

from onecode.codes.b64url import b64url_decode, b64url_encode

__all__ = [
    "EPOCH",
    "KeyRing",
    "KeyStore",
    "KeyStoreError",
    "PublicKey",
    "PublicKeyInfo",
    "SigningKey",
    "parse_signing_keys",
]

SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
ALG = "Ed25519"
#: not_before of keys given as a bare `kid:seed` string, which carry no date.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class KeyStoreError(Exception):
    """A key source is malformed, read-only, or exhausted. Never carries a seed."""


def _b64url_decode(text: str) -> bytes:
    try:
        return b64url_decode(text.strip())
    except ValueError:
        raise KeyStoreError("key material is not base64url") from None


def _check_kid(kid: int) -> int:
    if isinstance(kid, bool) or not isinstance(kid, int) or not 0 <= kid <= 255:
        raise KeyStoreError("kid must be an integer in 0..255")
    return kid


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise KeyStoreError("key dates must be timezone-aware")
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_iso(value: object) -> datetime:
    if not isinstance(value, str):
        raise KeyStoreError("key date must be an ISO 8601 string")
    try:
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise KeyStoreError("key date is not ISO 8601") from None


class SigningKey:
    """A private Ed25519 key with its key id. `repr` and `str` never show the seed."""

    __slots__ = ("_nacl", "created_at", "kid", "public_key", "retired_at")

    def __init__(
        self,
        kid: int,
        seed: bytes,
        created_at: datetime = EPOCH,
        retired_at: datetime | None = None,
    ) -> None:
        self.kid = _check_kid(kid)
        if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
            raise KeyStoreError(f"key {kid}: seed must be {SEED_BYTES} bytes")
        self._nacl = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._nacl.verify_key)
        self.created_at = _utc(created_at)
        self.retired_at = None if retired_at is None else _utc(retired_at)

    @classmethod
    def generate(cls, kid: int, created_at: datetime) -> SigningKey:
        """Make a new random key."""
        return cls(kid, secrets.token_bytes(SEED_BYTES), created_at)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte detached Ed25519 signature of `message`."""
        return bytes(self._nacl.sign(message).signature)

    @property
    def public_key_b64url(self) -> str:
        """The 32 raw public key bytes, base64url without padding."""
        return b64url_encode(self.public_key)

    def seed_b64url(self) -> str:
        """The private seed, base64url. Only for writing the key file; never log it."""
        return b64url_encode(bytes(self._nacl))

    def retired(self, at: datetime) -> SigningKey:
        """A copy of this key marked retired at `at`."""
        return SigningKey(self.kid, bytes(self._nacl), self.created_at, at)

    def public(self) -> PublicKey:
        """The public half, as published in the trust list."""
        return PublicKey(self.kid, self.public_key, self.created_at, self.retired_at)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid}, public_key={self.public_key_b64url!r}, seed=<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        # Pickling would copy the seed somewhere we do not control (caches, queues).
        raise TypeError("SigningKey cannot be pickled")


class PublicKeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the trust list (``GET /v1/keys``, the offline pack): the one shape of
    a public key on the wire."""

    kid: int
    alg: str
    public_key: str  # base64url, 32 bytes
    not_before: Annotated[datetime, msgspec.Meta(tz=True)]
    not_after: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public Ed25519 key a gate trusts between `not_before` and `not_after`."""

    kid: int
    raw: bytes
    not_before: datetime
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        _check_kid(self.kid)
        if len(self.raw) != PUBLIC_KEY_BYTES:
            raise KeyStoreError(f"key {self.kid}: public key must be {PUBLIC_KEY_BYTES} bytes")

    def info(self) -> PublicKeyInfo:
        """The trust-list entry of this key."""
        return PublicKeyInfo(
            kid=self.kid,
            alg=ALG,
            public_key=b64url_encode(self.raw),
            not_before=self.not_before,
            not_after=self.not_after,
        )

    @classmethod
    def from_info(cls, info: PublicKeyInfo | Mapping[str, object]) -> PublicKey:
        """Read a trust-list entry back (what a third-party gate does), as the Struct or as
        the JSON object it decodes from."""
        if not isinstance(info, PublicKeyInfo):
            try:
                info = msgspec.convert(info, PublicKeyInfo)
            except msgspec.ValidationError as exc:
                raise KeyStoreError(f"not a trust-list entry: {exc}") from None
        if info.alg != ALG:
            raise KeyStoreError("unsupported key algorithm")
        return cls(
            kid=info.kid,
            raw=_b64url_decode(info.public_key),
            not_before=_utc(info.not_before),
            not_after=None if info.not_after is None else _utc(info.not_after),
        )


class KeyRing:
    """Public keys by key id. Several keys may share a kid; verification tries each."""

    __slots__ = ("_by_kid", "keys")

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        self.keys: tuple[PublicKey, ...] = tuple(keys)
        by_kid: dict[int, list[nacl.signing.VerifyKey]] = {}
        for key in self.keys:
            by_kid.setdefault(key.kid, []).append(nacl.signing.VerifyKey(key.raw))
        self._by_kid = {kid: tuple(found) for kid, found in by_kid.items()}

    def __repr__(self) -> str:
        return f"KeyRing(kids={sorted(self._by_kid)})"

    def lookup(self, kid: int) -> Sequence[nacl.signing.VerifyKey]:
        """The verify keys with this key id (empty if none)."""
        return self._by_kid.get(kid, ())

    def public_list(self) -> list[PublicKeyInfo]:
        """The trust list for `GET /v1/keys`, ordered by kid then not_before."""
        ordered = sorted(self.keys, key=lambda k: (k.kid, k.not_before))
        return [key.info() for key in ordered]

    @classmethod
    def from_public_list(cls, infos: Iterable[PublicKeyInfo | Mapping[str, object]]) -> KeyRing:
        """Build a ring from a `GET /v1/keys` answer."""
        return cls(PublicKey.from_info(info) for info in infos)


def parse_signing_keys(text: str) -> list[SigningKey]:
    """Parse `"3:<b64url seed>,2:<b64url seed>"` (commas or newlines between entries).

    Entries keep their order; the store signs with the last one. Errors name the entry
    position, never its content.
    """
    keys: list[SigningKey] = []
    entries = [e.strip() for e in text.replace("\n", ",").split(",")]
    for position, entry in enumerate(e for e in entries if e and not e.startswith("#")):
        kid_text, sep, seed_text = entry.partition(":")
        if not sep or not kid_text.strip().isdigit():
            raise KeyStoreError(f"signing key entry {position + 1}: expected '<kid>:<seed>'")
        try:
            seed = _b64url_decode(seed_text)
        except KeyStoreError:
            raise KeyStoreError(
                f"signing key entry {position + 1}: seed is not base64url"
            ) from None
        keys.append(SigningKey(int(kid_text), seed))
    if not keys:
        raise KeyStoreError("no signing key given")
    return keys


def _now() -> datetime:
    return datetime.now(UTC)


class KeyStore:
    """The private signing keys, loaded from the first source given.

    Sources, in order: `signing_keys` (the `kid:seed,...` string form, for example from
    `ONECODE_SIGNING_KEYS`), `key_file` (a file holding that string form), or
    `data_dir` (keys live in `<data_dir>/keys/*.json`, one file per key, mode 0600;
    a first key is generated there when `create_if_missing`). Only a data folder store
    can `rotate` and `retire`; the other sources are read-only.

    The caller reads settings and passes values in: this class reads no environment.
    """

    def __init__(
        self,
        *,
        signing_keys: str | None = None,
        key_file: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        create_if_missing: bool = True,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._clock = clock
        self._dir: Path | None = None
        if signing_keys:
            self._keys = parse_signing_keys(signing_keys)
        elif key_file is not None:
            try:
                text = Path(key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise KeyStoreError(f"cannot read key file: {exc.strerror}") from None
            self._keys = parse_signing_keys(text)
        elif data_dir is not None:
            self._dir = Path(data_dir) / "keys"
            self._keys = self._load_dir(self._dir)
            if not self._keys:
                if not create_if_missing:
                    raise KeyStoreError(f"no signing key in {self._dir}")
                self._add(SigningKey.generate(1, self._clock()))
        else:
            raise KeyStoreError("no signing key source given")

    def __repr__(self) -> str:
        source = "dir" if self._dir is not None else "config"
        kids = [k.kid for k in self._keys]
        active = [k.kid for k in self._active()]
        return f"KeyStore(source={source}, kids={kids}, active={active})"

    # --- reading ----------------------------------------------------------------------

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every key held, retired ones included."""
        return tuple(self._keys)

    def _active(self) -> list[SigningKey]:
        now = self._clock()
        return [k for k in self._keys if k.retired_at is None or k.retired_at > now]

    @property
    def signing_key(self) -> SigningKey:
        """The key new codes are signed with: the active key with the latest not_before
        (for equal dates, the one listed or added last)."""
        active = self._active()
        if not active:
            raise KeyStoreError("every signing key is retired")
        # max() keeps the first of equal items; walk reversed so the last one wins.
        return max(reversed(active), key=lambda k: k.created_at)

    def ring(self) -> KeyRing:
        """Public keys of every active key, for verification and `GET /v1/keys`."""
        return KeyRing(k.public() for k in self._active())

    # --- changing (data folder only) ---------------------------------------------------

    def rotate(self) -> SigningKey:
        """Add a new signing key with the next free kid; older keys stay valid."""
        self._writable()
        used = {k.kid for k in self._keys}
        start = self.signing_key.kid if self._active() else max(used, default=0)
        for step in range(1, 257):
            kid = (start + step) % 256
            if kid not in used:
                break
        else:
            raise KeyStoreError("all 256 key ids are in use; delete retired key files")
        # Strictly after every existing key, so "latest not_before signs" stays
        # unambiguous after a reload even with a coarse or stopped clock.
        created = self._clock()
        latest = max((k.created_at for k in self._keys), default=created)
        key = SigningKey.generate(kid, max(created, latest + timedelta(microseconds=1)))
        self._add(key)
        return key

    def retire(self, kid: int) -> None:
        """Stop trusting key `kid` from now on (kept on disk, dropped from the ring)."""
        self._writable()
        now = self._clock()
        found = False
        for index, key in enumerate(self._keys):
            if key.kid == kid and key.retired_at is None:
                retired = key.retired(now)
                self._keys[index] = retired
                self._write(retired)
                found = True
        if not found:
            raise KeyStoreError(f"no active key with kid {kid}")

    def _writable(self) -> Path:
        if self._dir is None:
            raise KeyStoreError("keys given by configuration are read-only")
        return self._dir

    def _add(self, key: SigningKey) -> None:
        self._write(key)
        self._keys.append(key)

    # --- files -------------------------------------------------------------------------

    @staticmethod
    def _load_dir(directory: Path) -> list[SigningKey]:
        if not directory.is_dir():
            return []
        keys: list[SigningKey] = []
        for path in sorted(directory.glob("key-*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                retired = doc.get("retired_at")
                keys.append(
                    SigningKey(
                        int(doc["kid"]),
                        _b64url_decode(str(doc["seed"])),
                        _parse_iso(doc["created_at"]),
                        None if retired is None else _parse_iso(retired),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError, KeyStoreError):
                raise KeyStoreError(f"unreadable key file {path.name}") from None
        keys.sort(key=lambda k: k.created_at)
        return keys

    def _write(self, key: SigningKey) -> None:
        directory = self._writable()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        doc = {
            "kid": key.kid,
            "alg": ALG,
            "seed": key.seed_b64url(),
            "public_key": key.public_key_b64url,
            "created_at": _iso(key.created_at),
            "retired_at": None if key.retired_at is None else _iso(key.retired_at),
        }
        path = directory / f"key-{key.kid:03d}.json"
        tmp = directory / f".key-{key.kid:03d}.{secrets.token_hex(4)}.tmp"
        # Create with 0600 from the start (no window where the seed is world-readable),
        # then rename so a crash never leaves a half-written key.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(doc, out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)  # the umask cannot widen it, but make it explicit
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
