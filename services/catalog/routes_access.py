"""Annotators, API keys and projects (the catalog's internal /v1 API; the gateway checks roles)."""

import re
from dataclasses import asdict

from fastapi import APIRouter, status

from services.catalog import access
from services.catalog.deps import ActorDep, ConnectionDep
from services.catalog.errors import InvalidMetadata, NotFound
from nauplius.core.contracts.catalog import (
    AnnotatorCreate,
    ApiKeyCreate,
    ImageIds,
    ProjectCreate,
)

router = APIRouter(prefix="/v1")

_HASH = re.compile(r"^[0-9a-f]{64}$")


@router.post("/annotators", status_code=status.HTTP_201_CREATED)
async def create_annotator(conn: ConnectionDep, actor: ActorDep, body: AnnotatorCreate) -> dict:
    return asdict(await access.create_annotator(conn, body.name, body.institution, actor))


@router.get("/annotators")
async def list_annotators(conn: ConnectionDep) -> dict:
    return {"data": [asdict(a) for a in await access.list_annotators(conn)]}


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
async def create_key(conn: ConnectionDep, actor: ActorDep, body: ApiKeyCreate) -> dict:
    stored, key = await access.create_key(conn, body.annotator_id, body.role, actor)
    return {**asdict(stored), "key": key}


@router.get("/api-keys")
async def list_keys(conn: ConnectionDep) -> dict:
    return {"data": [asdict(k) for k in await access.list_keys(conn)]}


@router.post("/api-keys/{key_id}/revoke")
async def revoke_key(conn: ConnectionDep, actor: ActorDep, key_id: int) -> dict:
    return asdict(await access.revoke_key(conn, key_id, actor))


@router.get("/api-keys/by-hash/{key_hash}")
async def resolve_key(conn: ConnectionDep, key_hash: str) -> dict:
    """Who a key (given by its sha256) speaks for: 404 for an unknown or revoked key."""
    if not _HASH.match(key_hash):
        raise InvalidMetadata("a key hash is 64 lowercase hexadecimal characters")
    principal = await access.resolve_key(conn, key_hash)
    if principal is None:
        raise NotFound("unknown or revoked API key")
    return asdict(principal)


@router.post("/projects", status_code=status.HTTP_201_CREATED)
async def create_project(conn: ConnectionDep, actor: ActorDep, body: ProjectCreate) -> dict:
    return asdict(await access.create_project(conn, body.name, body.description, actor))


@router.get("/projects")
async def list_projects(conn: ConnectionDep) -> dict:
    return {
        "data": [
            {**asdict(project), "image_count": count}
            for project, count in await access.list_projects(conn)
        ]
    }


@router.post("/projects/{project_id}/images")
async def move_images(conn: ConnectionDep, project_id: int, body: ImageIds) -> dict:
    moved = await access.move_images(conn, project_id, body.image_ids)
    return {"moved": len(moved), "image_ids": moved}
