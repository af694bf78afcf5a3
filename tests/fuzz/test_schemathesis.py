"""Schemathesis against the app's own OpenAPI document, served by a real uvicorn.

Every operation gets a bounded, derandomized set of generated requests (valid ones,
then invalid ones), sent with an admin token and with a traveller token. Checks: no
5xx, the response matches the documented schema and content type, and every error
is problem+json with a ``code``. Findings are collected over all operations and
reported together.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from onecode.app import create_app
from onecode.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.servers import serving

MAX_EXAMPLES = int(os.environ.get("ONECODE_FUZZ_EXAMPLES", "25"))
SENT: Counter[str] = Counter()


def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is application/problem+json with status, title, detail and code."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith("application/problem+json"), (
        f"{response.status_code} answered as {content_type!r}"
    )
    body = msgspec.json.decode(response.content)
    assert {"status", "title", "detail", "code"} <= set(body), body
    assert body["status"] == response.status_code
    return True


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, problem_json]


def _fuzz(base_url: str, who: str, token: str, mode: GenerationMode, examples: int) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    findings: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            findings.append(f"the schema has an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"

        @settings(
            max_examples=examples,
            derandomize=True,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report, do not linger
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            SENT[who] += 1
            case.call_and_validate(
                base_url=base_url,
                headers={"Authorization": f"Bearer {token}"},
                checks=CHECKS,
                timeout=10,
            )

        try:
            run()
        except Unsatisfiable:  # no parameters, no body: nothing can be invalid
            assert mode is GenerationMode.NEGATIVE, label
        except (Exception, BaseExceptionGroup) as exc:  # collect every finding, fail once
            findings.append(f"[{who} {mode.value}] {label}: {str(exc)[:1500]}")
    return findings


@pytest.mark.slow
def test_fuzzed_api_never_fails_and_matches_its_schema(settings_: Settings) -> None:
    findings: list[str] = []
    with serving(create_app(settings_)) as base_url:
        traveller = httpx.post(f"{base_url}/v1/travellers", json={}).json()["access_token"]
        for who, token in (("admin", ADMIN_TOKEN), ("traveller", traveller)):
            findings += _fuzz(base_url, who, token, GenerationMode.POSITIVE, MAX_EXAMPLES)
            findings += _fuzz(base_url, who, token, GenerationMode.NEGATIVE, MAX_EXAMPLES)
    total = sum(SENT.values())
    print(f"\nschemathesis sent {total} requests: {dict(SENT)}")
    assert total > 200
    assert not findings, "\n\n".join(findings)


@pytest.fixture
def settings_(settings: Settings) -> Settings:
    return settings
