"""The gateway's door (gateway/perimeter.py) with keys on, in front of the real catalog
(PostgreSQL), search (Qdrant Edge) and embedder (ONNX) apps in-process: the key before the body,
body caps while it streams, paging caps, the docs behind a key, spreadsheet-safe CSV, private
caching, and with keys off the client header on every write.

A body is sent as a generator that counts what the server pulled from it, so a test sees how
much of a body the gateway read before it answered.
"""

import csv
import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Literal

import httpx
import pytest
import pytest_asyncio

from gateway.config import GatewaySettings
from nauplius.core.contracts.gateway import CLIENT_HEADER
from tests.support.data import ZOOLAKE
from tests.support.gateway import running_gateway
from tests.support.services import in_process_services

pytestmark = pytest.mark.asyncio(loop_scope="module")

MB = 1024 * 1024
MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}
FORMULA_NAME = '=HYPERLINK("http://x","y").jpg'


@dataclass
class World:
    gw: httpx.AsyncClient  # keys on
    open_gw: httpx.AsyncClient  # GATEWAY_AUTH=off, over the same services
    admin: dict[str, str] = field(default_factory=dict)
    viewer: dict[str, str] = field(default_factory=dict)
    image_id: int = 0


class CountedBody:
    """A request body of `size` bytes in 64 KiB chunks that counts how many the server pulled."""

    def __init__(self, size: int, head: bytes = b"") -> None:
        self.size, self.head, self.pulled = size, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b"x" * (64 * 1024)
        if self.head:
            self.pulled += len(self.head)
            yield self.head
        while self.pulled < self.size:
            self.pulled += len(chunk)
            yield chunk


def _file_part(field: str) -> bytes:
    """The start of a multipart body whose one file, in `field`, the CountedBody goes on with."""
    return (f'--b\r\nContent-Disposition: form-data; name="{field}"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()


def _settings(auth: Literal["on", "off"]) -> GatewaySettings:
    return GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                           catalog_url="http://catalog", auth=auth)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("perimeter")
    key_file = tmp / "admin-api-key"
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(in_process_services(tmp, "nauplius_perimeter"))
        gw = await stack.enter_async_context(running_gateway(_settings("on"), services))
        open_gw = await stack.enter_async_context(running_gateway(_settings("off"), services))
        w = World(gw, open_gw, admin=_bearer(key_file.read_text().strip()))
        person = await gw.post("/api/v1/annotators", json={"name": "Vera", "institution": "Eawag"},
                               headers=w.admin)
        assert person.status_code == 201, person.text
        key = await gw.post("/api/v1/api-keys", json={"annotator_id": person.json()["id"],
                                                      "role": "viewer"}, headers=w.admin)
        assert key.status_code == 201, key.text
        w.viewer = _bearer(key.json()["key"])
        picture = sorted((ZOOLAKE / "daphnia").iterdir())[0].read_bytes()
        uploaded = await gw.post("/api/v1/images", headers=w.admin, data={"label": "daphnia"},
                                 files=[("files", (FORMULA_NAME, picture, "image/jpeg"))])
        assert uploaded.status_code == 200, uploaded.text
        w.image_id = uploaded.json()["data"][0]["id"]
        yield w


# --- the key before the body ------------------------------------------------------------------
async def test_an_unkeyed_30_mb_body_is_a_401_and_never_read(world: World) -> None:
    body = CountedBody(30 * MB)
    answer = await world.gw.post("/api/v1/similar", content=body,
                                 headers={"Content-Type": "application/json"})
    assert answer.status_code == 401
    assert "API key" in answer.json()["detail"]
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert body.pulled == 0


async def test_an_unknown_key_is_a_401_before_the_body(world: World) -> None:
    body = CountedBody(30 * MB)
    answer = await world.gw.post("/api/v1/similar", content=body, headers=_bearer("npl_unknown"))
    assert answer.status_code == 401
    assert answer.json()["detail"] == "unknown or revoked API key"
    assert body.pulled == 0


async def test_an_unkeyed_multipart_upload_is_a_401_and_nothing_is_spooled(world: World) -> None:
    body = CountedBody(30 * MB, _file_part("files"))
    answer = await world.gw.post("/api/v1/images", content=body, headers=MULTIPART)
    assert answer.status_code == 401
    assert body.pulled == 0


async def test_a_viewers_archive_is_a_403_before_it_is_spooled(world: World) -> None:
    body = CountedBody(30 * MB, _file_part("archive"))
    answer = await world.gw.post("/api/v1/jobs", content=body, headers={**world.viewer, **MULTIPART})
    assert answer.status_code == 403
    assert answer.json()["detail"] == "this needs the annotator role; your key is viewer"
    assert body.pulled == 0


