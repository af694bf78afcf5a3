"""The code examples in docs/ run as written, against a real server."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from onecode.app import create_app
from onecode.settings import Settings
from tests.support.servers import serving

DOCS = Path(__file__).resolve().parents[2] / "docs"


def python_blocks(name: str) -> list[str]:
    text = (DOCS / name).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_tq1_keyring_example_verifies_a_real_code(settings: Settings) -> None:
    (example,) = [b for b in python_blocks("tq1.md") if "from_public_list" in b]
    with serving(create_app(settings)) as base:
        token = httpx.post(f"{base}/v1/travellers", json={}).json()["token"]
        code = httpx.get(f"{base}/v1/me/code", headers={"Authorization": f"Bearer {token}"})
        scope: dict[str, Any] = {"httpx": httpx, "time": time, "base": base}
        scope["scanned_text"] = code.json()["code"]
        exec(compile(example, "docs/tq1.md", "exec"), scope)  # noqa: S102 - our own docs
    assert scope["outcome"].ok, scope["outcome"]
    assert len(scope["outcome"].credential.cred_id) == 16


def test_the_offline_doc_names_every_upload_status() -> None:
    import msgspec.inspect as mi

    from onecode.offline.models import UploadResult

    text = (DOCS / "offline.md").read_text(encoding="utf-8")
    info = mi.type_info(UploadResult)
    assert isinstance(info, mi.StructType)
    (status,) = [f.type for f in info.fields if f.name == "status"]
    assert isinstance(status, mi.LiteralType)
    assert len(status.values) == 4
    for value in status.values:
        assert f"| `{value}` |" in text, value
