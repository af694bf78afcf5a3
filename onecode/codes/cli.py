"""``onecode keys list|rotate|retire``: manage the data-folder signing keys.

Works on ``<data_dir>/keys`` (``ONECODE_DATA_DIR`` or ``--data-dir``). Prints key ids and
public keys only, never a seed. Keys given by ``ONECODE_SIGNING_KEYS`` or
``ONECODE_SIGNING_KEY_FILE`` are read-only here: change them in the configuration.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from onecode.codes.keys import KeyStore, KeyStoreError, SigningKey
from onecode.commands import Command
from onecode.settings import Settings

_RESTART = (
    "Running servers pick up key changes on restart; codes signed with older active keys "
    "stay valid until those keys are retired."
)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", type=Path, help="data folder (ONECODE_DATA_DIR, default ./.onecode)"
    )
    sub = p.add_subparsers(dest="keys_action", required=True)
    sub.add_parser("list", help="list signing keys: kid, public key, dates (never the seed)")
    sub.add_parser("rotate", help="add a new signing key; new codes are signed with it")
    retire = sub.add_parser("retire", help="stop trusting a key (codes signed with it fail)")
    retire.add_argument("kid", type=int, help="key id to retire")


def _iso(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _print_keys(store: KeyStore) -> None:
    try:
        signing: int | None = store.signing_key.kid
    except KeyStoreError:
        signing = None
    now = datetime.now(UTC)
    print(f"{'kid':>3}  {'public key (base64url)':<43}  {'not before':<27}  {'retired at':<27}")
    for key in store.keys:
        print(
            f"{key.kid:>3}  {key.public_key_b64url:<43}  {_iso(key.created_at):<27}  "
            f"{_iso(key.retired_at):<27}{_state(key, signing, now)}"
        )


def _state(key: SigningKey, signing: int | None, now: datetime) -> str:
    if key.retired_at is not None and key.retired_at <= now:
        return "  retired"
    if key.kid == signing:
        return "  signing"
    return "  active"


def _has_keys(data_dir: Path) -> bool:
    folder = data_dir / "keys"
    return folder.is_dir() and any(folder.glob("key-*.json"))


def keys_cmd(args: argparse.Namespace, settings: Settings) -> int:
    if args.data_dir is not None:
        settings = msgspec.structs.replace(settings, data_dir=args.data_dir)
    action: str = args.keys_action
    configured = settings.signing_keys or settings.signing_key_file
    try:
        if configured:
            store = KeyStore(signing_keys=settings.signing_keys, key_file=settings.signing_key_file)
            if action != "list":
                print(
                    "onecode: signing keys come from ONECODE_SIGNING_KEYS or "
                    "ONECODE_SIGNING_KEY_FILE and are read-only here; change the configuration",
                    file=sys.stderr,
                )
                return 2
            print("source: configuration")
            _print_keys(store)
            return 0
        existed = _has_keys(settings.data_dir)
        if action == "list" and not existed:
            print(f"no signing keys in {settings.data_dir / 'keys'} yet (the server makes one)")
            return 0
        store = KeyStore(data_dir=settings.data_dir)
        if action == "rotate":
            key = store.rotate() if existed else store.signing_key
            print(f"new signing key: kid {key.kid}, public key {key.public_key_b64url}")
            print(_RESTART)
        elif action == "retire":
            now = datetime.now(UTC)
            others = [
                k for k in store.keys if k.kid != args.kid and _state(k, None, now) != "  retired"
            ]
            if not others:
                print("onecode: that is the last active key; rotate first", file=sys.stderr)
                return 1
            store.retire(args.kid)
            print(f"retired key {args.kid}")
            print(_RESTART)
        print(f"source: {settings.data_dir / 'keys'}")
        _print_keys(store)
    except KeyStoreError as exc:
        print(f"onecode: {exc}", file=sys.stderr)
        return 1
    return 0


COMMANDS = [
    Command(
        "keys",
        "list, rotate or retire the TQ1 signing keys of the data folder",
        keys_cmd,
        _arguments,
    ),
]
