"""Embedded backend: Qdrant Edge shards per collection under SEARCH_DATA_DIR.

Layout: `<data_dir>/<collection>/` holds `collection.json` (the dim, the points per shard and, for
a collection created with binary codes, their `hamming` bits and seed), `.lock` (flock held while
open) and `shards/` (`edge_shards`: one Edge shard per range of `shard_points` ids). Edge runs no
background work: new points sit in a plain segment that queries scan exactly, and the HNSW index
is built only by `optimize()`. That holds the GIL for the whole build in qdrant-edge-py 0.9.0
(147 s at 200,000 x 1280-d), so this backend never runs it in the service: after
`optimize_delay_s` of write quiet on a shard it builds a copy in a child process (`edge_build`)
and swaps the copy in, one shard at a time. A query asks every shard and keeps the best.

Concurrency, as measured with qdrant-edge-py 0.9.0: concurrent `query`/`update`/`count` from
several threads gave no errors (the shard guards its segments itself), so queries take no lock.
Writes to a shard are serialised by its own lock, which a build also takes while it copies and
while it swaps.
"""
import asyncio
import contextlib
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from uuid import UUID

import anyio
import anyio.to_thread
import qdrant_edge as qe

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
    checked_matrix,
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
from services.search.backends.edge_build import BuildFailed, build_in_child
from services.search.backends.edge_shards import CURRENT, GENERATION, Member, write_current
from services.search.backends.shard_lock import FolderLock
from services.search.config import (
    DEFAULT_INDEXING_THRESHOLD_KB,
    DEFAULT_MAX_SHARDS,
    DEFAULT_SHARD_POINTS,
)
from services.search.errors import (
    CollectionDimensionConflict,
    CollectionNotFound,
    HammingUnavailable,
    PointNotFound,
    SearchError,
    TooManyShards,
)

logger = logging.getLogger("nauplius.search")

