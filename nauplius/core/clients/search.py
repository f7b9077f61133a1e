"""Client of the search service (`/v1/collections/...`); answers are its contracts' models."""

from collections.abc import Sequence
from typing import Any

from nauplius.core.clients.base import Json, M, ServiceClient
from nauplius.core.contracts.search import (
    DEFAULT_STRATEGY,
    MAX_BATCH_QUERIES,
    MAX_IDS,
    MAX_VECTOR_IDS,
    CollectionDropped,
    CollectionInfo,
    CountResponse,
    DeleteResponse,
    Hit,
    IndexStatus,
    PayloadResponse,
    PointIn,
    PointVector,
    QueryBatchResponse,
    QueryRequest,
    QueryResponse,
    RetrieveResponse,
    ScrollResponse,
    StoredPoint,
    UpsertResponse,
    VectorsResponse,
)

# Most hits one batch answer may hold (each ~100 bytes of JSON with its payload).
MAX_BATCH_HITS = 20_000


class SearchClient(ServiceClient):
    service = "search"

    async def _on(self, answer: type[M], method: str, path: str, **kw: Any) -> M:
        """A call under /v1/collections/, answered as the contract model `answer`."""
        return await self._ask(answer, method, f"/v1/collections/{path}", **kw)

    async def ensure_collection(self, name: str, dim: int) -> CollectionInfo:
        return await self._on(CollectionInfo, "PUT", name, json={"dim": dim})

    async def collection_info(self, name: str) -> CollectionInfo:
        return await self._on(CollectionInfo, "GET", name)

    async def drop_collection(self, name: str) -> int:
        """Remove the collection with its points; returns how many it held (404 unknown)."""
        return (await self._on(CollectionDropped, "DELETE", name)).dropped

    async def count(self, collection: str) -> int:
        return (await self._on(CountResponse, "GET", f"{collection}/count")).count

    async def index_status(self, collection: str) -> IndexStatus:
        return await self._on(IndexStatus, "GET", f"{collection}/index")

    async def upsert(self, collection: str, points: Sequence[PointIn]) -> int:
        body = {"points": [p.model_dump(mode="json", exclude_unset=True) for p in points]}
        return (await self._on(UpsertResponse, "PUT", f"{collection}/points", json=body)).upserted

    async def delete(self, collection: str, ids: Sequence[int]) -> int:
        answer = await self._on(DeleteResponse, "POST", f"{collection}/points/delete",
                                 json={"ids": list(ids)})
        return answer.deleted

    async def set_payload(self, collection: str, ids: Sequence[int], payload: Json) -> int:
        """Merge payload keys into these points; returns how many of them exist."""
        answer = await self._on(PayloadResponse, "POST", f"{collection}/points/payload",
                                 json={"ids": list(ids), "payload": payload})
        return answer.updated

    async def query(
        self,
        collection: str,
        *,
        k: int,
        metric: str,
        image_id: int | None = None,
        vector: list[float] | None = None,
        label: str | None = None,
        filter: Json | None = None,
        projects: Sequence[int] | None = None,
        rerank: int = 0,
    ) -> list[Hit]:
        """`projects`: only points of these projects (None: any project; []: none at all);
        `rerank`: with metric "hamming", re-order that many nearest by exact cosine."""
        if projects is not None and not projects:
            return []
        body: Json = {"k": k, "metric": metric}
        if rerank:
            body["rerank"] = rerank
        if image_id is not None:
            body["id"] = image_id
        else:
            body["vector"] = vector
        conditions = {**(filter or {}), **({"label": label} if label is not None else {})}
        if projects is not None:
            conditions["project"] = [str(project) for project in projects]
        if conditions:
            body["filter"] = conditions
        return (await self._on(QueryResponse, "POST", f"{collection}/query", json=body)).data

    async def recommend(
        self,
        collection: str,
        *,
        positive_ids: Sequence[int],
        negative_ids: Sequence[int] = (),
        k: int = 10,
        filter: Json | None = None,
        projects: Sequence[int] | None = None,
        strategy: str = DEFAULT_STRATEGY,
    ) -> list[Hit]:
        """Points most like the positives and unlike the negatives (POST .../recommend);
        `projects` as in `query`."""
        if projects is not None and not projects:
            return []
        body: Json = {"positive_ids": list(positive_ids), "negative_ids": list(negative_ids),
                      "k": k, "strategy": strategy}
        conditions = dict(filter or {})
        if projects is not None:
            conditions["project"] = [str(project) for project in projects]
        if conditions:
            body["filter"] = conditions
        return (await self._on(QueryResponse, "POST", f"{collection}/recommend", json=body)).data

    async def query_batch(self, collection: str, queries: Sequence[QueryRequest]) -> list[list[Hit]]:
        """What `query` answers to each (any number), in order; sent MAX_BATCH_QUERIES at a time,
        fewer where k is large, so that no answer holds more than MAX_BATCH_HITS hits."""
        answers: list[list[Hit]] = []
        start = 0
        while start < len(queries):
            size = max(1, min(MAX_BATCH_QUERIES, MAX_BATCH_HITS // queries[start].k))
            body = {"queries": [q.model_dump(mode="json", exclude_none=True)
                                for q in queries[start:start + size]]}
            answers += (await self._on(QueryBatchResponse, "POST", f"{collection}/query/batch",
                                       json=body)).data
            start += size
        return answers

    async def scroll(
        self, collection: str, after_id: int | None = None, limit: int = 1000
    ) -> ScrollResponse:
        """One page of every point in id order (no vectors); pass its `next_after_id` on."""
        body = {"after_id": after_id, "limit": limit}
        return await self._on(ScrollResponse, "POST", f"{collection}/points/scroll", json=body)

    async def vectors(self, collection: str, ids: Sequence[int]) -> list[PointVector]:
        """The stored embeddings among these ids (any number), in the order asked."""
        found: list[PointVector] = []
        for start in range(0, len(ids), MAX_VECTOR_IDS):
            page = await self._on(VectorsResponse, "POST", f"{collection}/points/vectors",
                                  json={"ids": list(ids[start:start + MAX_VECTOR_IDS])})
            found += page.data
        return found

    async def retrieve(self, collection: str, ids: Sequence[int]) -> list[StoredPoint]:
        """The points among these ids (any number), in the order asked; no vectors."""
        found: list[StoredPoint] = []
        for start in range(0, len(ids), MAX_IDS):
            page = await self._on(RetrieveResponse, "POST", f"{collection}/points/retrieve",
                                   json={"ids": list(ids[start:start + MAX_IDS])})
            found += page.data
        return found
