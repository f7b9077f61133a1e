"""Request and response bodies of the search service's /v1 API; its backends answer these too."""

import base64
import binascii
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from nauplius.core.contracts.text import JsonObject, Line

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Vector = Annotated[list[FiniteFloat], Field(min_length=1)]
PointId = Annotated[int, Field(ge=0, lt=2**63)]
# Most ids one request may name, and most points one scroll page may hold.
MAX_IDS = 10_000
# Most queries one batch query may hold by default (SEARCH_MAX_BATCH_QUERIES), and the most the
# client sends in one.
MAX_BATCH_QUERIES = 256


# cosine: higher is better; euclidean: the distance between the unit vectors, lower is better;
# hamming: ranked by the Hamming distance d between the vectors' binary codes (ties by id), scored
# by the cosine it estimates, cos(pi * d / bits), or by the exact cosine after a re-rank.
Metric = Literal["cosine", "euclidean", "hamming"]
MAX_RERANK = 1000
RERANK_DESCRIPTION = ("metric=hamming only: re-order the max(k, rerank) nearest by Hamming distance "
                      "by exact cosine, which is then the score (0: no re-rank)")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchHealth(BaseModel):
    status: str
    service: str = "search"
    backend: str
    collections: list[str]


class CollectionCreate(Strict):
    dim: Annotated[int, Field(ge=1, le=65_536)]


class CollectionInfo(BaseModel):
    name: str
    dim: int
    count: int


class PointIn(Strict):
    id: PointId
    vector: Vector | None = None
    # Or the vector as base64 of little-endian float32 (the embedder's ?encoding=base64). It
    # travels as is from the embedder through its callers and is decoded by the search service.
    vector_b64: Line | None = None
    payload: JsonObject = Field(default_factory=dict)
    _decoded: np.ndarray | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def one_vector(self) -> "PointIn":
        if (self.vector is None) == (self.vector_b64 is None):
            raise ValueError("give exactly one of 'vector' or 'vector_b64'")
        if self.vector_b64 is not None:
            try:
                raw = base64.b64decode(self.vector_b64, validate=True)
            except binascii.Error:
                raise ValueError("vector_b64 is not valid base64") from None
            if not raw or len(raw) % 4:
                raise ValueError("vector_b64 must hold a whole number of float32 values")
            values = np.frombuffer(raw, dtype="<f4")
            if not np.isfinite(values).all():
                raise ValueError("vector_b64 holds a NaN or an infinity")
            self._decoded = values
        return self

    def vector_values(self) -> list[float]:
        """The vector, from whichever of `vector` and `vector_b64` was given."""
        if self.vector is not None:
            return self.vector
        assert self._decoded is not None  # the validator decodes vector_b64 when no vector is given
        values: list[float] = self._decoded.tolist()
        return values

    def vector_array(self) -> np.ndarray:
        """The vector as float32, without a list of Python floats in between."""
        if self._decoded is not None:
            return self._decoded
        return np.asarray(self.vector, dtype=np.float32)


class UpsertRequest(Strict):
    points: list[PointIn]


class UpsertResponse(BaseModel):
    upserted: int


class DeleteRequest(Strict):
    ids: list[PointId]


class DeleteResponse(BaseModel):
    deleted: int


class CollectionDropped(BaseModel):
    name: str
    dropped: int  # the points it held


class PayloadRequest(Strict):
    ids: list[PointId]
    payload: JsonObject


class PayloadResponse(BaseModel):
    updated: int


class QueryFilter(Strict):
    """Exact matches on keyword-indexed payload keys; all optional. `project` may also list the
    projects a point may be in (any of them: what the caller may read)."""

    label: Line | None = None
    state: Line | None = None
    instrument: Line | None = None
    sample: Line | None = None
    project: Line | Annotated[list[Line], Field(min_length=1, max_length=MAX_IDS)] | None = None


