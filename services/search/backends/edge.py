"""Embedded backend: one Qdrant Edge shard per collection under SEARCH_DATA_DIR.

Layout: `<data_dir>/<collection>/` holds `collection.json` (the dim), `.lock` (flock held while
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
    PAYLOAD_KEYS,
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
    in_asked_order,
)
from services.search.backends.shard_lock import FolderLock
from services.search.config import DEFAULT_INDEXING_THRESHOLD_KB
from services.search.errors import (
    CollectionDimensionConflict,
    CollectionNotFound,
    PointNotFound,
    SearchError,
)

logger = logging.getLogger("nauplius.search")

T = TypeVar("T")
NAME_PATTERN = re.compile(r"^[a-z0-9_-]+$")
META_FILE = "collection.json"
SHARD_DIR = "shard"


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


class EdgeCollection:
    """One open shard and what the service keeps beside it."""

    def __init__(self, name: str, dim: int, shard: qe.EdgeShard, lock: FolderLock) -> None:
        self.name = name
        self.dim = dim
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
    ) -> None:
        self.data_dir = Path(data_dir)
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

    def _config(self, dim: int) -> qe.EdgeConfig:
        quantization = qe.BinaryQuantizationConfig(always_ram=True) if self.quantization == "binary" else None
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
            quantization_config=quantization,
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self.indexing_threshold_kb),
        )

    def _load(self, name: str) -> EdgeCollection:
        folder = self._folder(name)
        lock = FolderLock(folder)
        lock.acquire()
        try:
            dim = int(json.loads((folder / META_FILE).read_text())["dim"])
            shard = qe.EdgeShard.load(str(folder / SHARD_DIR), self._config(dim))
        except BaseException:
            lock.release()
            raise
        collection = EdgeCollection(name, dim, shard, lock)
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
                shard = qe.EdgeShard.create(str(folder / SHARD_DIR), self._config(dim))
                for key in PAYLOAD_KEYS:
                    shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
                shard.flush()
                tmp = folder / (META_FILE + ".tmp")
                tmp.write_text(json.dumps({"name": name, "dim": dim, "distance": "cosine"}))
                tmp.replace(folder / META_FILE)
            except BaseException:
                lock.release()
                raise
            collection = EdgeCollection(name, dim, shard, lock)
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
        info = await self._run(self._get(name).shard.info)
        return {"points": info.points_count, "indexed": info.indexed_vectors_count,
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
        operation = qe.UpdateOperation.upsert_points(
            [qe.Point(p.id, [float(x) for x in p.vector], dict(p.payload)) for p in points]
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
    ) -> list[Hit]:
        collection = self._get(name)
        params = None
        if self.quantization == "binary":
            params = qe.SearchParams(quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0))

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
