from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from services.search.backends.base import PointRecord
from services.search.deps import CollectionName, IndexDep
from services.search.errors import (
    CollectionDimensionConflict,
    CollectionNotFound,
    DimensionMismatch,
    InvalidVector,
    PointNotFound,
    SearchError,
    ShardLocked,
)
from services.search.schemas import (
    CollectionCreate,
    CollectionOut,
    CountResponse,
    DeleteRequest,
    DeleteResponse,
    HitOut,
    PayloadRequest,
    PayloadResponse,
    QueryRequest,
    QueryResponse,
    UpsertRequest,
    UpsertResponse,
)

router = APIRouter(prefix="/v1/collections")

ERROR_STATUS: dict[type[SearchError], int] = {
    CollectionNotFound: 404,
    PointNotFound: 404,
    DimensionMismatch: 422,
    InvalidVector: 422,
    CollectionDimensionConflict: 409,
    ShardLocked: 503,
}


async def search_error_handler(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SearchError, search_error_handler)


@router.put("/{name}", response_model=CollectionOut)
async def ensure_collection(name: CollectionName, body: CollectionCreate, index: IndexDep):
    return (await index.ensure_collection(name, body.dim)).__dict__


@router.get("/{name}", response_model=CollectionOut)
async def collection_info(name: CollectionName, index: IndexDep):
    return (await index.collection_info(name)).__dict__


@router.put("/{name}/points", response_model=UpsertResponse)
async def upsert_points(name: CollectionName, body: UpsertRequest, index: IndexDep):
    points = [PointRecord(p.id, p.vector, p.payload) for p in body.points]
    return UpsertResponse(upserted=await index.upsert(name, points))


@router.post("/{name}/points/delete", response_model=DeleteResponse)
async def delete_points(name: CollectionName, body: DeleteRequest, index: IndexDep):
    return DeleteResponse(deleted=await index.delete(name, body.ids))


@router.post("/{name}/points/payload", response_model=PayloadResponse)
async def set_payload(name: CollectionName, body: PayloadRequest, index: IndexDep):
    return PayloadResponse(updated=await index.set_payload(name, body.ids, body.payload))


@router.post("/{name}/query", response_model=QueryResponse)
async def query(name: CollectionName, body: QueryRequest, index: IndexDep):
    filter = body.filter.model_dump(exclude_none=True) if body.filter else None
    hits = await index.query(
        name, vector=body.vector, point_id=body.id, k=body.k, metric=body.metric, filter=filter
    )
    return QueryResponse(data=[HitOut(id=h.id, score=h.score, payload=dict(h.payload)) for h in hits])


@router.get("/{name}/count", response_model=CountResponse)
async def count(name: CollectionName, index: IndexDep):
    return CountResponse(count=await index.count(name))
