"""Shared request dependencies as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Request

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream
from gateway.config import GatewaySettings


def _settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


def _downstream(request: Request) -> Downstream:
    return request.app.state.downstream


def _active_model(request: Request) -> ActiveModel:
    # Handlers call .get() themselves, after request validation: a bad request is a 422
    # even while the embedder is down.
    return request.app.state.active_model


SettingsDep = Annotated[GatewaySettings, Depends(_settings)]
DownstreamDep = Annotated[Downstream, Depends(_downstream)]
ActiveModelDep = Annotated[ActiveModel, Depends(_active_model)]
