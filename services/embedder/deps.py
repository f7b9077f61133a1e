from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Query, Request

from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder


def get_embedder(request: Request) -> Embedder:
    """The default model's embedder (the first served)."""
    state: Embedder = request.app.state.embedder  # set in the lifespan
    return state


def get_embedders(request: Request) -> dict[str, Embedder]:
    """Every served model's embedder by its card's name, the default first."""
    state: dict[str, Embedder] = request.app.state.embedders  # set in the lifespan
    return state


def chosen_embedder(
    embedders: Annotated[dict[str, Embedder], Depends(get_embedders)],
    model: Annotated[str | None, Query(min_length=1, max_length=200,
                                       description="a served model's name; unset: the default")] = None,
) -> Embedder:
    if model is None:
        return next(iter(embedders.values()))
    if model not in embedders:
        raise HTTPException(404, f"model {model!r} is not served here (served: "
                                 f"{', '.join(embedders)})")
    return embedders[model]


def get_settings(request: Request) -> EmbedderSettings:
    state: EmbedderSettings = request.app.state.settings  # set in the lifespan
    return state


def get_limiter(request: Request) -> anyio.CapacityLimiter:
    state: anyio.CapacityLimiter = request.app.state.limiter  # set in the lifespan
    return state


EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
EmbeddersDep = Annotated[dict[str, Embedder], Depends(get_embedders)]
ChosenEmbedderDep = Annotated[Embedder, Depends(chosen_embedder)]
SettingsDep = Annotated[EmbedderSettings, Depends(get_settings)]
LimiterDep = Annotated[anyio.CapacityLimiter, Depends(get_limiter)]
