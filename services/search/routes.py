from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from nauplius.core.contracts.search import (
    CollectionCreate,
    CollectionDropped,
    CollectionInfo,
    CountResponse,
    DeleteRequest,
    DeleteResponse,
    Hit,
    IndexStatus,
    PayloadRequest,
    PayloadResponse,
    QueryBatchRequest,
    QueryBatchResponse,
    QueryRequest,
    QueryResponse,
    RecommendRequest,
    RetrieveRequest,
    RetrieveResponse,
    ScrollRequest,
    ScrollResponse,
    UpsertRequest,
    UpsertResponse,
    VectorsRequest,
    VectorsResponse,
)
from nauplius.core.request_errors import install_request_validation_handler
from services.search.backends.base import IndexQuery, PointRecord, VectorIndex
from services.search.deps import CollectionName, IndexDep, MaxBatchQueries
from services.search.errors import (
    BatchTooLarge,
    CollectionDimensionConflict,
    CollectionNotFound,
    DimensionMismatch,
    HammingUnavailable,
    InvalidVector,
    PointNotFound,
    PointsNotFound,
    SearchError,
    ShardLocked,
    TooManyShards,
)

router = APIRouter(prefix="/v1/collections")

ERROR_STATUS: dict[type[SearchError], int] = {
    CollectionNotFound: 404,
    PointNotFound: 404,
    PointsNotFound: 404,
    DimensionMismatch: 422,
    InvalidVector: 422,
    HammingUnavailable: 422,
    BatchTooLarge: 422,
    TooManyShards: 422,
    CollectionDimensionConflict: 409,
    ShardLocked: 503,
}


async def search_error_handler(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    install_request_validation_handler(app)
    app.add_exception_handler(SearchError, search_error_handler)


@router.put("/{name}")
async def ensure_collection(
    name: CollectionName, body: CollectionCreate, index: IndexDep
) -> CollectionInfo:
    return await index.ensure_collection(name, body.dim)


@router.get("/{name}")
async def collection_info(name: CollectionName, index: IndexDep) -> CollectionInfo:
    return await index.collection_info(name)


@router.delete("/{name}")
async def drop_collection(name: CollectionName, index: IndexDep) -> CollectionDropped:
    """Remove the collection with every point in it (a retired model version's); 404 unknown."""
    return CollectionDropped(name=name, dropped=await index.drop_collection(name))


@router.put("/{name}/points")
async def upsert_points(
    name: CollectionName, body: UpsertRequest, index: IndexDep
) -> UpsertResponse:
    points = [PointRecord(p.id, p.vector_array(), p.payload) for p in body.points]
    return UpsertResponse(upserted=await index.upsert(name, points))


@router.post("/{name}/points/delete")
async def delete_points(
    name: CollectionName, body: DeleteRequest, index: IndexDep
) -> DeleteResponse:
    return DeleteResponse(deleted=await index.delete(name, body.ids))


@router.post("/{name}/points/payload")
async def set_payload(
    name: CollectionName, body: PayloadRequest, index: IndexDep
) -> PayloadResponse:
    return PayloadResponse(updated=await index.set_payload(name, body.ids, body.payload))


@router.post("/{name}/points/scroll")
async def scroll_points(
    name: CollectionName, body: ScrollRequest, index: IndexDep
) -> ScrollResponse:
    """Every point in id order, without vectors, a page at a time."""
    points, next_after_id = await index.scroll(name, body.after_id, body.limit)
    return ScrollResponse(data=points, next_after_id=next_after_id)


@router.post("/{name}/points/retrieve")
async def retrieve_points(
    name: CollectionName, body: RetrieveRequest, index: IndexDep
) -> RetrieveResponse:
    return RetrieveResponse(data=await index.retrieve(name, body.ids))


@router.post("/{name}/points/vectors")
async def point_vectors(
    name: CollectionName, body: VectorsRequest, index: IndexDep
) -> VectorsResponse:
    """The stored embeddings of these points (at most 1,000 a request), for work on the vectors
    themselves: clustering, fitting a project's head."""
    return VectorsResponse(data=await index.vectors(name, body.ids))


@router.post("/{name}/query")
async def query(name: CollectionName, body: QueryRequest, index: IndexDep) -> QueryResponse:
    """The k nearest points, best first. cosine: score = cosine, higher is better; euclidean:
    score = distance between the unit vectors, lower is better; hamming: ranked by the Hamming
    distance d between the points' binary codes (ties by id), score = the cosine it estimates,
    cos(pi * d / bits), or with `rerank` N the exact cosine of the max(k, N) nearest by Hamming
    re-ordered by it. hamming on a collection created without codes: 422 naming the fix."""
    return QueryResponse(data=await _answer(index, name, _index_query(body)))


def _index_query(body: QueryRequest) -> IndexQuery:
    return IndexQuery(vector=body.vector, point_id=body.id, k=body.k, metric=body.metric,
                      filter=body.filter.model_dump(exclude_none=True) if body.filter else None,
                      rerank=body.rerank)


async def _answer(index: VectorIndex, name: str, q: IndexQuery) -> list[Hit]:
    return await index.query(name, vector=q.vector, point_id=q.point_id, k=q.k, metric=q.metric,
                             filter=q.filter, rerank=q.rerank)


@router.post("/{name}/query/batch")
async def query_batch(
    name: CollectionName, body: QueryBatchRequest, index: IndexDep, cap: MaxBatchQueries
) -> QueryBatchResponse:
    """Each query answered as POST .../query answers it, in order, in one request and one call
    to the backend."""
    if len(body.queries) > cap:
        raise BatchTooLarge(len(body.queries), cap)
    queries = [_index_query(q) for q in body.queries]
    if any(q.metric == "hamming" for q in queries):  # its widening search runs one at a time
        return QueryBatchResponse(data=[await _answer(index, name, q) for q in queries])
    return QueryBatchResponse(data=await index.query_batch(name, queries))


@router.post("/{name}/recommend")
async def recommend(name: CollectionName, body: RecommendRequest, index: IndexDep) -> QueryResponse:
    """The k points most like the positives and unlike the negatives (1..50 and 0..50 stored
    points), filtered as /query, best first, ties by id, never an example. strategy best_score
    (default): score = the best cosine to a positive if it beats the best cosine to a negative,
    else minus that negative's; average_vector: the cosine to 2 * mean(positives) -
    mean(negatives). 404 names the examples that are not stored."""
    return QueryResponse(data=await index.recommend(
        name, positive_ids=body.positive_ids, negative_ids=body.negative_ids, k=body.k,
        filter=body.filter.model_dump(exclude_none=True) if body.filter else None,
        strategy=body.strategy))


@router.get("/{name}/count")
async def count(name: CollectionName, index: IndexDep) -> CountResponse:
    return CountResponse(count=await index.count(name))


@router.get("/{name}/index")
async def index_status(name: CollectionName, index: IndexDep) -> IndexStatus:
    """How much of the collection the HNSW index holds and how many builds are under way (the
    rest is searched exactly, so answers are complete either way)."""
    return IndexStatus(**await index.index_status(name))