class QueryRequest(Strict):
    vector: Vector | None = None
    id: PointId | None = None
    k: Annotated[int, Field(ge=1, le=1000)] = 10
    metric: Metric = "cosine"
    rerank: Annotated[int, Field(ge=0, le=MAX_RERANK, description=RERANK_DESCRIPTION)] = 0
    filter: QueryFilter | None = None

    @model_validator(mode="after")
    def one_target(self) -> "QueryRequest":
        if (self.vector is None) == (self.id is None):
            raise ValueError("give exactly one of 'vector' or 'id'")
        if self.rerank and self.metric != "hamming":
            raise ValueError("'rerank' applies to metric 'hamming' only")
        return self


class Hit(BaseModel):
    id: int
    score: float
    payload: dict[str, Any]


class QueryResponse(BaseModel):
    data: list[Hit]


class QueryBatchRequest(Strict):
    """Queries answered in one request, each as the single query would answer it. The service
    takes at most SEARCH_MAX_BATCH_QUERIES of them (422 above it)."""

    queries: Annotated[list[QueryRequest], Field(max_length=MAX_IDS)]


class QueryBatchResponse(BaseModel):
    data: list[list[Hit]]  # one answer per query, in the order asked


class CountResponse(BaseModel):
    count: int


class IndexStatus(BaseModel):
    """How much of a collection its HNSW index holds; the rest is searched exactly."""

    points: int
    indexed: int
    segments: int
    shards: int
    building: int  # index builds under way
    pending: int  # shards written since their last build, waiting for write quiet


class StoredPoint(BaseModel):
    """A point without its vector."""

    id: int
    payload: dict[str, Any]


class ScrollRequest(Strict):
    after_id: PointId | None = None  # None: from the first point
    limit: Annotated[int, Field(ge=1, le=MAX_IDS)] = 1000


class ScrollResponse(BaseModel):
    data: list[StoredPoint]  # in id order
    next_after_id: int | None  # the cursor of the next page; None after the last point


class RetrieveRequest(Strict):
    ids: Annotated[list[PointId], Field(max_length=MAX_IDS)]


class RetrieveResponse(BaseModel):
    data: list[StoredPoint]  # the ids that exist, in the order asked, each once


# Vectors per request: 1,000 x 1280 floats is about 10 MB of JSON.
MAX_VECTOR_IDS = 1000


class VectorsRequest(Strict):
    ids: Annotated[list[PointId], Field(max_length=MAX_VECTOR_IDS)]


class PointVector(BaseModel):
    """A point's stored embedding (unit length), without its payload."""

    id: int
    vector: list[float]


class VectorsResponse(BaseModel):
    data: list[PointVector]  # the ids that exist, in the order asked, each once


# Most positive, and most negative, examples of one recommendation query.
MAX_EXAMPLES = 50
# average_vector: one nearest-vector query on 2 * mean(positives) - mean(negatives). best_score:
# a point scores its best cosine to a positive if that beats its best cosine to a negative, else
# minus the negative's (Qdrant's rule). average_vector is the default: on a refined page of real
# ZooLake and NDSB embeddings it found more right images than best_score
# (benchmarks/recommend_strategy.py, docs/architecture.md).
RecommendStrategy = Literal["best_score", "average_vector"]
DEFAULT_STRATEGY: RecommendStrategy = "average_vector"


class RecommendRequest(Strict):
    """Points most like the positives and unlike the negatives (stored points, by id); the
    examples themselves are never answered."""

    positive_ids: Annotated[list[PointId], Field(min_length=1, max_length=MAX_EXAMPLES)]
    negative_ids: Annotated[list[PointId], Field(max_length=MAX_EXAMPLES)] = Field(
        default_factory=list)
    k: Annotated[int, Field(ge=1, le=1000)] = 10
    strategy: RecommendStrategy = DEFAULT_STRATEGY
    filter: QueryFilter | None = None
