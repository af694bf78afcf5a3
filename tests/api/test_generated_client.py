"""A Python client generated from the app's OpenAPI document works against the app.

``openapi-python-client`` (a test dependency) generates the client at test time into a
temporary folder (nothing is committed); the test then registers a traveller, builds a
small catalog as admin, reads it back and meets a refusal, all through the generated,
typed functions against a real uvicorn server. The generator may skip only the image
answers (PNG/SVG QR codes, not JSON).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from onecode.app import create_app
from onecode.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.servers import serving

BIN = Path(sys.executable).parent
PACKAGE = "onecode_client"


@pytest.fixture
def generated(settings: Settings, tmp_path: Path) -> Any:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(create_app(settings).openapi_schema.to_schema()), "utf-8")
    out = tmp_path / PACKAGE
    run = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            *("--path", str(spec), "--meta", "none", "--output-path", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    skipped = [
        line for line in run.stdout.splitlines() if line.startswith(("WARNING", "Error", "Unable"))
    ]
    assert all(
        line.endswith(
            (
                ".png within travellers.",
                ".svg within travellers.",
                ".png within places.",
                ".svg within places.",
            )
        )
        for line in skipped
    ), run.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(package: Any, tag: str, module: str) -> Any:
    return importlib.import_module(f"{package.__name__}.api.{tag}.{module}")


def _model(package: Any, name: str) -> Any:
    return getattr(importlib.import_module(f"{package.__name__}.models"), name)


def test_a_generated_client_registers_builds_and_reads(generated: Any, settings: Settings) -> None:
    register = _api(generated, "travellers", "v1_travellers_register")
    me = _api(generated, "travellers", "v1_me_me")
    create_region = _api(generated, "admin", "v1_admin_regions_create_region")
    create_venue = _api(generated, "admin", "v1_admin_venues_create_venue")
    list_venues = _api(generated, "venues", "v1_venues_list_venues")
    with serving(create_app(settings)) as base_url:
        anonymous = generated.Client(base_url=base_url)
        admin = generated.AuthenticatedClient(base_url=base_url, token=ADMIN_TOKEN)

        registered = register.sync(
            client=anonymous, body=_model(generated, "TravellerIn")(display_name="Client")
        )
        assert isinstance(registered, _model(generated, "Registered"))
        assert registered.token == registered.access_token
        traveller = generated.AuthenticatedClient(base_url=base_url, token=registered.token)
        profile = me.sync(client=traveller)
        assert isinstance(profile, _model(generated, "Me"))
        assert profile.display_name == "Client"

        region = create_region.sync(
            client=admin, body=_model(generated, "RegionIn")(code="CN-GZ", name="Guizhou")
        )
        assert region.code == "CN-GZ"
        venue_in = _model(generated, "VenueIn")(
            region_code="CN-GZ",
            name="Huangguoshu",
            kind="scenic_area",
            gated=True,
            requires_booking=False,
            entry_rule="single",
            capacity_instant=100,
            capacity_daily=1000,
        )
        created = create_venue.sync(client=admin, body=venue_in)
        assert created.place_code

        listing = list_venues.sync(client=anonymous, region="CN-GZ")
        assert isinstance(listing, _model(generated, "VenueListing"))
        assert [v.name for v in listing.items] == ["Huangguoshu"]
        assert listing.next_cursor is None

        # a refusal parses as the one Problem type, with its stable code
        again = create_region.sync_detailed(
            client=admin, body=_model(generated, "RegionIn")(code="CN-GZ", name="Guizhou")
        )
        assert again.status_code == 409
        assert isinstance(again.parsed, _model(generated, "Problem"))
        assert again.parsed.code == "regions.exists"
        # the bearer scheme: the traveller's token cannot create regions
        denied = create_region.sync_detailed(
            client=traveller, body=_model(generated, "RegionIn")(code="CN-YN", name="Yunnan")
        )
        assert denied.status_code == 403
        assert denied.parsed.code == "auth.wrong_principal"
