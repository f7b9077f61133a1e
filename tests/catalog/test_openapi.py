"""Every catalog route says what it answers: a model of the catalog's contracts, or the media
type of the bytes it sends."""

from fastapi import FastAPI
from fastapi.responses import FileResponse

from nauplius.core.contracts import adaptation, clusters, duplicates, models
from nauplius.core.contracts import catalog as contracts
from services.catalog.main import create_app

# The catalog's contracts: its own module, and those of the resources that have one.
CONTRACT_MODULES = (contracts, clusters, duplicates, adaptation, models)


def _is_contract(schema: dict) -> bool:
    name = schema.get("$ref", "").rpartition("/")[2].removesuffix("-Output")
    return any(isinstance(getattr(module, name, None), type) for module in CONTRACT_MODULES)


def undeclared(spec: dict) -> list[str]:
    """`METHOD path status` of each success answer (but 204) with neither a contract model nor a
    media type of its own."""
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                content = response.get("content", {})
                json_body = content.get("application/json")
                if not content or (json_body is not None and not _is_contract(json_body["schema"])):
                    found.append(f"{method.upper()} {path} {code}")
    return found


def test_every_route_answers_a_contract_or_declared_bytes():
    spec = create_app().openapi()
    assert undeclared(spec) == []
    media = {path: set(operations["get"]["responses"]["200"]["content"])
             for path, operations in spec["paths"].items()
             if path.endswith(("/file", "/thumbnail", "/data"))}
    assert media == {
        "/v1/images/{image_id}/file": {"image/jpeg", "image/png", "image/tiff", "image/bmp"},
        "/v1/images/{image_id}/thumbnail": {"image/jpeg"},
        "/v1/jobs/items/{item_id}/data": {"application/octet-stream"},
    }


def test_a_bare_dict_or_undeclared_file_is_caught():
    app = FastAPI()

    @app.get("/counts")
    async def counts() -> dict:
        return {}

    @app.get("/bytes")
    async def data() -> FileResponse:
        return FileResponse(__file__)

    @app.get("/image")
    async def image() -> contracts.ImagePublic:
        raise NotImplementedError

    assert undeclared(app.openapi()) == ["GET /counts 200", "GET /bytes 200"]
