"""Near-duplicates: images flagged at ingest as within a set distance of one already stored,
and their merge."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["duplicates"])
