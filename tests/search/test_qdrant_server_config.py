"""What the Qdrant server adapter asks a server for: the requests qdrant-client really sends.

No Qdrant server can run here and qdrant-client's local mode ignores the layout (it records
neither shards nor quantization), so the real client talks to an `httpx.MockTransport` that
records each request and answers as a server would. tests/search/test_congruence.py covers the
results; this covers the collection layout and the query-time search parameters.
"""
import json
from typing import Any

import httpx
import pytest
from qdrant_client import AsyncQdrantClient, models

from services.search.backends.base import IndexQuery, PointRecord
from services.search.backends.qdrant_server import UPSERT_BATCH, CollectionLayout, QdrantServerIndex
from services.search.config import SearchSettings
from services.search.main import open_index

DIM = 1280


class RecordingQdrant:
    """Answers the calls `ensure_collection` and `query` make; keeps every request body."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.created: dict[str, Any] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        path = request.url.path
        if path.endswith("/exists"):
            return ok({"exists": self.created is not None})
        if request.method == "PUT" and path == "/collections/plankton":
            self.created = body
            return ok(True)
        if path == "/collections/plankton/index":
            return ok({"operation_id": 1, "status": "completed"})
        if request.method == "GET" and path == "/collections/plankton":
            return ok(self.collection_info())
        if request.method == "PUT" and path == "/collections/plankton/points":
            return ok({"operation_id": len(self.requests), "status": "completed"})
        if path.endswith("/points/count"):
            return ok({"count": 0})
        if path.endswith("/points/query"):
            return ok({"points": [{"id": 3, "version": 1, "score": 0.5, "payload": {}}]})
        if path.endswith("/points/query/batch"):
            return ok([{"points": []} for _ in (body or {})["searches"]])
        return httpx.Response(404, json={"status": {"error": f"not recorded: {path}"}})

    def collection_info(self) -> dict[str, Any]:
        assert self.created is not None
        return models.CollectionInfo(
            status=models.CollectionStatus.GREEN, optimizer_status=models.OptimizersStatusOneOf.OK,
            segments_count=1, payload_schema={},
            config=models.CollectionConfig(
                params=models.CollectionParams.model_validate({"vectors": self.created["vectors"]}),
                metadata=self.created.get("metadata"),
                hnsw_config=models.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10000),
                optimizer_config=models.OptimizersConfig(
                    deleted_threshold=0.2, vacuum_min_vector_number=1000, default_segment_number=0,
                    flush_interval_sec=5),
                wal_config=models.WalConfig(wal_capacity_mb=32, wal_segments_ahead=0)),
        ).model_dump(mode="json", exclude_none=True)

    def embedding_vector(self) -> dict[str, Any]:
        """The parameters of the embedding: the one unnamed vector, alone or beside named ones."""
        assert self.created is not None
        vectors: dict[str, Any] = self.created["vectors"]
        return vectors if "size" in vectors else vectors[""]

    def bodies(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in self.requests if (m, p) == (method, path)]


def ok(result: Any) -> httpx.Response:
    return httpx.Response(200, json={"result": result, "status": "ok", "time": 0.0})


def index_over(server: RecordingQdrant, layout: CollectionLayout | None = None) -> QdrantServerIndex:
    client = AsyncQdrantClient(url="http://qdrant.test:6333", check_compatibility=False,
                               transport=httpx.MockTransport(server))
    return QdrantServerIndex(client=client, layout=layout)


async def test_a_new_collection_is_made_for_a_million_images():
    server = RecordingQdrant()
    index = index_over(server)
    try:
        info = await index.ensure_collection("plankton", DIM)
    finally:
        await index.close()
    assert info.dim == DIM
    created = server.created
    assert created is not None
    assert server.embedding_vector() == {"size": DIM, "distance": "Cosine", "on_disk": True}
    assert created["quantization_config"] == {
        "binary": {"always_ram": True, "query_encoding": "scalar8bits"}}
    assert created["hnsw_config"] == {"on_disk": False}
    assert (created["shard_number"], created["replication_factor"]) == (1, 1)
    assert created["on_disk_payload"] is True
    indexes = {body["field_name"]: body["field_schema"]
               for body in server.bodies("PUT", "/collections/plankton/index")}
    assert indexes == {key: {"type": "keyword", "is_tenant": key == "project"}
                       for key in ("label", "state", "instrument", "sample", "project")}


async def test_an_existing_collection_is_left_as_it_was_made():
    server = RecordingQdrant()
    for layout in (CollectionLayout(), CollectionLayout(shards=6, replicas=2)):
        index = index_over(server, layout)
        try:
            await index.ensure_collection("plankton", DIM)
        finally:
            await index.close()
    assert len(server.bodies("PUT", "/collections/plankton")) == 1
    assert server.created is not None and server.created["shard_number"] == 1


async def test_queries_search_the_binary_codes_and_rescore_with_oversampling():
    server = RecordingQdrant()
    index = index_over(server, CollectionLayout(oversampling=4.0))
    try:
        await index.ensure_collection("plankton", DIM)
        hits = await index.query("plankton", vector=[1.0] * DIM, k=10, filter={"label": "copepod"})
    finally:
        await index.close()
    assert [h.id for h in hits] == [3]
    [query] = server.bodies("POST", "/collections/plankton/points/query")
    assert query["params"]["quantization"] == {"rescore": True, "oversampling": 4.0}
    assert query["filter"] == {"must": [{"key": "label", "match": {"value": "copepod"}}]}


async def test_a_batch_of_queries_asks_each_for_the_same_rescoring():
    server = RecordingQdrant()
    index = index_over(server)
    try:
        await index.ensure_collection("plankton", DIM)
        await index.query_batch("plankton", [IndexQuery(vector=[1.0] * DIM, k=10),
                                             IndexQuery(vector=[0.5] * DIM, k=5)])
    finally:
        await index.close()
    [batch] = server.bodies("POST", "/collections/plankton/points/query/batch")
    assert [q["params"]["quantization"] for q in batch["searches"]] == [
        {"rescore": True, "oversampling": 10.0}] * 2


async def test_without_quantization_neither_codes_nor_rescoring_are_asked_for():
    server = RecordingQdrant()
    index = index_over(server, CollectionLayout(quantization="none", vectors_on_disk=False))
    try:
        await index.ensure_collection("plankton", DIM)
        await index.query("plankton", vector=[1.0] * DIM, k=5)
    finally:
        await index.close()
    assert server.created is not None
    assert server.created.get("quantization_config") is None
    assert server.embedding_vector()["on_disk"] is False
    [query] = server.bodies("POST", "/collections/plankton/points/query")
    assert "params" not in query or query["params"] is None


async def test_a_large_upsert_goes_in_requests_a_server_takes():
    server = RecordingQdrant()
    index = index_over(server)
    n = 2 * UPSERT_BATCH + 7
    try:
        await index.ensure_collection("plankton", DIM)
        upserted = await index.upsert("plankton", [PointRecord(i, [1.0] * DIM, {"label": "copepod"})
                                                   for i in range(n)])
    finally:
        await index.close()
    batches = server.bodies("PUT", "/collections/plankton/points")
    assert upserted == n and [len(b["points"]) for b in batches] == [UPSERT_BATCH, UPSERT_BATCH, 7]
    assert [p["id"] for b in batches for p in b["points"]] == list(range(n))
    assert max(len(json.dumps(b)) for b in batches) < 32 * 1024 * 1024


async def test_the_layout_comes_from_the_search_settings(monkeypatch):
    monkeypatch.setenv("QDRANT_URL", "http://qdrant-lb:6333")
    for name, value in {"SEARCH_QDRANT_SHARDS": "6", "SEARCH_QDRANT_REPLICAS": "2",
                        "SEARCH_QDRANT_HNSW_ON_DISK": "true",
                        "SEARCH_QDRANT_OVERSAMPLING": "2.5"}.items():
        monkeypatch.setenv(name, value)
    index = open_index(SearchSettings())
    assert isinstance(index, QdrantServerIndex)
    await index.close()
    assert index.layout == CollectionLayout(shards=6, replicas=2, hnsw_on_disk=True,
                                            oversampling=2.5)


@pytest.mark.parametrize("variable, value", [("SEARCH_QDRANT_SHARDS", "0"),
                                             ("SEARCH_QDRANT_OVERSAMPLING", "0.5"),
                                             ("SEARCH_QDRANT_QUANTIZATION", "scalar")])
def test_a_layout_qdrant_cannot_take_is_refused_at_start(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable.removeprefix("SEARCH_").lower()):
        SearchSettings()
