"""The OpenAPI document describes errors as they are: problem+json."""

from __future__ import annotations

from tests.support.apps import Client


async def test_every_operation_documents_problem_errors(client: Client) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    assert set(doc["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
    }
    operations = 0
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            operations += 1
            responses = operation["responses"]
            assert "default" in responses, (method, path)
            for status, response in responses.items():
                if status == "default" or status[0] in "45":
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )
    assert operations >= 10