# --- body caps -----------------------------------------------------------------------------------
async def test_a_keyed_body_over_the_cap_is_a_413_as_it_passes_it(world: World) -> None:
    body = CountedBody(30 * MB)  # streamed: no Content-Length, only counting can stop it
    answer = await world.gw.post("/api/v1/similar", content=body, headers={
        **world.viewer, "Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["detail"] == (
        "request body too large: /api/v1/similar takes at most 1048576 bytes (GATEWAY_MAX_BODY_BYTES)")
    assert body.pulled < 2 * MB


async def test_a_content_length_over_the_cap_is_a_413_at_once(world: World) -> None:
    body = CountedBody(30 * MB)
    answer = await world.gw.post("/api/v1/similar", content=body, headers={
        **world.viewer, "Content-Type": "application/json", "Content-Length": str(30 * MB)})
    assert answer.status_code == 413
    assert "at most 1048576 bytes" in answer.json()["detail"]
    assert body.pulled == 0


async def test_the_query_image_route_takes_an_image_not_more(world: World) -> None:
    body = CountedBody(30 * MB, _file_part("file"))
    answer = await world.gw.post("/api/v1/search", content=body, headers={**world.viewer, **MULTIPART})
    assert answer.status_code == 413
    assert answer.json()["detail"].endswith(f"at most {20 * MB + 64 * 1024} bytes (GATEWAY_MAX_UPLOAD_BYTES)")
    assert body.pulled < 21 * MB


async def test_a_body_under_the_cap_still_works(world: World) -> None:
    answer = await world.gw.post("/api/v1/similar", json={"image_ids": [world.image_id]},
                                 headers=world.viewer)
    assert answer.status_code == 200, answer.text


# --- paging caps ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "parameter"), [
    ("/api/v1/images?offset=100001", "offset"),
    ("/api/v1/review?offset=100001", "offset"),
    ("/api/v1/images?limit=501", "limit"),
    ("/api/v1/review?limit=201", "limit"),
    ("/api/v1/jobs?limit=201", "limit"),
    ("/api/v1/images/1/similar?k=201", "k"),
])
async def test_paging_over_its_cap_is_a_422_naming_the_parameter(world: World, url: str,
                                                                 parameter: str) -> None:
    answer = await world.gw.get(url, headers=world.viewer)
    assert answer.status_code == 422, answer.text
    assert ["query", parameter] in [error["loc"] for error in answer.json()["detail"]]


async def test_paging_at_the_cap_is_answered(world: World) -> None:
    answer = await world.gw.get("/api/v1/images?offset=100000", headers=world.viewer)
    assert answer.status_code == 200
    assert answer.json()["data"] == []


# --- what needs a key and what stays open ---------------------------------------------------------
@pytest.mark.parametrize("url", ["/docs", "/redoc", "/openapi.json", "/api/v1/model", "/api/v1/nothing"])
async def test_docs_and_the_model_card_need_a_key(world: World, url: str) -> None:
    answer = await world.gw.get(url)
    assert answer.status_code == 401
    assert "API key" in answer.json()["detail"]


@pytest.mark.parametrize("url", ["/docs", "/openapi.json", "/api/v1/model"])
async def test_docs_and_the_model_card_open_with_a_viewers_key_or_cookie(world: World, url: str) -> None:
    assert (await world.gw.get(url, headers=world.viewer)).status_code == 200
    key = world.viewer["Authorization"].removeprefix("Bearer ")
    cookie = await world.gw.get(url, headers={"Cookie": f"nauplius_api_key={key}"})
    assert cookie.status_code == 200


async def test_the_page_and_health_stay_open(world: World) -> None:
    for url in ("/", "/index.html", "/static/app.js", "/health"):
        assert (await world.gw.get(url)).status_code == 200, url


# --- exports and caching --------------------------------------------------------------------------
async def test_a_formula_filename_reaches_the_csv_as_text(world: World) -> None:
    answer = await world.gw.get("/api/v1/export?format=csv", headers=world.viewer)
    assert answer.status_code == 200
    [row] = list(csv.DictReader(io.StringIO(answer.text)))
    assert row["filename"].startswith("'=HYPERLINK(")
    assert row["image_id"] == str(world.image_id)  # numbers untouched


@pytest.mark.parametrize("part", ["file", "thumbnail"])
async def test_image_bytes_are_cached_privately(world: World, part: str) -> None:
    answer = await world.gw.get(f"/api/v1/images/{world.image_id}/{part}", headers=world.viewer)
    assert answer.status_code == 200
    cache_control = answer.headers["Cache-Control"]
    assert "private" in cache_control and "public" not in cache_control


async def test_exports_are_kept_by_no_cache(world: World) -> None:
    answer = await world.gw.get("/api/v1/export?format=dwca", headers=world.viewer)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "private, no-store"


# --- keys off: the client header on writes ----------------------------------------------------------
async def test_keys_off_a_write_without_the_client_header_is_a_403(world: World) -> None:
    request = world.open_gw.build_request("POST", "/api/v1/projects", json={"name": "forged"})
    del request.headers[CLIENT_HEADER]  # what a cross-site form sends
    answer = await world.open_gw.send(request)
    assert answer.status_code == 403
    assert CLIENT_HEADER in answer.json()["detail"]
    names = [p["name"] for p in (await world.open_gw.get("/api/v1/projects")).json()["data"]]
    assert "forged" not in names


async def test_keys_off_a_write_with_the_client_header_works(world: World) -> None:
    answer = await world.open_gw.post("/api/v1/projects", json={"name": "from the page"})
    assert answer.status_code == 201, answer.text


async def test_keys_off_a_read_needs_no_header(world: World) -> None:
    request = world.open_gw.build_request("GET", "/api/v1/projects")
    del request.headers[CLIENT_HEADER]
    assert (await world.open_gw.send(request)).status_code == 200
