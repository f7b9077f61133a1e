"""The one interface both search backends implement, and what they share.

Vectors are stored for cosine distance. The service also answers `metric=euclidean`: for unit
vectors |a - b|^2 = 2 - 2 cos(a, b), so the Euclidean distance is a monotone function of the
cosine and both metrics rank the points identically. One stored vector per image therefore serves
both metrics; only the reported score and its order (ascending) change.

`metric=hamming` ranks by the Hamming distance between binary codes of the vectors: the signs of
`bits` seeded random hyperplane projections (`nauplius.core.hamming`, as `nauplius eval --metric
hamming`). A collection created with codes keeps each point's code as a second named vector,
`hamming`, of +1/-1 values under Dot distance: dot = bits - 2 * Hamming, so the backend's own
search over it ranks exactly by Hamming distance and every payload filter applies unchanged. The
service derives the code at upsert; bits and seed are fixed when the collection is created and
recorded with it. Points tied on distance are ordered by id, whichever order a backend gives them.
"""

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nauplius.core.contracts.search import (
    DEFAULT_STRATEGY,
    CollectionInfo,
    Hit,
    PointVector,
    RecommendStrategy,
    StoredPoint,
)
from nauplius.core.contracts.search import Metric as Metric  # re-exported for the backends
from nauplius.core.hamming import estimated_cosine, hyperplanes, signed_codes
from services.search.errors import DimensionMismatch, InvalidVector, PointNotFound, PointsNotFound

# The named vector that holds a point's binary code (+1/-1) in a collection created with codes;
# its vector of the embedding stays the unnamed (default) one.
HAMMING_VECTOR = "hamming"
# What a new collection's codes are (512 bits: as `nauplius eval --metric hamming`'s default, which
# costs the shipped model under a point of NDSB top-1, docs/benchmarks.md).
HAMMING_BITS = 512
HAMMING_SEED = 0
COSINE_TIE_DECIMALS = 6
# Payload keys that get a keyword index and may be used in a query filter.
PAYLOAD_KEYS = ("label", "state", "instrument", "sample", "project")
# A query filter: per key, the value a point must have, or a list of values it may have one of.
QueryFilter = Mapping[str, str | list[str]]


@dataclass(frozen=True)
class PointRecord:
    id: int
    vector: Sequence[float] | np.ndarray
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexQuery:
    """One query of a batch: the arguments of `VectorIndex.query`."""

    vector: Sequence[float] | None = None
    point_id: int | None = None
    k: int = 10
    metric: Metric = "cosine"
    filter: QueryFilter | None = None
    rerank: int = 0


