"""Shared request dependencies as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Request

from gateway.config import GatewaySettings
from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream


def _settings(request: Request) -> GatewaySettings:
    state: GatewaySettings = request.app.state.settings  # set in the lifespan
    return state


def _downstream(request: Request) -> Downstream:
    state: Downstream = request.app.state.downstream  # set in the lifespan
    return state


def _active_model(request: Request) -> ActiveModel:
    # Handlers call .get() themselves, after request validation: a bad request is a 422
    # even while the embedder is down.
    state: ActiveModel = request.app.state.active_model  # set in the lifespan
    return state


SettingsDep = Annotated[GatewaySettings, Depends(_settings)]
DownstreamDep = Annotated[Downstream, Depends(_downstream)]
ActiveModelDep = Annotated[ActiveModel, Depends(_active_model)]
