"""Annotators and their API keys (admin work), and what the caller may do in which project."""

import re

from fastapi import APIRouter, status

from nauplius.core.contracts.catalog import (
    AnnotatorCreate,
    AnnotatorList,
    AnnotatorPublic,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyPublic,
    CallerScope,
    Principal,
)
from services.catalog import access
from services.catalog.deps import ActorDep, CallerDep, ConnectionDep, ScopeDep
from services.catalog.errors import InvalidMetadata, NotFound

router = APIRouter(prefix="/v1")

_HASH = re.compile(r"^[0-9a-f]{64}$")


@router.post("/annotators", status_code=status.HTTP_201_CREATED)
async def create_annotator(
    conn: ConnectionDep, actor: ActorDep, caller: CallerDep, body: AnnotatorCreate
) -> AnnotatorPublic:
    caller.require_admin("adding an annotator")
    return await access.create_annotator(conn, body.name, body.institution, actor)


@router.get("/annotators")
async def list_annotators(conn: ConnectionDep, caller: CallerDep) -> AnnotatorList:
    caller.require_admin("listing the annotators")
    return AnnotatorList(data=await access.list_annotators(conn))


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
async def create_key(conn: ConnectionDep, actor: ActorDep, caller: CallerDep,
                     body: ApiKeyCreate) -> ApiKeyCreated:
    caller.require_admin("making an API key")
    stored, key = await access.create_key(conn, body.annotator_id, body.role, actor)
    return ApiKeyCreated(**stored.model_dump(), key=key)


@router.get("/api-keys")
async def list_keys(conn: ConnectionDep, caller: CallerDep) -> ApiKeyList:
    caller.require_admin("listing the API keys")
    return ApiKeyList(data=await access.list_keys(conn))


@router.post("/api-keys/{key_id}/revoke")
async def revoke_key(conn: ConnectionDep, actor: ActorDep, caller: CallerDep,
                     key_id: int) -> ApiKeyPublic:
    caller.require_admin("revoking an API key")
    return await access.revoke_key(conn, key_id, actor)


@router.get("/api-keys/by-hash/{key_hash}")
async def resolve_key(conn: ConnectionDep, key_hash: str) -> Principal:
    """Who a key (given by its sha256) speaks for: 404 for an unknown or revoked key."""
    if not _HASH.match(key_hash):
        raise InvalidMetadata("a key hash is 64 lowercase hexadecimal characters")
    principal = await access.resolve_key(conn, key_hash)
    if principal is None:
        raise NotFound("unknown or revoked API key")
    return principal


@router.get("/scope")
async def caller_scope(scope: ScopeDep) -> CallerScope:
    """The projects the caller may read and write (null: every project), e.g. to filter a
    similarity search to what they may see."""
    return scope.public()
