"""Backend for a Qdrant server or cluster through qdrant-client's async client.

Used when QDRANT_URL is set. Tests construct it over `AsyncQdrantClient(location=":memory:")`,
qdrant-client's local mode, which is exact numpy search with the same API.
"""
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from qdrant_client import AsyncQdrantClient, models

from nauplius.core.contracts.search import CollectionInfo, Hit, StoredPoint
from services.search.backends.base import (
    PAYLOAD_KEYS,
    Metric,
    PointRecord,
    QueryFilter,
    check_points,
    checked_query_vector,
    dense_vector,
    finish_hits,
    in_asked_order,
)
from services.search.errors import CollectionDimensionConflict, CollectionNotFound, PointNotFound

logger = logging.getLogger("nauplius.search")


def build_filter(filter: QueryFilter | None) -> models.Filter | None:
    if not filter:
        return None
    return models.Filter(must=[
        models.FieldCondition(key=key, match=models.MatchAny(any=value) if isinstance(value, list)
                              else models.MatchValue(value=value))
        for key, value in filter.items()
    ])


class QdrantServerIndex:
    """`VectorIndex` over a Qdrant server; pass `client` or `url` (+ `api_key`)."""

    kind = "qdrant-server"

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        client: AsyncQdrantClient | None = None,
        timeout_s: int = 30,
    ) -> None:
        if client is None:
            if url is None:
                raise ValueError("QdrantServerIndex needs a url or a client")
            # The client's version check runs in a thread at construction and fails noisily when
            # the server is not up yet; the service starts anyway and /health reports reachability.
            client = AsyncQdrantClient(
                url=url, api_key=api_key, timeout=timeout_s, check_compatibility=False
            )
        self.client = client
        self.url = url
        self._dims: dict[str, int] = {}

    async def _dim(self, name: str) -> int:
        dim = self._dims.get(name)
        if dim is None:
            if not await self.client.collection_exists(name):
                raise CollectionNotFound(name)
            info = await self.client.get_collection(name)
            vectors = info.config.params.vectors
            if not isinstance(vectors, models.VectorParams):  # we create one unnamed vector
                raise TypeError(f"collection {name} does not hold one unnamed vector")
            dim = vectors.size
            self._dims[name] = dim
        return dim

    async def ensure_collection(self, name: str, dim: int) -> CollectionInfo:
        if not await self.client.collection_exists(name):
            await self.client.create_collection(
                name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
            )
            for key in PAYLOAD_KEYS:
                await self.client.create_payload_index(name, key, models.PayloadSchemaType.KEYWORD)
            logger.info("created collection %s (dim %d) on %s", name, dim, self.url or "client")
        existing = await self._dim(name)
        if existing != dim:
            raise CollectionDimensionConflict(name, existing, dim)
        return await self.collection_info(name)

    async def collection_info(self, name: str) -> CollectionInfo:
        dim = await self._dim(name)
        return CollectionInfo(name=name, dim=dim, count=await self.count(name))

    async def upsert(self, name: str, points: Sequence[PointRecord]) -> int:
        check_points(name, await self._dim(name), points)
        if not points:
            return 0
        await self.client.upsert(
            name,
            points=[
                models.PointStruct(id=p.id, vector=[float(x) for x in p.vector], payload=dict(p.payload))
                for p in points
            ],
            wait=True,
        )
        return len(points)

    async def _existing_ids(self, name: str, ids: Sequence[int]) -> list[int]:
        await self._dim(name)
        records = await self.client.retrieve(name, list(ids), with_payload=False, with_vectors=False)
        return [int(r.id) for r in records]

    async def delete(self, name: str, ids: Sequence[int]) -> int:
        existing = await self._existing_ids(name, ids)
        if existing:
            points: list[int | str | UUID] = list(existing)
            await self.client.delete(name, models.PointIdsList(points=points), wait=True)
        return len(existing)

    async def set_payload(self, name: str, ids: Sequence[int], payload: Mapping[str, Any]) -> int:
        existing = await self._existing_ids(name, ids)
        if existing:
            points: list[int | str | UUID] = list(existing)
            await self.client.set_payload(name, dict(payload), points=points, wait=True)
        return len(existing)

    async def query(
        self,
        name: str,
        *,
        vector: Sequence[float] | None = None,
        point_id: int | None = None,
        k: int = 10,
        metric: Metric = "cosine",
        filter: QueryFilter | None = None,
    ) -> list[Hit]:
        dim = await self._dim(name)
        if point_id is not None:
            records = await self.client.retrieve(name, [point_id], with_payload=False, with_vectors=True)
            if not records:
                raise PointNotFound(name, point_id)
            query = dense_vector(records[0].vector)
        else:
            query = checked_query_vector(name, dim, vector)
        response = await self.client.query_points(
            name,
            query=query,
            limit=k + (1 if point_id is not None else 0),
            query_filter=build_filter(filter),
            with_payload=True,
        )
        hits = [Hit(id=int(p.id), score=p.score, payload=p.payload or {}) for p in response.points]
        return finish_hits(hits, metric, k, exclude_id=point_id)

    async def count(self, name: str) -> int:
        await self._dim(name)
        return (await self.client.count(name, exact=True)).count

    async def scroll(
        self, name: str, after_id: int | None, limit: int
    ) -> tuple[list[StoredPoint], int | None]:
        await self._dim(name)
        # Qdrant's offset is the first id of the page, ours the last id of the one before.
        records, next_offset = await self.client.scroll(
            name, limit=limit, offset=None if after_id is None else after_id + 1,
            with_payload=True, with_vectors=False,
        )
        points = [StoredPoint(id=int(r.id), payload=r.payload or {}) for r in records]
        return points, (points[-1].id if next_offset is not None and points else None)

    async def retrieve(self, name: str, ids: Sequence[int]) -> list[StoredPoint]:
        await self._dim(name)
        if not ids:
            return []
        records = await self.client.retrieve(name, list(ids), with_payload=True, with_vectors=False)
        return in_asked_order(ids, records)

    async def health(self) -> dict[str, Any]:
        collections = await self.client.get_collections()
        return {"backend": self.kind, "collections": sorted(c.name for c in collections.collections)}

    async def close(self) -> None:
        await self.client.close()
