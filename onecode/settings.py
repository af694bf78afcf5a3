"""Settings, read once from ``ONECODE_*`` and ``DATABASE_URL`` into a frozen struct.

Nothing in onecode reads the environment at import time: the command line builds a
``Settings`` with :meth:`Settings.from_env` and passes it down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

_SECRET_FIELDS = frozenset(
    {"admin_token", "signing_keys", "database_url", "webhook_key", "webhook_signing_key"}
)


class SettingsError(ValueError):
    """A setting has a value onecode cannot use."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything onecode can be told from outside; secrets are redacted in ``repr``."""

    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".onecode")
    admin_token: str | None = None
    signing_keys: str | None = None
    signing_key_file: Path | None = None
    code_ttl_days: int = 365
    clock_skew_seconds: int = 120
    max_body_bytes: int = 1_048_576
    batch_max_scans: int = 5_000
    pool_min: int = 2
    pool_max: int = 10
    db_acquire_timeout: float = 2.0
    db_command_timeout: float = 10.0
    # group commit of online scans (onecode/gates/batching.py): at most this many scans
    # of a venue per transaction (1: every scan alone), and this many groups of a venue
    # in flight at once
    scan_group_max: int = 32
    scan_group_lanes: int = 4
    token_cache_seconds: float = 10.0
    idempotency_ttl_hours: int = 24
    k_anonymity: int = 10
    # differential privacy of the planner indicators (onecode/flows/privacy.py): epsilon
    # per traveller-day over all indicators, and how long after a local day has ended
    # everywhere it is released (late offline uploads after that are not counted)
    dp_epsilon: float = 4.0
    dp_release_delay_hours: float = 3.0
    # raw scans and check-ins (and the traveller-level rollups) older than this many
    # days are deleted, once released (onecode/flows/retention.py); 0 keeps them
    retention_days: int = 180
    rate_limit: bool = True
    # "N/S": N requests per S seconds; per address for anonymous callers, per token
    # otherwise (see onecode/ratelimit.py). Other domains add ``rate_<bucket>`` fields.
    # registration is per address (no token yet): a burst of 50 lets a tour group behind
    # one NAT register at once, then one every 6 s
    rate_register: str = "50/300"
    rate_booking: str = "30/60"
    rate_code_rotate: str = "6/60"
    rate_review: str = "10/600"
    rate_complaint: str = "10/600"
    rate_checkin: str = "20/600"
    # a client address shared by many token holders (carrier NAT) gets this many
    # times a token's budget before its tokens are throttled together
    rate_address_factor: int = 10
    metrics_public: bool = False
    rollup_interval_seconds: float = 30.0
    # the allocation worker (offer rounds, lottery draws: onecode/allocation/worker.py)
    # runs in every serving process; 0 turns it off in this one (another runs it)
    allocation_idle_seconds: float = 1.0
    cors_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_json: bool = True
    # webhooks (docs/webhooks.md): the key that seals subscription secrets (base64 of 32
    # bytes; generated into the data folder when unset), the SSRF policy, the retry plan
    webhook_key: str | None = None
    # Ed25519 key of the v1a signatures (whsk_ + base64 of the 32-byte seed; generated
    # into the data folder when unset); its public half is GET /v1/webhooks/keys
    webhook_signing_key: str | None = None
    webhooks_sign_ed25519: bool = True
    webhooks_allow_loopback: bool = False  # tests and local development only
    webhooks_allow_http: bool = False  # plain http receivers (tests, local development)
    webhooks_timeout_seconds: float = 10.0
    webhooks_connect_timeout_seconds: float = 3.0
    webhooks_retry_hours: float = 24.0
    webhooks_backoff_base_seconds: float = 5.0
    webhooks_backoff_max_seconds: float = 3600.0
    webhooks_lease_seconds: float = 60.0
    webhooks_concurrency: int = 16
    webhooks_poll_seconds: float = 1.0
    webhooks_in_process: bool = False  # run the delivery worker inside `onecode serve`
    webhooks_log_days: int = 30  # delivered and dead messages are kept this long
    # alert detectors (run by the worker)
    alerts_interval_seconds: float = 15.0
    alerts_hysteresis_pct: int = 5
    gate_offline_minutes: float = 10.0

    def __repr__(self) -> str:
        parts = []
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name in _SECRET_FIELDS and value is not None:
                value = "***"
            parts.append(f"{name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from an environment mapping (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        if env.get("DATABASE_URL"):
            raw["database_url"] = env["DATABASE_URL"]
        for name, field_type in _field_types().items():
            key = "ONECODE_" + name.upper()
            if key not in env:
                continue
            raw[name] = _parse(name, field_type, env[key])
        raw.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(str(exc)) from None


def _field_types() -> dict[str, str]:
    return {
        f.name: str(f.type) for f in msgspec.structs.fields(Settings) if f.name != "database_url"
    }


def _parse(name: str, field_type: str, text: str) -> object:
    if "Path" in field_type:  # msgspec.convert does not turn str into Path
        return Path(text)
    if "tuple" in field_type:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if "bool" in field_type:
        lowered = text.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"ONECODE_{name.upper()} must be on or off, not {text!r}")
    if "Path" in field_type:  # msgspec does not convert str to Path
        return Path(text)
    return text