@runtime_checkable
class VectorIndex(Protocol):
    """A set of named collections of unit vectors keyed by catalog image id."""

    kind: str

    async def ensure_collection(self, name: str, dim: int) -> CollectionInfo:
        """Create the collection, or check that it exists with this dim (idempotent)."""

    async def collection_info(self, name: str) -> CollectionInfo: ...

    async def drop_collection(self, name: str) -> int:
        """Remove the collection and every point in it (a retired model version's); returns how
        many points it held. An unknown one raises CollectionNotFound."""

    async def upsert(self, name: str, points: Sequence[PointRecord]) -> int:
        """Insert or replace points; refuses the whole batch if any vector has the wrong dim."""

    async def delete(self, name: str, ids: Sequence[int]) -> int:
        """Delete points by id; returns how many existed."""

    async def set_payload(self, name: str, ids: Sequence[int], payload: Mapping[str, Any]) -> int:
        """Merge payload keys into existing points; returns how many existed."""

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
        """Nearest points to a vector or to a stored point (never returned itself), best first;
        `rerank`: see `hamming_query`. metric=hamming on a collection without codes raises
        HammingUnavailable."""

    async def query_batch(self, name: str, queries: Sequence[IndexQuery]) -> list[list[Hit]]:
        """What `query` answers to each, in order, found in one call to the backend (one pass
        over the segments on Edge, one request to a server)."""

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
        """The k points most like the positives and unlike the negatives, best first (ties by
        id), never an example; the examples' stored vectors are fetched once and given to the
        backend as vectors (an Edge shard cannot resolve another shard's ids). Unknown examples
        raise PointsNotFound naming them."""

    async def count(self, name: str) -> int: ...

    async def index_status(self, name: str) -> dict[str, int]:
        """points, indexed (held by the HNSW index; the rest is searched exactly), segments,
        shards, building (index builds under way), pending (shards waiting for a build)."""

    async def scroll(
        self, name: str, after_id: int | None, limit: int
    ) -> tuple[list[StoredPoint], int | None]:
        """Up to `limit` points after `after_id` in id order, and the cursor of the next page
        (the last id returned; None once no point follows)."""

    async def retrieve(self, name: str, ids: Sequence[int]) -> list[StoredPoint]:
        """The points among these ids, in the order asked, each once."""

    async def vectors(self, name: str, ids: Sequence[int]) -> list[PointVector]:
        """The stored embeddings of the points among these ids, in the order asked, each once."""

    async def health(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


def dense_vector(stored: object) -> list[float]:
    """A stored point's vector of the embedding: the unnamed dense vector (beside its code in a
    collection with Hamming codes, where the backend answers a dict of named vectors)."""
    if isinstance(stored, dict) and "" in stored:
        stored = stored[""]
    if not isinstance(stored, list) or not all(isinstance(x, int | float) for x in stored):
        raise TypeError(f"not a dense vector: {type(stored).__name__}")
    return [float(x) for x in stored]


def checked_query_vector(collection: str, dim: int, vector: Sequence[float] | None) -> list[float]:
    """The checked query vector of a query by vector."""
    if vector is None:
        raise InvalidVector("give a vector or a point id")
    check_vector(collection, dim, vector)
    return [float(x) for x in vector]


def batch_query_vectors(collection: str, dim: int, queries: Sequence[IndexQuery],
                        stored: Mapping[int, list[float]]) -> list[list[float]]:
    """The vector of each query of a batch: its own, checked, or that of its stored point
    (`stored`: the vectors of the batch's point ids that exist)."""
    vectors: list[list[float]] = []
    for query in queries:
        if query.point_id is None:
            vectors.append(checked_query_vector(collection, dim, query.vector))
        elif query.point_id in stored:
            vectors.append(stored[query.point_id])
        else:
            raise PointNotFound(collection, query.point_id)
    return vectors


def example_vectors(collection: str, positive_ids: Sequence[int], negative_ids: Sequence[int],
                    stored: Mapping[int, list[float]]) -> tuple[list[list[float]], list[list[float]]]:
    """The vectors of a recommendation's positives and negatives (`stored`: those that exist)."""
    if missing := [i for i in dict.fromkeys([*positive_ids, *negative_ids]) if i not in stored]:
        raise PointsNotFound(collection, missing)
    return [stored[i] for i in positive_ids], [stored[i] for i in negative_ids]


def average_vector(positives: Sequence[Sequence[float]],
                   negatives: Sequence[Sequence[float]]) -> list[float]:
    """Qdrant's average_vector target: mean(positives) + (mean(positives) - mean(negatives))."""
    mean = np.mean(np.asarray(positives, dtype=np.float64), axis=0)
    if len(negatives):
        mean = 2 * mean - np.mean(np.asarray(negatives, dtype=np.float64), axis=0)
    target: list[float] = mean.tolist()
    return target


def finish_recommendation(hits: Sequence[Hit], examples: Sequence[int], k: int) -> list[Hit]:
    """Best first, ties by id, without the examples, k of them."""
    left_out = set(examples)
    ranked = sorted((h for h in hits if h.id not in left_out), key=lambda h: (-h.score, h.id))
    return ranked[:k]


def fetch_limit(query: IndexQuery) -> int:
    """Hits to ask the backend for: one more when the queried point itself will be dropped."""
    return query.k + (1 if query.point_id is not None else 0)


def check_vector(collection: str, dim: int, vector: Sequence[float] | np.ndarray,
                 what: str = "vector") -> None:
    if len(vector) != dim:
        raise DimensionMismatch(collection, dim, len(vector), what)
    arr = np.asarray(vector, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidVector(f"{what} contains a value that is not a finite number")
    if not np.any(arr):
        raise InvalidVector(f"{what} is all zeros and has no direction for cosine distance")


def checked_matrix(collection: str, dim: int, points: Sequence[PointRecord]) -> np.ndarray:
    """The batch's vectors as one (n, dim) float32 array, every one checked before any of it is
    written (one pass in numpy: a batch is megabytes of floats)."""
    for point in points:
        if len(point.vector) != dim:
            raise DimensionMismatch(collection, dim, len(point.vector), f"vector of point {point.id}")
    matrix = np.asarray([np.asarray(p.vector, dtype=np.float32) for p in points],
                        dtype=np.float32).reshape(len(points), dim)
    bad = ~np.isfinite(matrix).all(axis=1) | ~matrix.any(axis=1)
    if bad.any():
        point = points[int(np.argmax(bad))]
        check_vector(collection, dim, point.vector, what=f"vector of point {point.id}")
    return matrix


def check_points(collection: str, dim: int, points: Sequence[PointRecord]) -> None:
    """Validate a whole batch before any of it is written."""
    checked_matrix(collection, dim, points)


def to_metric(cosine: float, metric: Metric) -> float:
    if metric == "euclidean":
        return math.sqrt(max(0.0, 2.0 - 2.0 * cosine))
    return cosine


def finish_hits(
    hits: Sequence[Hit], metric: Metric, k: int, exclude_id: int | None = None
) -> list[Hit]:
    """Drop the queried point, keep k, and convert cosine scores to the asked metric.

    Backends return hits by descending cosine, which is already ascending Euclidean distance.
    """
    kept = [h for h in hits if h.id != exclude_id][:k]
    return [h.model_copy(update={"score": to_metric(h.score, metric)}) for h in kept]


def vectors_in_asked_order(ids: Sequence[int], records: Sequence[Any]) -> list[PointVector]:
    """Backend records (`.id`, `.vector`) of the asked ids, in the order asked, each once."""
    found = {int(r.id): dense_vector(r.vector) for r in records}
    return [PointVector(id=i, vector=found[i]) for i in dict.fromkeys(ids) if i in found]


def in_asked_order(ids: Sequence[int], records: Sequence[Any]) -> list[StoredPoint]:
    """Backend records (`.id`, `.payload`) of the asked ids, in the order asked, each once."""
    found = {int(r.id): r.payload or {} for r in records}
    return [StoredPoint(id=i, payload=found[i]) for i in dict.fromkeys(ids) if i in found]


@dataclass(frozen=True)
class HammingCodes:
    """How one collection's codes are made: the signs of `bits` hyperplanes drawn with `seed`."""

    dim: int
    bits: int = HAMMING_BITS
    seed: int = HAMMING_SEED
    planes: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "planes", hyperplanes(self.dim, self.bits, self.seed))

    def of(self, vectors: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """The +1/-1 code of each vector (n, bits), as the backend stores it."""
        return signed_codes(np.asarray(vectors, dtype=np.float32), self.planes)

    def distance(self, dot: float) -> int:
        """Hamming distance from the dot product of two codes (exact integers in float)."""
        return round((self.bits - dot) / 2)

    def record(self) -> dict[str, int]:
        return {"bits": self.bits, "seed": self.seed}


# The backend's part of a Hamming query: the `limit` best points by code dot product, best first
# (filtered as asked), and the exact cosines of a query vector against some points.
ByCode = Callable[[list[float], int], Awaitable[list[Hit]]]
CosineAmong = Callable[[list[float], list[int]], Awaitable[list[Hit]]]


async def hamming_query(codes: HammingCodes, vector: list[float], *, k: int, rerank: int,
                        exclude_id: int | None, by_code: ByCode,
                        cosine_among: CosineAmong) -> list[Hit]:
    """The k nearest points by Hamming distance, ties by id, scored cos(pi * d / bits); with
    rerank N > 0 the max(k, N) nearest re-ordered by exact cosine (equal to COSINE_TIE_DECIMALS:
    ties, by id) and scored by it.

    A backend cuts ties at its limit in an order of its own, so the search widens until the last
    point fetched is strictly farther than the last one wanted: the whole tied group is then in."""
    want = max(k, rerank)
    limit = want + (exclude_id is not None)
    code = codes.of([vector])[0].tolist()
    while True:
        fetched = await by_code(code, limit)
        kept = [hit for hit in fetched if hit.id != exclude_id]
        if len(fetched) < limit or (len(kept) > want and fetched[-1].score < kept[want - 1].score):
            break
        limit *= 2
    nearest = sorted(kept, key=lambda hit: (-hit.score, hit.id))[:want]
    if rerank:
        exact = await cosine_among(vector, [hit.id for hit in nearest])
        # Backends compute cosines in float32 or float64: equal to 6 decimals is a tie.
        return sorted(exact, key=lambda hit: (-round(hit.score, COSINE_TIE_DECIMALS), hit.id))[:k]
    return [hit.model_copy(update={"score": estimated_cosine(codes.distance(hit.score), codes.bits)})
            for hit in nearest]
