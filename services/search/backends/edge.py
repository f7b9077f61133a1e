"""Embedded backend: one Qdrant Edge shard per collection under SEARCH_DATA_DIR.

Layout: `<data_dir>/<collection>/` holds `collection.json` (the dim and, for a collection created
with binary codes, their `hamming` bits and seed), `.lock` (flock held while
open) and `shard/` (the Edge shard). Edge runs no background work: new points sit in a plain
segment that queries scan exactly, and the HNSW index is built only by `optimize()`. This backend
runs it on a worker thread after `optimize_delay_s` of write quiet.

Concurrency, as measured with qdrant-edge-py 0.9.0: concurrent `query`/`update`/`count` from
several threads gave no errors (the shard guards its segments itself), so queries take no lock.
`optimize()` however holds the GIL for its whole run (seconds at 20k points), so while it runs no
other Python thread, and not the event loop either, makes progress. Writes and optimize are
serialised by a per-collection lock anyway so that a later binding that releases the GIL stays
safe.
"""
import asyncio
import contextlib
import functools
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from uuid import UUID

import anyio
import anyio.to_thread
import qdrant_edge as qe

from nauplius.core.contracts.search import CollectionInfo, Hit, StoredPoint
from services.search.backends.base import (
    HAMMING_BITS,
    HAMMING_VECTOR,
    PAYLOAD_KEYS,
    HammingCodes,
    IndexQuery,
    Metric,
    PointRecord,
    QueryFilter,
    batch_query_vectors,
    check_points,
    checked_query_vector,
    dense_vector,
    fetch_limit,
    finish_hits,
    hamming_query,
    in_asked_order,
)
from services.search.backends.shard_lock import FolderLock
from services.search.config import DEFAULT_INDEXING_THRESHOLD_KB
from services.search.errors import (
    CollectionDimensionConflict,
    CollectionNotFound,
    HammingUnavailable,
    PointNotFound,
    SearchError,
)

logger = logging.getLogger("nauplius.search")

T = TypeVar("T")
NAME_PATTERN = re.compile(r"^[a-z0-9_-]+$")
META_FILE = "collection.json"
SHARD_DIR = "shard"
# An Edge shard cannot gain a named vector: an older collection is made again to get codes.
REMAKE_FOR_CODES = ("to get them, stop the search service, move its SEARCH_DATA_DIR/{name} folder "
                    "away, start it again (the gateway creates the collection anew) and run "
                    "`nauplius reconcile --repair` to index every image again")


class InvalidCollectionName(SearchError):
    def __init__(self, name: str) -> None:
        super().__init__(f"collection name {name!r} must match [a-z0-9_-]+")


def build_filter(filter: QueryFilter | None) -> qe.Filter | None:
    if not filter:
        return None
    return qe.Filter(must=[
        qe.FieldCondition(key, match=qe.MatchAny(value) if isinstance(value, list)
                          else qe.MatchValue(value))
        for key, value in filter.items()
    ])


def code_params(codes: HammingCodes) -> qe.EdgeVectorParams:
    """The named vector of the codes: +1/-1 are exact in float16 (half the bytes of float32);
    no HNSW graph (m=0), so building the index costs nothing more and a query scans the codes
    exactly; Qdrant's binary quantization of a +1/-1 vector is its sign bits, kept in RAM."""
    return qe.EdgeVectorParams(
        size=codes.bits, distance=qe.Distance.Dot, datatype=qe.VectorStorageDatatype.Float16,
        hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000),
        quantization_config=qe.BinaryQuantizationConfig(always_ram=True),
    )


# A code's dot product straight from its 1-bit quantization (popcount), without re-reading the
# float16 values: for +1/-1 vectors the two are the same integer (25x faster at 2,000 points).
FROM_BITS = qe.SearchParams(quantization=qe.QuantizationSearchParams(rescore=False))


class EdgeCollection:
    """One open shard and what the service keeps beside it."""

    def __init__(self, name: str, dim: int, shard: qe.EdgeShard, lock: FolderLock,
                 codes: HammingCodes | None) -> None:
        self.name = name
        self.dim = dim
        self.codes = codes
        self.shard = shard
        self.lock = lock
        self.write_lock = threading.Lock()
        self.last_write = 0.0
        self.optimizer: asyncio.Task[None] | None = None

    def optimize(self) -> bool:
        with self.write_lock:
            started = time.perf_counter()
            changed = self.shard.optimize()
        info = self.shard.info()
        logger.info(
            "optimized collection %s in %.2f s (changed=%s, points=%d, indexed=%d, segments=%d)",
            self.name, time.perf_counter() - started, changed,
            info.points_count, info.indexed_vectors_count, info.segments_count,
        )
        return changed

    def update(self, operation: qe.UpdateOperation) -> None:
        with self.write_lock:
            self.shard.update(operation)

    def existing_ids(self, ids: Sequence[int]) -> list[int]:
        return [int(r.id) for r in self.shard.retrieve(list(ids), with_payload=False, with_vector=False)]

    def close(self) -> None:
        with self.write_lock:
            self.shard.flush()
            self.shard.close()
        self.lock.release()


