"""Several model versions in one embedder: GET /v1/models, `model` on the embed and card routes,
the first configured model the default; the real ONNX models of the repository."""

import httpx
import numpy as np
import pytest

from nauplius.core.clients import EmbedderClient, FilePart
from services.embedder.config import EmbedderSettings
from services.embedder.main import create_app, served_models
from tests.support.data import REPO_ROOT, first_images
from tests.support.embedder import MODEL
from tests.support.service_key import SERVICE_HEADERS, SERVICE_KEY

SECOND = REPO_ROOT / "models" / "plankton-lite0-int8.onnx"


@pytest.fixture
async def client():
    settings = EmbedderSettings(model_paths=[MODEL, SECOND], threads=2)
    app = create_app(settings, service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://embedder", headers=SERVICE_HEADERS) as client:
        yield client


def _vector(body: dict) -> np.ndarray:
    return np.array(body["data"][0]["vector"], dtype=np.float32)


async def test_models_lists_every_card_the_first_the_default(client):
    body = (await client.get("/v1/models")).json()
    assert [card["name"] for card in body["data"]] == ["efficientnet-lite0-imagenet",
                                                       "plankton-lite0-int8"]
    assert body["default"] == "efficientnet-lite0-imagenet"
    assert (await client.get("/health")).json()["model"] == "efficientnet-lite0-imagenet"
    card = (await client.get("/v1/model", params={"model": "plankton-lite0-int8"})).json()
    assert card["name"] == "plankton-lite0-int8" and card["input_size"] == [128, 128]
    assert (await client.get("/v1/model")).json()["name"] == "efficientnet-lite0-imagenet"


async def test_embed_with_a_named_model_uses_that_model(client):
    jpeg = first_images("zoolake/daphnia")[0].read_bytes()
    files = [("files", ("a.jpeg", jpeg, "image/jpeg"))]
    default = (await client.post("/v1/embed", files=files)).json()
    second = (await client.post("/v1/embed", files=files,
                                params={"model": "plankton-lite0-int8"})).json()
    named_default = (await client.post("/v1/embed", files=files,
                                       params={"model": "efficientnet-lite0-imagenet"})).json()
    assert default["model"] == "efficientnet-lite0-imagenet"
    assert second["model"] == "plankton-lite0-int8" and second["dim"] == 1280
    np.testing.assert_array_equal(_vector(default), _vector(named_default))
    # Another model, another vector space: the same image lands elsewhere.
    assert float(_vector(default) @ _vector(second)) < 0.9


async def test_an_unknown_model_is_a_404_naming_it_and_the_served_ones(client):
    jpeg = first_images("zoolake/daphnia")[0].read_bytes()
    answer = await client.post("/v1/embed", files=[("files", ("a.jpeg", jpeg, "image/jpeg"))],
                               params={"model": "plankton-lite9"})
    assert answer.status_code == 404
    detail = answer.json()["detail"]
    assert "plankton-lite9" in detail and "plankton-lite0-int8" in detail
    assert (await client.get("/v1/model", params={"model": "nope"})).status_code == 404


async def test_the_client_sends_the_model_and_checks_the_answer_names_it(client):
    embedder = EmbedderClient(client, "http://embedder", SERVICE_KEY)
    cards = await embedder.model_cards()
    assert cards.default == "efficientnet-lite0-imagenet" and len(cards.data) == 2
    part = FilePart("a.jpeg", "image/jpeg", first_images("zoolake/daphnia")[0].read_bytes())
    [result] = await embedder.embed([part], encoding="base64", model="plankton-lite0-int8")
    assert result.vector_b64 is not None
    assert (await embedder.model_card("plankton-lite0-int8")).name == "plankton-lite0-int8"


def test_one_model_path_alone_stays_the_single_model_setting():
    assert EmbedderSettings(model_path=SECOND).served_paths() == [SECOND]
    assert EmbedderSettings(model_path=SECOND, model_paths=[MODEL]).served_paths() == [MODEL]


def test_two_files_with_one_card_name_are_refused_at_start():
    with pytest.raises(ValueError, match="share the card name 'plankton-lite0-int8'"):
        served_models(EmbedderSettings(model_paths=[SECOND, SECOND], threads=1))
