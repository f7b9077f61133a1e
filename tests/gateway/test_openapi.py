"""The public contract: /openapi.json describes every answer and every request body."""

from typing import Any

import httpx
import pytest

from gateway.config import GatewaySettings
from gateway.main import create_app
from nauplius.core.contracts.gateway import CLIENT_HEADER
from tests.support.service_key import SERVICE_KEY

# What FastAPI emits for an answer nobody declared: no schema, or a free-form object.
UNDECLARED: tuple[dict[str, Any], ...] = ({}, {"type": "object", "additionalProperties": True})


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


BODIES = {
    ("post", "/api/v1/taxa"): "TaxonIn",
    ("put", "/api/v1/taxa/{taxon_id}"): "TaxonIn",
    ("post", "/api/v1/projects"): "ProjectCreate",
    ("post", "/api/v1/projects/{project_id}/images"): "ImageIds",
    ("post", "/api/v1/annotators"): "AnnotatorCreate",
    ("post", "/api/v1/api-keys"): "ApiKeyCreate",
}


def test_admin_bodies_are_typed(spec: dict[str, Any]) -> None:
    for (method, path), model in BODIES.items():
        body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}"}, path


@pytest.mark.parametrize(("method", "url", "body", "field"), [
    ("POST", "/api/v1/taxa", {"nam": "Copepoda"}, "name"),
    ("PUT", "/api/v1/taxa/1", {"name": "Copepoda", "aphia_id": 0}, "aphia_id"),
    ("POST", "/api/v1/projects", {"name": ""}, "name"),
    ("POST", "/api/v1/projects/1/images", {"image_ids": []}, "image_ids"),
    ("POST", "/api/v1/annotators", {"institution": "Eawag"}, "name"),
    ("POST", "/api/v1/api-keys", {"annotator_id": 1, "role": "boss"}, "role"),
])
async def test_a_bad_admin_body_is_the_gateways_422_naming_the_field(
    unreachable_settings: GatewaySettings, method: str, url: str, body: dict, field: str
) -> None:
    # The catalog is unreachable: a body sent on to it would answer 502.
    app = create_app(unreachable_settings, service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as gw:
        answer = await gw.request(method, url, json=body, headers={CLIENT_HEADER: "1"})
    assert answer.status_code == 422, answer.text
    assert ["body", field] in [error["loc"] for error in answer.json()["detail"]]
