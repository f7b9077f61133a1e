from typing import Annotated

import anyio
from fastapi import Depends, Request

from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder


def get_embedder(request: Request) -> Embedder:
    return request.app.state.embedder


def get_settings(request: Request) -> EmbedderSettings:
    return request.app.state.settings


def get_limiter(request: Request) -> anyio.CapacityLimiter:
    return request.app.state.limiter


EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
SettingsDep = Annotated[EmbedderSettings, Depends(get_settings)]
LimiterDep = Annotated[anyio.CapacityLimiter, Depends(get_limiter)]
