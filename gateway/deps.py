"""Shared request dependencies as Annotated aliases."""

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import Principal, current_principal
from gateway.config import GatewaySettings
from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream


def _settings(request: Request) -> GatewaySettings:
    state: GatewaySettings = request.app.state.settings  # set in the lifespan
    return state


def _services(request: Request) -> Downstream:
    state: Downstream = request.app.state.downstream  # set in the lifespan
    return state


def _downstream(
    services: Annotated[Downstream, Depends(_services)],
    principal: Annotated[Principal, Depends(current_principal)],
) -> Downstream:
    """The services, with the catalog speaking for the caller: it holds them to their project
    grants, so no route can forget to."""
    catalog = services.catalog.acting_for(principal.annotator_id, principal.role)
    return replace(services, catalog=catalog)


def _active_model(request: Request) -> ActiveModel:
    # Handlers call .get() themselves, after request validation: a bad request is a 422
    # even while the embedder is down.
    state: ActiveModel = request.app.state.active_model  # set in the lifespan
    return state


SettingsDep = Annotated[GatewaySettings, Depends(_settings)]
DownstreamDep = Annotated[Downstream, Depends(_downstream)]
# The services as the gateway itself (no caller: /health, and the work a write sets off).
ServicesDep = Annotated[Downstream, Depends(_services)]
ActiveModelDep = Annotated[ActiveModel, Depends(_active_model)]
