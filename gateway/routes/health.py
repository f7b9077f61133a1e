"""Gateway health (all three services must answer) and the active model's card."""

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.auth import Viewer
from gateway.deps import ActiveModelDep, ServicesDep, SettingsDep
from gateway.schemas import GatewayHealth
from nauplius.core.clients import ServiceClient
from nauplius.core.contracts.embedder import ModelCard
from nauplius.core.errors import DownstreamError

router = APIRouter(tags=["health"])

HEALTH_TIMEOUT_S = 5.0


async def _probe(client: ServiceClient, timeout_s: float) -> str:
    try:
        body = await client.health(timeout_s)
    except DownstreamError as exc:
        return str(exc.detail)
    if isinstance(body, dict) and body.get("status") == "ok":
        return "ok"
    return f"{client.service} service unhealthy"


@router.get("/health", response_model=GatewayHealth, responses={503: {"model": GatewayHealth}})
async def health(downstream: ServicesDep, settings: SettingsDep) -> JSONResponse:
    clients: list[ServiceClient] = [downstream.embedder, downstream.search, downstream.catalog]
    timeout_s = min(settings.timeout_s, HEALTH_TIMEOUT_S)
    states = await asyncio.gather(*(_probe(c, timeout_s) for c in clients))
    services: dict[str, Any] = {"gateway": "ok"}
    services.update({c.service: state for c, state in zip(clients, states, strict=True)})
    down = [c.service for c, state in zip(clients, states, strict=True) if state != "ok"]
    if not down:
        return JSONResponse({"status": "ok", "service": "gateway", "services": services})
    return JSONResponse(
        {"status": "degraded", "service": "gateway", "services": services,
         "detail": f"down: {', '.join(down)}"},
        status_code=503,
    )


@router.get("/api/v1/model", tags=["model"], response_model=ModelCard)
async def model_card(active_model: ActiveModelDep, _: Viewer) -> dict[str, Any]:
    return (await active_model.get()).card
