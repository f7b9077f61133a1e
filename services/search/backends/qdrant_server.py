"""Backend for a Qdrant server or cluster through qdrant-client's async client.

Used when QDRANT_URL is set. Tests construct it over `AsyncQdrantClient(location=":memory:")`,
qdrant-client's local mode, which is exact numpy search with the same API.
"""
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from qdrant_client import AsyncQdrantClient, models

from nauplius.core.contracts.search import (
    DEFAULT_STRATEGY,
    CollectionInfo,
    Hit,
    PointVector,
    RecommendStrategy,
    StoredPoint,
)
from services.search.backends.base import (
    HAMMING_BITS,
    HAMMING_VECTOR,
    PAYLOAD_KEYS,
    HammingCodes,
    IndexQuery,
    Metric,
    PointRecord,
    QueryFilter,
    average_vector,
    batch_query_vectors,
    check_points,
    checked_query_vector,
    dense_vector,
    example_vectors,
    fetch_limit,
    finish_hits,
    finish_recommendation,
    hamming_query,
    in_asked_order,
    vectors_in_asked_order,
)
from services.search.config import SearchSettings
from services.search.errors import (
    CollectionDimensionConflict,
    CollectionNotFound,
    HammingUnavailable,
    PointNotFound,
)

logger = logging.getLogger("nauplius.search")
# A collection's vectors cannot gain a named vector: an older collection is made again for codes.
REMAKE_FOR_CODES = ("to get them, set SEARCH_HAMMING_BITS (not 0), delete the collection on the "
                    "Qdrant server, restart the gateway "
                    "(it creates the collection anew) and run `nauplius reconcile --repair` to "
                    "index every image again")

# Points per upsert request: 256 vectors of 1280-d are ~7 MB of JSON, well under a server's
# request cap (32 MB by default, 64 in deploy/qdrant/config.yaml), whatever the caller sends.
UPSERT_BATCH = 256


def build_filter(filter: QueryFilter | None) -> models.Filter | None:
    if not filter:
        return None
    return models.Filter(must=[
        models.FieldCondition(key=key, match=models.MatchAny(any=value) if isinstance(value, list)
                              else models.MatchValue(value=value))
        for key, value in filter.items()
    ])


# The embedding's 1-bit codes, kept in RAM and searched with the query in 8 bits (asymmetric):
# the same memory as 1-bit queries, better candidates (docs/deployment.md: on real embeddings,
# recall@10 at oversampling 3 rose from 0.943 to 0.983 at 3,000 images).
EMBEDDING_CODES = models.BinaryQuantization(binary=models.BinaryQuantizationConfig(
    always_ram=True, query_encoding=models.BinaryQuantizationQueryEncoding.SCALAR8BITS))


@dataclass(frozen=True)
class CollectionLayout:
    """How a new collection is laid out on the server: by default for a million-plus images
    (vectors on disk, 1-bit codes in RAM, rescored). qdrant-client's local mode ignores all of it
    but the vector size and distance."""

    shards: int = 1
    replicas: int = 1
    vectors_on_disk: bool = True
    hnsw_on_disk: bool = False
    quantization: Literal["none", "binary"] = "binary"
    oversampling: float = 10.0
    hamming_bits: int = HAMMING_BITS  # 0: no binary codes (no metric=hamming)

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> "CollectionLayout":
        return cls(shards=settings.qdrant_shards, replicas=settings.qdrant_replicas,
                   vectors_on_disk=settings.qdrant_on_disk, hnsw_on_disk=settings.qdrant_hnsw_on_disk,
                   quantization=settings.qdrant_quantization,
                   oversampling=settings.qdrant_oversampling, hamming_bits=settings.hamming_bits)

    def create_request(self, dim: int) -> models.CreateCollection:
        """The embedding as the unnamed vector, its binary code beside it unless hamming_bits is
        0 (as on Edge: +1/-1 in float16 under Dot, no HNSW graph, its 1-bit quantization in RAM);
        bits and seed in the collection's metadata."""
        embedding = models.VectorParams(size=dim, distance=models.Distance.COSINE,
                                        on_disk=self.vectors_on_disk)
        vectors: dict[str, models.VectorParams] = {"": embedding}
        metadata = None
        if self.hamming_bits:
            codes = HammingCodes(dim, self.hamming_bits)
            binary = models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
            vectors[HAMMING_VECTOR] = models.VectorParams(
                size=codes.bits, distance=models.Distance.DOT, datatype=models.Datatype.FLOAT16,
                on_disk=self.vectors_on_disk, hnsw_config=models.HnswConfigDiff(m=0),
                quantization_config=binary)
            metadata = {"hamming": codes.record()}
        return models.CreateCollection(
            vectors=vectors,
            metadata=metadata,
            shard_number=self.shards,
            replication_factor=self.replicas,
            on_disk_payload=True,
            hnsw_config=models.HnswConfigDiff(on_disk=self.hnsw_on_disk),
            quantization_config=EMBEDDING_CODES if self.quantization == "binary" else None,
        )

    def search_params(self) -> models.SearchParams | None:
        """Query-time: search the codes for `oversampling` x k candidates, rescore on originals."""
        if self.quantization == "none":
            return None
        return models.SearchParams(quantization=models.QuantizationSearchParams(
            rescore=True, oversampling=self.oversampling))


