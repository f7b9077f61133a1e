from typing import Annotated

from fastapi import Depends, Path, Request

from services.search.backends.base import VectorIndex


def get_index(request: Request) -> VectorIndex:
    state: VectorIndex = request.app.state.index  # set in the lifespan
    return state


IndexDep = Annotated[VectorIndex, Depends(get_index)]
CollectionName = Annotated[str, Path(pattern=r"^[a-z0-9_-]+$", max_length=128)]