class EdgeIndex:
    """`VectorIndex` over Qdrant Edge shards; open it with `EdgeIndex.open(...)`."""

    kind = "qdrant-edge"

    def __init__(
        self,
        data_dir: Path,
        *,
        optimize_delay_s: float = 5.0,
        indexing_threshold_kb: int = DEFAULT_INDEXING_THRESHOLD_KB,
        quantization: Literal["none", "binary"] = "none",
        worker_threads: int = 4,
        hamming_bits: int = HAMMING_BITS,
    ) -> None:
        self.data_dir = Path(data_dir)
        # Bits of the binary codes of a collection created from now on (0: none, as before them).
        self.hamming_bits = hamming_bits
        self.optimize_delay_s = optimize_delay_s
        self.indexing_threshold_kb = indexing_threshold_kb
        self.quantization = quantization
        self.worker_threads = worker_threads
        self._collections: dict[str, EdgeCollection] = {}
        self._create_lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None

    @classmethod
    def open(cls, data_dir: Path, **options: Any) -> "EdgeIndex":
        """Open every collection found in data_dir; raises ShardLocked if one is in use."""
        index = cls(data_dir, **options)
        index.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            for meta in sorted(index.data_dir.glob(f"*/{META_FILE}")):
                index._load(meta.parent.name)
        except BaseException:
            index._close_all()
            raise
        logger.info(
            "qdrant edge at %s: %d collection(s), optimize after %.1f s quiet, quantization=%s",
            index.data_dir, len(index._collections), index.optimize_delay_s, index.quantization,
        )
        return index

    # --- blocking helpers (run on worker threads) ---

    def _folder(self, name: str) -> Path:
        if not NAME_PATTERN.match(name):
            raise InvalidCollectionName(name)
        return self.data_dir / name

    def _config(self, dim: int, codes: HammingCodes | None) -> qe.EdgeConfig:
        quantization = qe.BinaryQuantizationConfig(always_ram=True) if self.quantization == "binary" else None
        embedding = qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)
        return qe.EdgeConfig(
            vectors=embedding if codes is None else {"": embedding, HAMMING_VECTOR: code_params(codes)},
            quantization_config=quantization,
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self.indexing_threshold_kb),
        )

    def _load(self, name: str) -> EdgeCollection:
        folder = self._folder(name)
        lock = FolderLock(folder)
        lock.acquire()
        try:
            meta = json.loads((folder / META_FILE).read_text())
            dim = int(meta["dim"])
            codes = HammingCodes(dim, **meta["hamming"]) if "hamming" in meta else None
            shard = qe.EdgeShard.load(str(folder / SHARD_DIR), self._config(dim, codes))
        except BaseException:
            lock.release()
            raise
        collection = EdgeCollection(name, dim, shard, lock, codes)
        self._collections[name] = collection
        return collection

    def _create(self, name: str, dim: int) -> EdgeCollection:
        with self._create_lock:
            if name in self._collections:
                return self._collections[name]
            folder = self._folder(name)
            folder.mkdir(parents=True, exist_ok=True)
            lock = FolderLock(folder)
            lock.acquire()
            try:
                # A shard without collection.json is a creation cut short: it holds no points.
                shutil.rmtree(folder / SHARD_DIR, ignore_errors=True)
                codes = HammingCodes(dim, self.hamming_bits) if self.hamming_bits else None
                shard = qe.EdgeShard.create(str(folder / SHARD_DIR), self._config(dim, codes))
                for key in PAYLOAD_KEYS:
                    shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
                shard.flush()
                tmp = folder / (META_FILE + ".tmp")
                meta = {"name": name, "dim": dim, "distance": "cosine",
                        **({"hamming": codes.record()} if codes else {})}
                tmp.write_text(json.dumps(meta))
                tmp.replace(folder / META_FILE)
            except BaseException:
                lock.release()
                raise
            collection = EdgeCollection(name, dim, shard, lock, codes)
            self._collections[name] = collection
            logger.info("created collection %s (dim %d) at %s", name, dim, folder)
            return collection

    def _close_all(self) -> None:
        for collection in self._collections.values():
            collection.close()
        self._collections.clear()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.worker_threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def _get(self, name: str) -> EdgeCollection:
        collection = self._collections.get(name)
        if collection is None:
            raise CollectionNotFound(name)
        return collection

    # --- background optimisation ---

    def _touch(self, collection: EdgeCollection) -> None:
        collection.last_write = time.monotonic()
        if collection.optimizer is None or collection.optimizer.done():
            collection.optimizer = asyncio.get_running_loop().create_task(
                self._optimize_when_quiet(collection), name=f"optimize-{collection.name}"
            )

    async def _optimize_when_quiet(self, collection: EdgeCollection) -> None:
        while True:
            wait = collection.last_write + self.optimize_delay_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            started = time.monotonic()
            try:
                await self._run(collection.optimize)
            except Exception:
                logger.exception("optimizing collection %s failed", collection.name)
                return
            if collection.last_write <= started:
                return

    async def optimize(self, name: str) -> bool:
        """Build the HNSW index now (also what the background task calls)."""
        return await self._run(self._get(name).optimize)

    async def index_status(self, name: str) -> dict[str, int]:
        """Points, how many of them the HNSW index holds, and segments."""
        collection = self._get(name)
        info = await self._run(collection.shard.info)
        # Edge counts every named vector of an indexed segment, the code's (no graph) too.
        vectors_per_point = 1 if collection.codes is None else 2
        return {"points": info.points_count,
                "indexed": info.indexed_vectors_count // vectors_per_point,
                "segments": info.segments_count}

    async def wait_optimized(self) -> None:
        """Wait for pending background optimisations (tests, benchmarks)."""
        tasks = [c.optimizer for c in self._collections.values() if c.optimizer is not None]
        await asyncio.gather(*tasks)

    # --- VectorIndex ---

    async def ensure_collection(self, name: str, dim: int) -> CollectionInfo:
        collection = self._collections.get(name)
        if collection is None:
            collection = await self._run(self._create, name, dim)
        if collection.dim != dim:
            raise CollectionDimensionConflict(name, collection.dim, dim)
        return await self.collection_info(name)

    async def collection_info(self, name: str) -> CollectionInfo:
        collection = self._get(name)
        return CollectionInfo(name=name, dim=collection.dim, count=await self.count(name))

    async def upsert(self, name: str, points: Sequence[PointRecord]) -> int:
        collection = self._get(name)
        check_points(name, collection.dim, points)
        if not points:
            return 0
        vectors = [[float(x) for x in p.vector] for p in points]
        if collection.codes is None:
            stored: list[Any] = vectors
        else:
            stored = [{"": v, HAMMING_VECTOR: code}
                      for v, code in zip(vectors, collection.codes.of(vectors), strict=True)]
        operation = qe.UpdateOperation.upsert_points(
            [qe.Point(p.id, v, dict(p.payload)) for p, v in zip(points, stored, strict=True)]
        )
        await self._run(collection.update, operation)
        self._touch(collection)
        return len(points)

    async def delete(self, name: str, ids: Sequence[int]) -> int:
        collection = self._get(name)

        def delete_existing() -> int:
            existing = collection.existing_ids(ids)
            if existing:
                points: list[int | UUID | str] = list(existing)
                collection.update(qe.UpdateOperation.delete_points(points))
            return len(existing)

        deleted = await self._run(delete_existing)
        if deleted:
            self._touch(collection)
        return deleted

    async def set_payload(self, name: str, ids: Sequence[int], payload: Mapping[str, Any]) -> int:
        collection = self._get(name)

        def set_existing() -> int:
            existing = collection.existing_ids(ids)
            if existing:
                points: list[int | UUID | str] = list(existing)
                collection.update(qe.UpdateOperation.set_payload(points, dict(payload)))
            return len(existing)

        return await self._run(set_existing)

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
        collection = self._get(name)
        params = None
        if self.quantization == "binary":
            params = qe.SearchParams(quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0))
        if metric == "hamming":
            return await self._hamming_query(collection, vector, point_id, k, filter, rerank, params)

        def search() -> list[Hit]:
            if point_id is not None:
                records = collection.shard.retrieve([point_id], with_payload=False, with_vector=True)
                if not records:
                    raise PointNotFound(name, point_id)
                query_vector = dense_vector(records[0].vector)
            else:
                query_vector = checked_query_vector(name, collection.dim, vector)
            request = qe.QueryRequest(
                limit=k + (1 if point_id is not None else 0),
                query=qe.Query.Nearest([float(x) for x in query_vector]),
                filter=build_filter(filter),
                with_payload=True,
                params=params,
            )
            return [Hit(id=int(p.id), score=p.score, payload=p.payload or {})
                    for p in collection.shard.query(request)]

        return finish_hits(await self._run(search), metric, k, exclude_id=point_id)

    async def _hamming_query(self, collection: EdgeCollection, vector: Sequence[float] | None,
                             point_id: int | None, k: int, filter: QueryFilter | None,
                             rerank: int, params: qe.SearchParams | None) -> list[Hit]:
        codes = collection.codes
        if codes is None:
            raise HammingUnavailable(collection.name, REMAKE_FOR_CODES.format(name=collection.name))

        def target() -> list[float]:
            if point_id is None:
                return checked_query_vector(collection.name, collection.dim, vector)
            records = collection.shard.retrieve([point_id], with_payload=False, with_vector=[""])
            if not records:
                raise PointNotFound(collection.name, point_id)
            return dense_vector(records[0].vector)

        def points(query: qe.Query, limit: int, where: qe.Filter | None,
                   how: qe.SearchParams | None) -> list[Hit]:
            request = qe.QueryRequest(limit=limit, query=query, filter=where, with_payload=True,
                                      params=how)
            return [Hit(id=int(p.id), score=p.score, payload=p.payload or {})
                    for p in collection.shard.query(request)]

        async def by_code(code: list[float], limit: int) -> list[Hit]:
            return await self._run(points, qe.Query.Nearest(code, using=HAMMING_VECTOR), limit,
                                   build_filter(filter), FROM_BITS)

        async def cosine_among(query_vector: list[float], ids: list[int]) -> list[Hit]:
            among = qe.Filter(must=[qe.HasIdCondition(set(ids))])
            return await self._run(points, qe.Query.Nearest(query_vector), len(ids), among, params)

        return await hamming_query(codes, await self._run(target), k=k, rerank=rerank,
                                   exclude_id=point_id, by_code=by_code, cosine_among=cosine_among)

    async def query_batch(self, name: str, queries: Sequence[IndexQuery]) -> list[list[Hit]]:
        collection = self._get(name)
        if not queries:
            return []
        params = None
        if self.quantization == "binary":
            params = qe.SearchParams(quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0))

        def search() -> list[list[Hit]]:
            ids: list[int | UUID | str] = list(
                dict.fromkeys(q.point_id for q in queries if q.point_id is not None))
            records = collection.shard.retrieve(ids, with_payload=False, with_vector=True) if ids else []
            stored = {int(r.id): dense_vector(r.vector) for r in records}
            vectors = batch_query_vectors(name, collection.dim, queries, stored)
            batch = qe.QueryBatchRequest([
                qe.QueryRequest(limit=fetch_limit(q), query=qe.Query.Nearest(vector),
                                filter=build_filter(q.filter), with_payload=True, params=params)
                for q, vector in zip(queries, vectors, strict=True)
            ])
            return [[Hit(id=int(p.id), score=p.score, payload=p.payload or {}) for p in points]
                    for points in collection.shard.query_batch(batch)]

        answers = await self._run(search)
        return [finish_hits(hits, q.metric, q.k, exclude_id=q.point_id)
                for q, hits in zip(queries, answers, strict=True)]

    async def count(self, name: str) -> int:
        collection = self._get(name)
        return await self._run(collection.shard.count, qe.CountRequest(exact=True))

    async def scroll(
        self, name: str, after_id: int | None, limit: int
    ) -> tuple[list[StoredPoint], int | None]:
        collection = self._get(name)
        # Edge's offset is the first id of the page, ours the last id of the one before.
        request = qe.ScrollRequest(offset=None if after_id is None else after_id + 1, limit=limit,
                                   with_payload=True, with_vector=False)
        records, next_offset = await self._run(collection.shard.scroll, request)
        points = [StoredPoint(id=int(r.id), payload=r.payload or {}) for r in records]
        return points, (points[-1].id if next_offset is not None and points else None)

    async def retrieve(self, name: str, ids: Sequence[int]) -> list[StoredPoint]:
        collection = self._get(name)
        if not ids:
            return []
        fetch = functools.partial(collection.shard.retrieve, list(ids),
                                  with_payload=True, with_vector=False)
        return in_asked_order(ids, await self._run(fetch))

    async def health(self) -> dict[str, Any]:
        return {"backend": self.kind, "collections": sorted(self._collections)}

    async def close(self) -> None:
        for collection in self._collections.values():
            if collection.optimizer is not None and not collection.optimizer.done():
                collection.optimizer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await collection.optimizer
        await anyio.to_thread.run_sync(self._close_all)
