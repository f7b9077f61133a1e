import base64
import json

import httpx
import numpy as np
import pytest

from nauplius.core.clients import EmbedderClient, FilePart
from nauplius.core.contracts.embedder import ModelCard
from nauplius.core.preprocess import decode_image
from services.embedder.config import EmbedderSettings
from services.embedder.main import create_app
from tests.support.data import first_images
from tests.support.embedder import MODEL, encode
from tests.support.images import png_header_claiming
from tests.support.service_key import SERVICE_HEADERS, SERVICE_KEY

MAX_BYTES = 300_000


@pytest.fixture
async def client():
    settings = EmbedderSettings(model_path=MODEL, threads=2, max_image_bytes=MAX_BYTES)
    app = create_app(settings, service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://embedder",
                                     headers=SERVICE_HEADERS) as client:
            yield client


async def test_health_and_model_card(client):
    health = (await client.get("/health")).json()
    assert health == {"status": "ok", "service": "embedder", "model": "efficientnet-lite0-imagenet"}
    card = (await client.get("/v1/model")).json()
    # The file's card, with the TTA in use (this card names none: the default, "none").
    assert card == {**json.loads(MODEL.with_suffix(".json").read_text()), "tta": "none"}


async def test_a_batch_with_bad_files_embeds_the_good_ones(client, embedder):
    good = first_images("zoolake/daphnia", 1) + first_images("ndsb/amphipods", 1)
    jpeg = good[0].read_bytes()
    files = [
        ("files", ("a.jpeg", jpeg, "image/jpeg")),
        ("files", ("notes.txt", b"plankton notes, not pixels", "text/plain")),
        ("files", ("cut.jpeg", jpeg[: len(jpeg) // 2], "image/jpeg")),
        ("files", ("empty.png", b"", "image/png")),
        ("files", ("huge.bin", b"\xff\xd8" + bytes(MAX_BYTES), "image/jpeg")),
        ("files", ("bomb.png", png_header_claiming(60_000, 60_000), "image/png")),
        ("files", ("blank.png", encode(".png", np.zeros((7100, 7100), np.uint8)), "image/png")),
        ("files", ("b.jpg", good[1].read_bytes(), "image/jpeg")),
    ]
    response = await client.post("/v1/embed", files=files)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "efficientnet-lite0-imagenet" and body["dim"] == 1280
    data = body["data"]
    assert len(data) == len(files)
    errors = [entry["error"] for entry in data]
    assert errors[0] is None and errors[-1] is None
    assert "not an image" in errors[1]
    assert errors[2].startswith("UndecodableImage")
    assert "empty" in errors[3]
    assert errors[4].startswith("ImageTooLarge") and f"{MAX_BYTES} bytes" in errors[4]
    assert "60000x60000" in errors[5]
    assert "7100x7100" in errors[6]
    assert all(entry["vector"] is None for entry in data[1:-1])
    vectors = np.array([data[0]["vector"], data[-1]["vector"]], np.float32)
    expected = embedder.embed_images([decode_image(p.read_bytes(), 10**8) for p in good])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


async def test_base64_encoding_gives_the_same_vectors_as_float32_bytes(client):
    paths = first_images("zoolake/daphnia", 2)
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    plain = (await client.post("/v1/embed", files=files)).json()["data"]
    packed = (await client.post("/v1/embed", files=files, params={"encoding": "base64"})).json()["data"]
    assert all(entry["vector"] is None and entry["error"] is None for entry in packed)
    decoded = np.array([np.frombuffer(base64.b64decode(e["vector_b64"]), "<f4") for e in packed])
    np.testing.assert_array_equal(decoded, np.array([e["vector"] for e in plain], np.float32))
    refused = await client.post("/v1/embed", files=files, params={"encoding": "hex"})
    assert refused.status_code == 422 and "encoding" in refused.text


async def test_a_batch_where_every_file_fails_still_answers_200(client):
    broken = [("files", ("x.png", b"\x89PNG broken", "image/png"))]
    response = await client.post("/v1/embed", files=broken)
    assert response.status_code == 200
    assert response.json()["data"][0]["vector"] is None


@pytest.mark.parametrize("kwargs", [{}, {"files": [("file", ("a.png", b"x", "image/png"))]}])
async def test_no_file_is_a_400_naming_the_field(client, kwargs):
    response = await client.post("/v1/embed", **kwargs)
    assert response.status_code == 400, response.text
    assert "files" in response.json()["detail"]


async def test_text_in_the_files_field_is_a_422(client):
    response = await client.post("/v1/embed", data={"files": "text"})
    assert response.status_code == 422
    assert "UploadFile" in response.text


async def test_the_client_answers_the_card_and_per_file_results(client):
    embedder = EmbedderClient(client, "http://embedder", SERVICE_KEY)
    card = await embedder.model_card()
    assert isinstance(card, ModelCard) and card.name == "efficientnet-lite0-imagenet"
    assert card.model_dump(mode="json") == (await client.get("/v1/model")).json()
    path = first_images("zoolake/daphnia")[0]
    files = [FilePart(path.name, "image/jpeg", path.read_bytes()), FilePart("x.txt", "text/plain", b"x")]
    good, bad = await embedder.embed(files, encoding="base64")
    assert len(np.frombuffer(base64.b64decode(good.vector_b64), "<f4")) == card.output_dim
    assert good.vector is None and bad.vector_b64 is None and "not an image" in bad.error