# Every filterable key is a string; `project` is the tenant key of the scoped searches, which
# Qdrant then stores together per project.
PAYLOAD_INDEXES = {key: models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD,
                                                  is_tenant=key == "project")
                   for key in PAYLOAD_KEYS}


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
        layout: CollectionLayout | None = None,
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
        self.layout = layout or CollectionLayout()
        self._dims: dict[str, int] = {}
        self._codes: dict[str, HammingCodes | None] = {}

    async def _dim(self, name: str) -> int:
        dim = self._dims.get(name)
        if dim is None:
            if not await self.client.collection_exists(name):
                raise CollectionNotFound(name)
            info = await self.client.get_collection(name)
            vectors = info.config.params.vectors
            codes = None
            if isinstance(vectors, dict) and "" in vectors:  # the embedding, with its code or not
                dim = vectors[""].size
                record = (info.config.metadata or {}).get("hamming", {})
                if HAMMING_VECTOR in vectors:
                    codes = HammingCodes(dim, bits=vectors[HAMMING_VECTOR].size,
                                         seed=record.get("seed", 0))
            elif isinstance(vectors, models.VectorParams):  # a collection made before the codes
                dim = vectors.size
            else:
                raise TypeError(f"collection {name} does not hold an unnamed vector")
            self._codes[name] = codes
            self._dims[name] = dim
        return dim

    def _stored(self, name: str, points: Sequence[PointRecord]) -> list[Any]:
        """What each point stores: its vector, with its code where the collection keeps codes."""
        vectors = [[float(x) for x in p.vector] for p in points]
        codes = self._codes[name]
        if codes is None:
            return vectors
        return [{"": v, HAMMING_VECTOR: c}
                for v, c in zip(vectors, codes.of(vectors).tolist(), strict=True)]

    async def ensure_collection(self, name: str, dim: int) -> CollectionInfo:
        if not await self.client.collection_exists(name):
            request = self.layout.create_request(dim)
            await self.client.create_collection(
                name, vectors_config=request.vectors, shard_number=request.shard_number,
                replication_factor=request.replication_factor,
                on_disk_payload=request.on_disk_payload, hnsw_config=request.hnsw_config,
                quantization_config=request.quantization_config, metadata=request.metadata,
            )
            for key, schema in PAYLOAD_INDEXES.items():
                await self.client.create_payload_index(name, key, schema, wait=True)
            logger.info("created collection %s (dim %d) on %s: %s", name, dim,
                        self.url or "client", self.layout)
        existing = await self._dim(name)
        if existing != dim:
            raise CollectionDimensionConflict(name, existing, dim)
        return await self.collection_info(name)

    async def collection_info(self, name: str) -> CollectionInfo:
        dim = await self._dim(name)
        return CollectionInfo(name=name, dim=dim, count=await self.count(name))

    async def drop_collection(self, name: str) -> int:
        await self._dim(name)
        points = await self.count(name)
        await self.client.delete_collection(name)
        self._dims.pop(name, None)
        self._codes.pop(name, None)
        logger.info("dropped collection %s (%d points) on %s", name, points, self.url or "client")
        return points

    async def upsert(self, name: str, points: Sequence[PointRecord]) -> int:
        check_points(name, await self._dim(name), points)
        if not points:
            return 0
        for start in range(0, len(points), UPSERT_BATCH):
            batch = points[start:start + UPSERT_BATCH]
            await self.client.upsert(
                name,
                points=[
                    models.PointStruct(id=p.id, vector=v, payload=dict(p.payload))
                    for p, v in zip(batch, self._stored(name, batch), strict=True)
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
        rerank: int = 0,
    ) -> list[Hit]:
        dim = await self._dim(name)
        codes = self._codes[name]
        if metric == "hamming" and codes is None:
            raise HammingUnavailable(name, REMAKE_FOR_CODES)
        if point_id is not None:
            records = await self.client.retrieve(name, [point_id], with_payload=False, with_vectors=[""])
            if not records:
                raise PointNotFound(name, point_id)
            query = dense_vector(records[0].vector)
        else:
            query = checked_query_vector(name, dim, vector)
        if metric == "hamming":
            assert codes is not None
            return await self._hamming_query(name, codes, query, point_id, k, filter, rerank)
        response = await self.client.query_points(
            name,
            query=query,
            limit=k + (1 if point_id is not None else 0),
            query_filter=build_filter(filter),
            search_params=self.layout.search_params(),
            with_payload=True,
        )
        hits = [Hit(id=int(p.id), score=p.score, payload=p.payload or {}) for p in response.points]
        return finish_hits(hits, metric, k, exclude_id=point_id)

    async def _hamming_query(self, name: str, codes: HammingCodes, vector: list[float],
                             point_id: int | None, k: int, filter: QueryFilter | None,
                             rerank: int) -> list[Hit]:
        async def by_code(code: list[float], limit: int) -> list[Hit]:
            response = await self.client.query_points(
                name, query=code, using=HAMMING_VECTOR, limit=limit,
                query_filter=build_filter(filter), with_payload=True)
            return [Hit(id=int(p.id), score=p.score, payload=p.payload or {}) for p in response.points]

        async def cosine_among(query_vector: list[float], ids: list[int]) -> list[Hit]:
            among: list[int | str | UUID] = list(ids)
            response = await self.client.query_points(
                name, query=query_vector, limit=len(ids), with_payload=True,
                # so few points are scored one by one on the originals: exact
                query_filter=models.Filter(must=[models.HasIdCondition(has_id=among)]))
            return [Hit(id=int(p.id), score=p.score, payload=p.payload or {}) for p in response.points]

        return await hamming_query(codes, vector, k=k, rerank=rerank, exclude_id=point_id,
                                   by_code=by_code, cosine_among=cosine_among)

    async def query_batch(self, name: str, queries: Sequence[IndexQuery]) -> list[list[Hit]]:
        dim = await self._dim(name)
        if not queries:
            return []
        ids = list(dict.fromkeys(q.point_id for q in queries if q.point_id is not None))
        records = (await self.client.retrieve(name, ids, with_payload=False, with_vectors=[""])
                   if ids else [])
        stored = {int(r.id): dense_vector(r.vector) for r in records}
        vectors = batch_query_vectors(name, dim, queries, stored)
        responses = await self.client.query_batch_points(name, requests=[
            models.QueryRequest(query=vector, limit=fetch_limit(q), filter=build_filter(q.filter),
                                params=self.layout.search_params(), with_payload=True)
            for q, vector in zip(queries, vectors, strict=True)
        ])
        return [finish_hits([Hit(id=int(p.id), score=p.score, payload=p.payload or {})
                             for p in response.points], q.metric, q.k, exclude_id=q.point_id)
                for q, response in zip(queries, responses, strict=True)]

    async def recommend(
        self,
        name: str,
        *,
        positive_ids: Sequence[int],
        negative_ids: Sequence[int] = (),
        k: int = 10,
        filter: QueryFilter | None = None,
        strategy: RecommendStrategy = DEFAULT_STRATEGY,
    ) -> list[Hit]:
        await self._dim(name)
        examples = list(dict.fromkeys([*positive_ids, *negative_ids]))
        records = await self.client.retrieve(name, examples, with_payload=False, with_vectors=[""])
        stored = {int(r.id): dense_vector(r.vector) for r in records}
        positives, negatives = example_vectors(name, positive_ids, negative_ids, stored)
        # As vectors, not ids, so that both backends score the same request.
        target: models.RecommendQuery | list[float]
        if strategy == "average_vector":
            target = average_vector(positives, negatives)
        else:
            target = models.RecommendQuery(recommend=models.RecommendInput(
                positive=list(positives), negative=list(negatives),
                strategy=models.RecommendStrategy.BEST_SCORE))
        response = await self.client.query_points(
            name, query=target, limit=k + len(examples), query_filter=build_filter(filter),
            search_params=self.layout.search_params(), with_payload=True)
        hits = [Hit(id=int(p.id), score=p.score, payload=p.payload or {}) for p in response.points]
        return finish_recommendation(hits, examples, k)

    async def index_status(self, name: str) -> dict[str, int]:
        await self._dim(name)
        info = await self.client.get_collection(name)
        vectors_per_point = 1 if self._codes[name] is None else 2
        return {"points": info.points_count or 0,
                "indexed": (info.indexed_vectors_count or 0) // vectors_per_point,
                "segments": info.segments_count or 0, "shards": info.config.params.shard_number or 1,
                "building": int(info.status != models.CollectionStatus.GREEN), "pending": 0}

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

    async def vectors(self, name: str, ids: Sequence[int]) -> list[PointVector]:
        await self._dim(name)
        if not ids:
            return []
        records = await self.client.retrieve(name, list(ids), with_payload=False, with_vectors=[""])
        return vectors_in_asked_order(ids, records)

    async def health(self) -> dict[str, Any]:
        collections = await self.client.get_collections()
        return {"backend": self.kind, "collections": sorted(c.name for c in collections.collections)}

    async def close(self) -> None:
        await self.client.close()
