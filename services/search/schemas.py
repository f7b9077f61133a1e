from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Vector = Annotated[list[FiniteFloat], Field(min_length=1)]
PointId = Annotated[int, Field(ge=0, lt=2**63)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionCreate(Strict):
    dim: Annotated[int, Field(ge=1, le=65_536)]


class CollectionOut(BaseModel):
    name: str
    dim: int
    count: int


class PointIn(Strict):
    id: PointId
    vector: Vector
    payload: dict[str, Any] = Field(default_factory=dict)


class UpsertRequest(Strict):
    points: list[PointIn]


class UpsertResponse(BaseModel):
    upserted: int


class DeleteRequest(Strict):
    ids: list[PointId]


class DeleteResponse(BaseModel):
    deleted: int


class PayloadRequest(Strict):
    ids: list[PointId]
    payload: dict[str, Any]


class PayloadResponse(BaseModel):
    updated: int


class QueryFilter(Strict):
    """Exact matches on keyword-indexed payload keys; all optional."""

    label: str | None = None
    state: str | None = None
    instrument: str | None = None
    sample: str | None = None
    project: str | None = None


class QueryRequest(Strict):
    vector: Vector | None = None
    id: PointId | None = None
    k: Annotated[int, Field(ge=1, le=1000)] = 10
    metric: Literal["cosine", "euclidean"] = "cosine"
    filter: QueryFilter | None = None

    @model_validator(mode="after")
    def one_target(self) -> "QueryRequest":
        if (self.vector is None) == (self.id is None):
            raise ValueError("give exactly one of 'vector' or 'id'")
        return self


class HitOut(BaseModel):
    id: int
    score: float
    payload: dict[str, Any]


class QueryResponse(BaseModel):
    data: list[HitOut]


class CountResponse(BaseModel):
    count: int
