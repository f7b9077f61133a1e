"""Annotators, their API keys and projects.

A key is `npl_` + 43 url-safe characters (256 random bits); only its sha256 is stored, so a
leaked database does not leak keys, and a request finds its key by the hash through an index.
"""

import hashlib
import logging
import os
import secrets
from pathlib import Path

import asyncpg

from nauplius.core.contracts.catalog import (
    AnnotatorPublic,
    ApiKeyPublic,
    Principal,
    ProjectPublic,
    ProjectSummary,
    Role,
)
from services.catalog import queries
from services.catalog.errors import Conflict, NotFound

logger = logging.getLogger("nauplius.catalog")

KEY_PREFIX = "npl_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_annotator(
    conn: asyncpg.Connection, name: str, institution: str | None, actor: int | None
) -> AnnotatorPublic:
    record = await conn.fetchrow(queries.INSERT_ANNOTATOR, name, institution, actor)
    return AnnotatorPublic.model_validate(dict(record))


async def list_annotators(conn: asyncpg.Connection) -> list[AnnotatorPublic]:
    records = await conn.fetch(queries.SELECT_ANNOTATORS)
    return [AnnotatorPublic.model_validate(dict(r)) for r in records]


async def create_key(
    conn: asyncpg.Connection, annotator_id: int, role: Role, actor: int | None
) -> tuple[ApiKeyPublic, str]:
    """(the stored key, the key itself: shown once, never stored)."""
    if await conn.fetchrow(queries.SELECT_ANNOTATOR, annotator_id) is None:
        raise NotFound(f"annotator {annotator_id} not found")
    key = new_key()
    prefix = key[: len(KEY_PREFIX) + 6]
    record = await conn.fetchrow(
        queries.INSERT_API_KEY, annotator_id, hash_key(key), prefix, role, actor
    )
    return ApiKeyPublic.model_validate(dict(record)), key


async def list_keys(conn: asyncpg.Connection) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(dict(r)) for r in await conn.fetch(queries.SELECT_API_KEYS)]


async def revoke_key(conn: asyncpg.Connection, key_id: int, actor: int | None) -> ApiKeyPublic:
    record = await conn.fetchrow(queries.REVOKE_API_KEY, key_id, actor)
    if record is None:
        existing = await conn.fetchrow(queries.SELECT_API_KEY, key_id)
        if existing is None:
            raise NotFound(f"API key {key_id} not found")
        # Revoked already: revoking again changes nothing.
        return ApiKeyPublic.model_validate(dict(existing))
    return ApiKeyPublic.model_validate(dict(record))


async def resolve_key(conn: asyncpg.Connection, key_hash: str) -> Principal | None:
    record = await conn.fetchrow(queries.RESOLVE_API_KEY, key_hash)
    return None if record is None else Principal.model_validate(dict(record))


async def bootstrap_admin_key(conn: asyncpg.Connection, key_file: Path) -> bool:
    """On a catalog with no key at all, create an admin and write its key to key_file (0600)."""
    async with conn.transaction():
        await conn.execute(queries.BOOTSTRAP_LOCK)
        if await conn.fetchval(queries.ANY_API_KEY):
            return False
        admin = await create_annotator(conn, "admin", None, None)
        _, key = await create_key(conn, admin.id, "admin", None)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key + "\n")
    logger.info("created the first admin API key in %s", key_file)
    return True


async def create_project(
    conn: asyncpg.Connection, name: str, description: str | None, actor: int | None
) -> ProjectPublic:
    record = await conn.fetchrow(queries.INSERT_PROJECT, name, description, actor)
    if record is None:
        raise Conflict(f"a project named {name!r} exists already")
    return ProjectPublic.model_validate(dict(record))


async def list_projects(conn: asyncpg.Connection) -> list[ProjectSummary]:
    records = await conn.fetch(queries.SELECT_PROJECTS)
    return [ProjectSummary.model_validate(dict(r)) for r in records]


async def get_project(conn: asyncpg.Connection, project_id: int) -> ProjectPublic:
    record = await conn.fetchrow(queries.SELECT_PROJECT, project_id)
    if record is None:
        raise NotFound(f"project {project_id} not found")
    return ProjectPublic.model_validate(dict(record))


async def move_images(conn: asyncpg.Connection, project_id: int, image_ids: list[int]) -> list[int]:
    async with conn.transaction():
        await get_project(conn, project_id)
        moved = [r["id"] for r in await conn.fetch(queries.MOVE_IMAGES, project_id, image_ids)]
        missing = sorted(set(image_ids) - set(moved))
        if missing:
            raise NotFound(f"unknown image ids: {missing[:20]}")
    return moved
