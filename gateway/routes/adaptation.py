"""Per-project adaptation: heads fitted on a project's validated labels, their refits and versions."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["adaptation"])
