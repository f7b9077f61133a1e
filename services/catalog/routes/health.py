"""GET /health: the process stack checks the service's name."""

from fastapi import APIRouter

from nauplius.core.contracts.catalog import CatalogHealth
from services.catalog import queries
from services.catalog.deps import ConnectionDep

router = APIRouter()


@router.get("/health")
async def health(conn: ConnectionDep) -> CatalogHealth:
    await conn.fetchval(queries.HEALTH_CHECK)
    return CatalogHealth(status="ok", service="catalog")