T = TypeVar("T")
NAME_PATTERN = re.compile(r"^[a-z0-9_-]+$")
META_FILE = "collection.json"
SHARDS_DIR = "shards"
LEGACY_SHARD_DIR = "shard"  # a collection made before shards: one Edge shard for every id
# Points per Edge update call: the call holds the GIL throughout (about 40 ms per 1,000 points of
# 1280-d here), so a large upsert goes in slices that let queries in between.
UPDATE_POINTS = 250
# A build that failed is tried again after this long, not at once (a full disk, a killed child).
BUILD_RETRY_S = 60.0
# An Edge shard cannot gain a named vector: an older collection is made again to get codes.
REMAKE_FOR_CODES = ("to get them, stop the search service (SEARCH_HAMMING_BITS must not be 0), "
                    "move its SEARCH_DATA_DIR/{name} folder away, start it again (the gateway "
                    "creates the collection anew) and run "
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
# The originals only: Edge would otherwise search binary codes in plain segments too.
EXACT = qe.SearchParams(quantization=qe.QuantizationSearchParams(ignore=True))
# With binary codes, a shard without an HNSW index is searched exactly below this many points
# (~3 ms for 20,000 x 1280-d) and through a scan of its codes, rescored, from there on.
EXACT_BELOW_POINTS = 20_000


class EdgeCollection:
    """One collection's shards and what the service keeps beside them."""

    def __init__(self, name: str, folder: Path, dim: int, codes: HammingCodes | None,
                 shard_points: int | None, config: qe.EdgeConfig, lock: FolderLock) -> None:
        self.name = name
        self.folder = folder
        self.dim = dim
        self.codes = codes
        self.shard_points = shard_points  # None: one shard holds every id (a legacy collection)
        self.config = config
        self.lock = lock
        self.members: dict[int, Member] = {}
        self._members_lock = threading.Lock()
        self.builder: asyncio.Task[None] | None = None

    @property
    def vectors_per_point(self) -> int:
        """Vectors Edge counts per indexed point: the code's (no graph) too, where kept."""
        return 1 if self.codes is None else 2

    def number(self, point_id: int) -> int:
        return 0 if self.shard_points is None else point_id // self.shard_points

    def shards(self) -> list[Member]:
        return [self.members[n] for n in sorted(self.members)]

    def grouped(self, ids: Iterable[int]) -> dict[Member, list[int]]:
        """The ids by the shard that holds them; ids of shards never made are left out."""
        groups: dict[Member, list[int]] = {}
        for point_id in dict.fromkeys(ids):
            member = self.members.get(self.number(point_id))
            if member is not None:
                groups.setdefault(member, []).append(point_id)
        return groups

    def member_for(self, number: int, max_shards: int) -> Member:
        member = self.members.get(number)
        if member is not None:
            return member
        with self._members_lock:
            if number not in self.members:
                if len(self.members) >= max_shards:
                    raise TooManyShards(self.name, max_shards, self.shard_points or 0)
                self.members[number] = Member.create(
                    number, self.folder / SHARDS_DIR / str(number), self.config, self._prepare)
            return self.members[number]

    @staticmethod
    def _prepare(shard: qe.EdgeShard) -> None:
        for key in PAYLOAD_KEYS:
            shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))

    def load_members(self) -> None:
        legacy = self.folder / LEGACY_SHARD_DIR
        if legacy.is_dir():  # made before shards: it becomes shard 0, generation 0, unopened
            target = self.folder / SHARDS_DIR / "0"
            target.mkdir(parents=True, exist_ok=True)
            legacy.rename(target / GENERATION.format(0))
            write_current(target, 0)
        for current in sorted((self.folder / SHARDS_DIR).glob(f"*/{CURRENT}")):
            number = int(current.parent.name)
            self.members[number] = Member.load(number, current.parent, self.config)

    def existing_ids(self, ids: Sequence[int]) -> dict[Member, list[int]]:
        found = {}
        for member, wanted in self.grouped(ids).items():
            with member.shard() as shard:
                records = shard.retrieve(list(wanted), with_payload=False, with_vector=False)
            if records:
                found[member] = [int(r.id) for r in records]
        return found

    def stored_vector(self, point_id: int, using: str | None = None) -> list[float] | None:
        member = self.members.get(self.number(point_id))
        if member is None:
            return None
        with member.shard() as shard:
            records = shard.retrieve([point_id], with_payload=False,
                                     with_vector=True if using is None else [using])
        return dense_vector(records[0].vector) if records else None

    def query(self, request_for: Callable[[Member], qe.QueryRequest], limit: int) -> list[Hit]:
        """Each shard's request asked of it; the best `limit` of all (ties by id)."""
        hits: list[Hit] = []
        for member in self.shards():
            request = request_for(member)
            with member.shard() as shard:
                hits += [Hit(id=int(p.id), score=p.score, payload=p.payload or {})
                         for p in shard.query(request)]
        return sorted(hits, key=lambda hit: (-hit.score, hit.id))[:limit]

    def close(self) -> None:
        for member in self.members.values():
            member.close()
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
        oversampling: float = 4.0,
        on_disk: bool = False,
        worker_threads: int = 4,
        hamming_bits: int = HAMMING_BITS,
        shard_points: int = DEFAULT_SHARD_POINTS,
        max_shards: int = DEFAULT_MAX_SHARDS,
    ) -> None:
        self.data_dir = Path(data_dir)
        # Bits of the binary codes of a collection created from now on (0: none, as before them).
        self.hamming_bits = hamming_bits
        self.optimize_delay_s = optimize_delay_s
        self.indexing_threshold_kb = indexing_threshold_kb
        self.quantization = quantization
        self.oversampling = oversampling
        self.on_disk = on_disk
        self.worker_threads = worker_threads
        self.shard_points = shard_points
        self.max_shards = max_shards
        self._collections: dict[str, EdgeCollection] = {}
        self._create_lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None
        self._build_slot: asyncio.Lock | None = None  # one build at a time: each takes the cores

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
            "qdrant edge at %s: %d collection(s), %d points per shard, builds after %.1f s quiet, "
            "quantization=%s", index.data_dir, len(index._collections), index.shard_points,
            index.optimize_delay_s, index.quantization,
        )
        return index

    # --- blocking helpers (run on worker threads) ---

    def _folder(self, name: str) -> Path:
        if not NAME_PATTERN.match(name):
            raise InvalidCollectionName(name)
        return self.data_dir / name

    def _config(self, dim: int, codes: HammingCodes | None) -> qe.EdgeConfig:
        quantization = None
        if self.quantization == "binary":
            quantization = qe.BinaryQuantizationConfig(
                memory=qe.Memory.Cached,
                query_encoding=qe.BinaryQuantizationQueryEncoding.Scalar8Bits)
        placement = qe.Memory.Cold if self.on_disk else None  # None: Edge's default, cached
        embedding = qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine, memory=placement)
        return qe.EdgeConfig(
            vectors=embedding if codes is None else {"": embedding, HAMMING_VECTOR: code_params(codes)},
            quantization_config=quantization,
            hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000,
                                           memory=placement),
            payload_memory=placement,
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
            collection = EdgeCollection(name, folder, dim, codes, meta.get("shard_points"),
                                        self._config(dim, codes), lock)
            collection.load_members()
        except BaseException:
            lock.release()
            raise
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
                codes = HammingCodes(dim, self.hamming_bits) if self.hamming_bits else None
                collection = EdgeCollection(name, folder, dim, codes, self.shard_points,
                                            self._config(dim, codes), lock)
                # Shards without collection.json are a creation cut short: they hold no points.
                for stale in (folder / SHARDS_DIR, folder / LEGACY_SHARD_DIR):
                    shutil.rmtree(stale, ignore_errors=True)
                tmp = folder / (META_FILE + ".tmp")
                meta = {"name": name, "dim": dim, "distance": "cosine",
                        "shard_points": self.shard_points,
                        **({"hamming": codes.record()} if codes else {})}
                tmp.write_text(json.dumps(meta))
                tmp.replace(folder / META_FILE)
            except BaseException:
                lock.release()
                raise
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

    # --- index builds, in a child process, one shard at a time ---

    def _touch(self, collection: EdgeCollection) -> None:
        if collection.builder is None or collection.builder.done():
            collection.builder = asyncio.get_running_loop().create_task(
                self._build_when_quiet(collection), name=f"build-{collection.name}"
            )

    async def _build_when_quiet(self, collection: EdgeCollection) -> None:
        while True:
            dirty = [m for m in collection.shards() if m.dirty]
            if not dirty:
                return
            now = time.monotonic()
            quiet = [m for m in dirty if now - m.last_write >= self.optimize_delay_s]
            if not quiet:
                await asyncio.sleep(min(m.last_write for m in dirty) + self.optimize_delay_s - now)
                continue
            for member in sorted(quiet, key=lambda m: m.last_write):
                try:
                    await self._build(collection, member, only_if_worth=True)
                except BuildFailed as failed:
                    logger.error("collection %s: %s; trying again in %.0f s", collection.name,
                                 failed, BUILD_RETRY_S)
                    member.last_write = time.monotonic() + BUILD_RETRY_S

    def _unindexed(self, collection: EdgeCollection, member: Member) -> int:
        with member.shard() as shard:
            info = shard.info()
        return info.points_count - info.indexed_vectors_count // collection.vectors_per_point

    async def _build(self, collection: EdgeCollection, member: Member, *, only_if_worth: bool) -> bool:
        """Build the shard's index in a child process and swap it in; False if there was nothing
        to build (with only_if_worth: too few unindexed points for an index, as Edge decides)."""
        if self._build_slot is None:
            self._build_slot = asyncio.Lock()
        async with self._build_slot:
            unindexed = await self._run(self._unindexed, collection, member)
            worth = unindexed * collection.dim * 4 / 1024 >= self.indexing_threshold_kb
            if unindexed == 0 or (only_if_worth and not worth):
                member.dirty = False
                return False
            built = await self._run(member.copy_for_build)
            try:
                seconds = await build_in_child(built)
            except BuildFailed:
                await self._run(member.abandon_build, built)
                raise
            except BaseException:  # cancelled: the service is closing
                member.abandon_build(built)
                raise
            started = time.perf_counter()
            await self._run(member.swap_in, built, collection.config)
            logger.info("collection %s: shard %d built in %.1f s (%d unindexed points), swapped "
                        "in %.3f s", collection.name, member.number, seconds, unindexed,
                        time.perf_counter() - started)
            return True

    async def optimize(self, name: str) -> bool:
        """Build the index of every shard that has unindexed points now, waiting for them."""
        collection = self._get(name)
        built = [await self._build(collection, member, only_if_worth=False)
                 for member in collection.shards()]
        return any(built)

    async def index_status(self, name: str) -> dict[str, int]:
        """Points, how many of them the HNSW index holds, segments, shards, builds under way."""
        collection = self._get(name)

        def status() -> dict[str, int]:
            points = indexed = segments = 0
            for member in collection.shards():
                with member.shard() as shard:
                    info = shard.info()
                points += info.points_count
                indexed += info.indexed_vectors_count
                segments += info.segments_count
            return {"points": points, "indexed": indexed // collection.vectors_per_point,
                    "segments": segments, "shards": len(collection.members),
                    "building": sum(m.build_log is not None for m in collection.shards()),
                    "pending": sum(m.dirty for m in collection.shards())}

        return await self._run(status)

    async def wait_optimized(self) -> None:
        """Wait for pending background builds (tests, benchmarks)."""
        tasks = [c.builder for c in self._collections.values() if c.builder is not None]
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

    async def drop_collection(self, name: str) -> int:
        """Forget the collection first (every later call on it is a 404), cancel its background
        build as close() does, then close its shards and remove its folder."""
        collection = self._get(name)
        del self._collections[name]
        if collection.builder is not None and not collection.builder.done():
            collection.builder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collection.builder
        return await self._run(self._remove, collection)

    def _remove(self, collection: EdgeCollection) -> int:
        points = 0
        for member in collection.shards():
            with member.shard() as shard:
                points += shard.count(qe.CountRequest(exact=True))
        collection.close()
        # Its record first: a removal cut short leaves no collection to load at the next start.
        (collection.folder / META_FILE).unlink(missing_ok=True)
        shutil.rmtree(collection.folder)
        logger.info("dropped collection %s (%d points) at %s", collection.name, points,
                    collection.folder)
        return points

    async def upsert(self, name: str, points: Sequence[PointRecord]) -> int:
        collection = self._get(name)
        if not points:
            return 0

        def write() -> None:  # all of it off the event loop: a batch is megabytes of floats
            matrix = checked_matrix(name, collection.dim, points)
            vectors = matrix.tolist()
            if collection.codes is None:
                stored: list[Any] = vectors
            else:
                codes = collection.codes.of(matrix).tolist()
                stored = [{"": v, HAMMING_VECTOR: code} for v, code in zip(vectors, codes, strict=True)]
            by_shard: dict[int, list[qe.Point]] = {}
            for point, vector in zip(points, stored, strict=True):
                by_shard.setdefault(collection.number(point.id), []).append(
                    qe.Point(point.id, vector, dict(point.payload)))
            members = {n: collection.member_for(n, self.max_shards) for n in by_shard}
            for number, shard_points in by_shard.items():
                for start in range(0, len(shard_points), UPDATE_POINTS):
                    members[number].update(qe.UpdateOperation.upsert_points(
                        shard_points[start:start + UPDATE_POINTS]))

        await self._run(write)
        self._touch(collection)
        return len(points)

    async def delete(self, name: str, ids: Sequence[int]) -> int:
        collection = self._get(name)

        def delete_existing() -> int:
            found = collection.existing_ids(ids)
            for member, existing in found.items():
                points: list[int | UUID | str] = list(existing)
                member.update(qe.UpdateOperation.delete_points(points))
            return sum(len(existing) for existing in found.values())

        deleted = await self._run(delete_existing)
        if deleted:
            self._touch(collection)
        return deleted

    async def set_payload(self, name: str, ids: Sequence[int], payload: Mapping[str, Any]) -> int:
        collection = self._get(name)

        def set_existing() -> int:
            found = collection.existing_ids(ids)
            for member, existing in found.items():
                points: list[int | UUID | str] = list(existing)
                member.update(qe.UpdateOperation.set_payload(points, dict(payload)),
                              changes_points=False)
            return sum(len(existing) for existing in found.values())

        return await self._run(set_existing)

    def _exact(self, member: Member) -> bool:
        """Whether a shard is searched on its original vectors only: always without binary
        codes; with them, while it is small (an exact scan costs a few ms and loses nothing)."""
        return self.quantization != "binary" or (not member.indexed
                                                 and member.points < EXACT_BELOW_POINTS)

    def _params(self, member: Member) -> qe.SearchParams | None:
        """With binary codes, a shard's codes (its HNSW graph over them, or a scan of them) give
        `oversampling` x k candidates, rescored on the originals."""
        if self.quantization != "binary":
            return None
        if self._exact(member):
            return EXACT
        return qe.SearchParams(quantization=qe.QuantizationSearchParams(
            rescore=True, oversampling=self.oversampling))

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
        if metric == "hamming":
            return await self._hamming_query(collection, vector, point_id, k, filter, rerank)

        def search() -> list[Hit]:
            if point_id is not None:
                query_vector = collection.stored_vector(point_id)
                if query_vector is None:
                    raise PointNotFound(name, point_id)
            else:
                query_vector = checked_query_vector(name, collection.dim, vector)
            nearest = qe.Query.Nearest([float(x) for x in query_vector])
            limit = k + (1 if point_id is not None else 0)
            return collection.query(lambda member: qe.QueryRequest(
                limit=limit, query=nearest, filter=build_filter(filter), with_payload=True,
                params=self._params(member)), limit)

        return finish_hits(await self._run(search), metric, k, exclude_id=point_id)

    async def _hamming_query(self, collection: EdgeCollection, vector: Sequence[float] | None,
                             point_id: int | None, k: int, filter: QueryFilter | None,
                             rerank: int) -> list[Hit]:
        codes = collection.codes
        if codes is None:
            raise HammingUnavailable(collection.name, REMAKE_FOR_CODES.format(name=collection.name))

        def target() -> list[float]:
            if point_id is None:
                return checked_query_vector(collection.name, collection.dim, vector)
            stored = collection.stored_vector(point_id, using="")
            if stored is None:
                raise PointNotFound(collection.name, point_id)
            return stored

        def points(query: qe.Query, limit: int, where: qe.Filter | None,
                   how: Callable[[Member], qe.SearchParams | None]) -> list[Hit]:
            return collection.query(lambda member: qe.QueryRequest(
                limit=limit, query=query, filter=where, with_payload=True, params=how(member)),
                limit)

        async def by_code(code: list[float], limit: int) -> list[Hit]:
            return await self._run(points, qe.Query.Nearest(code, using=HAMMING_VECTOR), limit,
                                   build_filter(filter), lambda member: FROM_BITS)

        async def cosine_among(query_vector: list[float], ids: list[int]) -> list[Hit]:
            among = qe.Filter(must=[qe.HasIdCondition(set(ids))])
            return await self._run(points, qe.Query.Nearest(query_vector), len(ids), among,
                                   self._params)

        return await hamming_query(codes, await self._run(target), k=k, rerank=rerank,
                                   exclude_id=point_id, by_code=by_code, cosine_among=cosine_among)

    async def query_batch(self, name: str, queries: Sequence[IndexQuery]) -> list[list[Hit]]:
        collection = self._get(name)
        if not queries:
            return []

        def search() -> list[list[Hit]]:
            stored = {}
            for member, ids in collection.grouped(
                    q.point_id for q in queries if q.point_id is not None).items():
                with member.shard() as shard:
                    records = shard.retrieve(list(ids), with_payload=False, with_vector=True)
                stored.update({int(r.id): dense_vector(r.vector) for r in records})
            vectors = batch_query_vectors(name, collection.dim, queries, stored)

            def batch(params: qe.SearchParams | None) -> qe.QueryBatchRequest:
                return qe.QueryBatchRequest([
                    qe.QueryRequest(limit=fetch_limit(q), query=qe.Query.Nearest(vector),
                                    filter=build_filter(q.filter), with_payload=True, params=params)
                    for q, vector in zip(queries, vectors, strict=True)])

            batches: dict[bool, qe.QueryBatchRequest] = {}  # by whether the shard is exact
            answers: list[list[Hit]] = [[] for _ in queries]
            for member in collection.shards():
                exact = self._exact(member)
                if exact not in batches:
                    batches[exact] = batch(self._params(member))
                with member.shard() as shard:
                    for hits, points in zip(answers, shard.query_batch(batches[exact]),
                                            strict=True):
                        hits += [Hit(id=int(p.id), score=p.score, payload=p.payload or {})
                                 for p in points]
            return [sorted(hits, key=lambda hit: (-hit.score, hit.id))[:fetch_limit(q)]
                    for q, hits in zip(queries, answers, strict=True)]

        answers = await self._run(search)
        return [finish_hits(hits, q.metric, q.k, exclude_id=q.point_id)
                for q, hits in zip(queries, answers, strict=True)]

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
        collection = self._get(name)
        examples = list(dict.fromkeys([*positive_ids, *negative_ids]))

        def search() -> list[Hit]:
            stored: dict[int, list[float]] = {}
            for member, ids in collection.grouped(examples).items():
                with member.shard() as shard:
                    records = shard.retrieve(list(ids), with_payload=False, with_vector=True)
                stored.update({int(r.id): dense_vector(r.vector) for r in records})
            positives, negatives = example_vectors(name, positive_ids, negative_ids, stored)
            if strategy == "average_vector":
                target = qe.Query.Nearest(average_vector(positives, negatives))
            else:
                examples_as: tuple[list[Any], list[Any]] = (list(positives), list(negatives))
                target = qe.Query.RecommendBestScore(qe.RecommendQuery(*examples_as))
            limit = k + len(examples)  # the examples themselves are among the nearest
            return collection.query(lambda member: qe.QueryRequest(
                limit=limit, query=target, filter=build_filter(filter), with_payload=True,
                params=self._params(member)), limit)

        return finish_recommendation(await self._run(search), examples, k)

    async def count(self, name: str) -> int:
        collection = self._get(name)

        def total() -> int:
            counted = 0
            for member in collection.shards():
                with member.shard() as shard:
                    counted += shard.count(qe.CountRequest(exact=True))
            return counted

        return await self._run(total)

    async def scroll(
        self, name: str, after_id: int | None, limit: int
    ) -> tuple[list[StoredPoint], int | None]:
        collection = self._get(name)
        first = 0 if after_id is None else after_id + 1

        def page() -> list[StoredPoint]:
            # One point more than asked: whether another page follows.
            points: list[StoredPoint] = []
            start = collection.number(first)
            for member in collection.shards():
                if member.number < start:
                    continue
                # Edge's offset is the first id of the page.
                request = qe.ScrollRequest(offset=first if member.number == start else None,
                                           limit=limit + 1 - len(points), with_payload=True,
                                           with_vector=False)
                with member.shard() as shard:
                    records, _ = shard.scroll(request)
                points += [StoredPoint(id=int(r.id), payload=r.payload or {}) for r in records]
                if len(points) > limit:
                    break
            return points

        points = await self._run(page)
        return points[:limit], (points[limit - 1].id if len(points) > limit else None)

    async def retrieve(self, name: str, ids: Sequence[int]) -> list[StoredPoint]:
        collection = self._get(name)
        if not ids:
            return []

        def fetch() -> list[Any]:
            records = []
            for member, wanted in collection.grouped(ids).items():
                with member.shard() as shard:
                    records += shard.retrieve(list(wanted), with_payload=True, with_vector=False)
            return records

        return in_asked_order(ids, await self._run(fetch))

    async def vectors(self, name: str, ids: Sequence[int]) -> list[PointVector]:
        collection = self._get(name)
        if not ids:
            return []

        def fetch() -> list[Any]:
            records = []
            for member, wanted in collection.grouped(ids).items():
                with member.shard() as shard:
                    records += shard.retrieve(list(wanted), with_payload=False, with_vector=True)
            return records

        return vectors_in_asked_order(ids, await self._run(fetch))

    async def health(self) -> dict[str, Any]:
        return {"backend": self.kind, "collections": sorted(self._collections)}

    async def close(self) -> None:
        for collection in self._collections.values():
            if collection.builder is not None and not collection.builder.done():
                collection.builder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await collection.builder
        await anyio.to_thread.run_sync(self._close_all)
