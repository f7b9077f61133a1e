from typing import Annotated

import anyio
from fastapi import Depends, Request

from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder


def get_embedder(request: Request) -> Embedder:
    state: Embedder = request.app.state.embedder  # set in the lifespan
    return state


def get_settings(request: Request) -> EmbedderSettings:
    state: EmbedderSettings = request.app.state.settings  # set in the lifespan
    return state


def get_limiter(request: Request) -> anyio.CapacityLimiter:
    state: anyio.CapacityLimiter = request.app.state.limiter  # set in the lifespan
    return state


EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
SettingsDep = Annotated[EmbedderSettings, Depends(get_settings)]
LimiterDep = Annotated[anyio.CapacityLimiter, Depends(get_limiter)]
