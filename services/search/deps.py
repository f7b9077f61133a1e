from typing import Annotated

from fastapi import Depends, Path, Request

from services.search.backends.base import VectorIndex


def get_index(request: Request) -> VectorIndex:
    state: VectorIndex = request.app.state.index  # set in the lifespan
    return state


IndexDep = Annotated[VectorIndex, Depends(get_index)]
CollectionName = Annotated[str, Path(pattern=r"^[a-z0-9_-]+$", max_length=128)]


def get_max_batch_queries(request: Request) -> int:
    cap: int = request.app.state.max_batch_queries  # set in the lifespan
    return cap


MaxBatchQueries = Annotated[int, Depends(get_max_batch_queries)]
