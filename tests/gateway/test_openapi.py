"""The public contract: /openapi.json describes every answer."""

from typing import Any

import pytest

from gateway.config import GatewaySettings
from gateway.main import create_app

# What FastAPI emits for an answer nobody declared: no schema, or a free-form object.
UNDECLARED = ({}, {"type": "object", "additionalProperties": True})


@pytest.fixture
def spec(unreachable_settings: GatewaySettings) -> dict[str, Any]:
    return create_app(unreachable_settings).openapi()


def _undeclared(spec: dict[str, Any]) -> list[str]:
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                content = response.get("content") or {}
                json_schema = content.get("application/json", {}).get("schema")
                bare = None if json_schema is None else {
                    k: v for k, v in json_schema.items() if k not in ("title", "description")}
                if not content or bare in UNDECLARED:
                    missing.append(f"{method.upper()} {path} {status}")
    return missing


def test_every_answer_is_declared(spec: dict[str, Any]) -> None:
    assert [p for p in spec["paths"] if p.startswith("/api/v1")]
    assert _undeclared(spec) == []


def test_an_undeclared_answer_is_caught(spec: dict[str, Any]) -> None:
    spec["paths"]["/api/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {}
    spec["paths"]["/api/v1/taxa"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "type": "object", "additionalProperties": True, "title": "Response List Taxa"}
    del spec["paths"]["/api/v1/export"]["get"]["responses"]["200"]["content"]
    assert set(_undeclared(spec)) == {"GET /api/v1/me 200", "GET /api/v1/taxa 200", "GET /api/v1/export 200"}


def test_files_and_exports_name_their_media_types(spec: dict[str, Any]) -> None:
    def media(path: str) -> set[str]:
        return set(spec["paths"][path]["get"]["responses"]["200"]["content"])

    assert media("/api/v1/images/{image_id}/thumbnail") == {"image/jpeg"}
    assert "image/png" in media("/api/v1/images/{image_id}/file")
    assert media("/api/v1/export") == {"text/csv", "text/tab-separated-values", "application/zip"}

