"""Cluster proposals: density clusters of a project's unlabelled images, reviewed and named as a whole."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["clusters"])
