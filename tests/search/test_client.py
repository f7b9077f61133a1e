"""SearchClient against the real search app (both backends): answers are the contract's models."""

import base64
import json

import httpx
import numpy as np
import pytest

from nauplius.core.clients import SearchClient
from nauplius.core.contracts.search import (
    CollectionInfo,
    Hit,
    IndexStatus,
    PointIn,
    ScrollResponse,
    StoredPoint,
)
from nauplius.core.errors import DownstreamFailed, DownstreamRejected
from tests.support.search import LOCAL_INDEX_WARNING, unit_vectors
from tests.support.service_key import SERVICE_KEY

pytestmark = pytest.mark.filterwarnings(LOCAL_INDEX_WARNING)

DIM = 16


def b64(vector) -> str:
    return base64.b64encode(vector.astype("<f4").tobytes()).decode()


async def test_every_call_answers_its_model(client):
    search = SearchClient(client, "http://search", SERVICE_KEY)
    created = await search.ensure_collection("plankton", DIM)
    assert created == CollectionInfo(name="plankton", dim=DIM, count=0)
    vectors = unit_vectors(5, DIM, seed=1)
    points = [PointIn(id=i, vector_b64=b64(v), payload={"label": "copepod", "state": None})
              for i, v in enumerate(vectors)]
    assert await search.upsert("plankton", points) == 5
    assert await search.set_payload("plankton", [1, 99], {"state": "validated"}) == 1
    hits = await search.query("plankton", k=2, metric="cosine", image_id=0)
    assert all(isinstance(h, Hit) for h in hits) and 0 not in [h.id for h in hits]
    [hit] = await search.query("plankton", k=1, metric="cosine", vector=vectors[1].tolist(),
                               filter={"state": "validated"})
    assert hit.id == 1 and hit.payload == {"label": "copepod", "state": "validated"}
    page = await search.scroll("plankton", limit=3)
    assert isinstance(page, ScrollResponse) and [p.id for p in page.data] == [0, 1, 2]
    assert (await search.scroll("plankton", page.next_after_id, 3)).next_after_id is None
    assert await search.retrieve("plankton", [4, 7, 2]) == [
        StoredPoint(id=4, payload={"label": "copepod", "state": None}),
        StoredPoint(id=2, payload={"label": "copepod", "state": None})]
    stored = await search.vectors("plankton", [4, 99, 2])
    assert [p.id for p in stored] == [4, 2]
    assert np.allclose(stored[0].vector, vectors[4], atol=1e-6)
    assert await search.delete("plankton", [3, 4, 50]) == 2
    assert await search.count("plankton") == 3
    assert (await search.collection_info("plankton")).count == 3
    status = await search.index_status("plankton")
    assert isinstance(status, IndexStatus) and status.points == 3 and status.building == 0
    with pytest.raises(DownstreamRejected) as missing:
        await search.count("nope")
    assert missing.value.status_code == 404


async def test_points_travel_as_given_and_a_broken_answer_is_a_failure():
    sent: list = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/points"):
            sent.extend(json.loads(request.content)["points"])
            return httpx.Response(200, json={"upserted": 1})
        return httpx.Response(200, json={"data": [{"id": 1}]})  # a hit without score or payload

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        search = SearchClient(http, "http://search", SERVICE_KEY)
        vector = b64(unit_vectors(1, DIM)[0])
        point = PointIn(id=7, vector_b64=vector, payload={"label": None})
        assert await search.upsert("plankton", [point]) == 1
        # base64 stays base64 on the way (a quarter of the JSON numbers' size)
        assert sent == [{"id": 7, "vector_b64": vector, "payload": {"label": None}}]
        with pytest.raises(DownstreamFailed):
            await search.query("plankton", k=1, metric="cosine", image_id=1)
