"""Settings from the environment: paths, rates, switches (bugs found by the hardening pass)."""

from __future__ import annotations

from pathlib import Path

from onecode.settings import Settings


def test_paths_and_hardening_settings_come_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "ONECODE_DATA_DIR": "/srv/onecode",
            "ONECODE_SIGNING_KEY_FILE": "/run/keys/k",
            "ONECODE_METRICS_PUBLIC": "on",
            "ONECODE_RATE_BOOKING": "5/10",
        }
    )
    assert s.data_dir == Path("/srv/onecode")
    assert s.signing_key_file == Path("/run/keys/k")
    assert s.metrics_public is True
    assert s.rate_booking == "5/10"
    assert Settings.from_env({}).metrics_public is False
