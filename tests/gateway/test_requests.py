"""Requests refused by the gateway itself: nothing reaches the (unreachable) services.

Every downstream URL points at a closed port, so a request that was forwarded would answer 502.
"""

import io

import pytest
from fastapi import UploadFile
from pydantic import ValidationError

from gateway.config import GatewaySettings
from gateway.ingest import UploadTooLarge, read_limited
from tests.support.gateway import running_gateway

LIMIT = 1000


@pytest.fixture
def small_limit(unreachable_settings: GatewaySettings) -> GatewaySettings:
    return unreachable_settings.model_copy(update={"max_upload_bytes": LIMIT, "max_files_per_request": 3})


async def test_all_files_too_large_is_413_with_per_file_errors(small_limit: GatewaySettings) -> None:
    files = [("files", ("a.png", b"x" * (LIMIT + 1), "image/png")),
             ("files", ("b.png", b"y" * 5000, "image/png"))]
    async with running_gateway(small_limit) as gw:
        response = await gw.post("/api/v1/images", files=files)
    assert response.status_code == 413
    body = response.json()
    assert body["detail"] == "every file was too large"
    assert [entry["id"] for entry in body["data"]] == [None, None]
    assert all(entry["error"] == f"file too large: more than {LIMIT} bytes" for entry in body["data"])


async def test_each_file_gets_its_own_error_in_order(small_limit: GatewaySettings) -> None:
    files = [
        ("files", ("empty.png", b"", "image/png")),
        ("files", ("big.png", b"z" * (LIMIT * 3), "image/png")),
    ]
    async with running_gateway(small_limit) as gw:
        response = await gw.post("/api/v1/images", files=files, data={"label": "Daphnia"})
    assert response.status_code == 422
    errors = [entry["error"] for entry in response.json()["data"]]
    assert errors == ["empty file", f"file too large: more than {LIMIT} bytes"]


async def test_too_many_files_is_413(small_limit: GatewaySettings) -> None:
    files = [("files", (f"{n}.png", b"x", "image/png")) for n in range(4)]
    async with running_gateway(small_limit) as gw:
        response = await gw.post("/api/v1/images", files=files)
    assert response.status_code == 413
    assert response.json()["detail"] == "too many files: 4, at most 3 per request"


async def test_upload_without_files_is_422(small_limit: GatewaySettings) -> None:
    async with running_gateway(small_limit) as gw:
        response = await gw.post("/api/v1/images", data={"label": "Daphnia"})
    assert response.status_code == 422


async def test_search_upload_over_the_limit_is_413(small_limit: GatewaySettings) -> None:
    async with running_gateway(small_limit) as gw:
        response = await gw.post("/api/v1/search", files={"file": ("q.png", b"q" * (LIMIT + 1), "image/png")})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "query", ["k=0", "k=201", "k=ten", "metric=manhattan"], ids=["k0", "k201", "k-text", "metric"]
)
async def test_similar_query_validation(unreachable_settings: GatewaySettings, query: str) -> None:
    async with running_gateway(unreachable_settings) as gw:
        response = await gw.get(f"/api/v1/images/1/similar?{query}")
    assert response.status_code == 422


async def test_label_needs_a_taxon(unreachable_settings: GatewaySettings) -> None:
    async with running_gateway(unreachable_settings) as gw:
        blank = await gw.put("/api/v1/images/1/label", json={"taxon": "   "})
        missing = await gw.put("/api/v1/images/1/label", json={"annotator": "kim"})
    assert blank.status_code == 422
    assert missing.status_code == 422


async def test_read_limited_never_reads_past_limit_plus_one() -> None:
    source = io.BytesIO(b"p" * (10 * 1024 * 1024))
    with pytest.raises(UploadTooLarge):
        await read_limited(UploadFile(source), 3000)
    assert source.tell() == 3001


async def test_read_limited_returns_the_whole_file_at_the_limit() -> None:
    data = bytes(range(256)) * 12
    assert await read_limited(UploadFile(io.BytesIO(data)), len(data)) == data


def test_service_urls_are_required(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EMBEDDER", "SEARCH", "CATALOG"):
        monkeypatch.delenv(f"GATEWAY_{name}_URL", raising=False)
    monkeypatch.setenv("GATEWAY_EMBEDDER_URL", "http://127.0.0.1:8001")
    with pytest.raises(ValidationError, match="search_url"):
        GatewaySettings()
