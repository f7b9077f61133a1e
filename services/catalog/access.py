"""Annotators, their API keys and projects.

A key is `npl_` + 43 url-safe characters (256 random bits); only its sha256 is stored, so a
leaked database does not leak keys, and a request finds its key by the hash through an index.
"""

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from services.catalog import queries
from services.catalog.errors import Conflict, NotFound

logger = logging.getLogger("nauplius.catalog")

KEY_PREFIX = "npl_"


@dataclass(frozen=True, slots=True)
class Annotator:
    id: int
    name: str
    institution: str | None
    created_at: datetime
    created_by: int | None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    annotator_id: int
    key_prefix: str
    role: str
    created_at: datetime
    created_by: int | None
    revoked_at: datetime | None
    revoked_by: int | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid key speaks for."""

    key_id: int
    role: str
    annotator_id: int
    name: str
    institution: str | None


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    description: str | None
    created_at: datetime
    created_by: int | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_annotator(
    conn: asyncpg.Connection, name: str, institution: str | None, actor: int | None
) -> Annotator:
    return Annotator(**dict(await conn.fetchrow(queries.INSERT_ANNOTATOR, name, institution, actor)))


async def list_annotators(conn: asyncpg.Connection) -> list[Annotator]:
    return [Annotator(**dict(r)) for r in await conn.fetch(queries.SELECT_ANNOTATORS)]


async def create_key(
    conn: asyncpg.Connection, annotator_id: int, role: str, actor: int | None
) -> tuple[ApiKey, str]:
    """(the stored key, the key itself: shown once, never stored)."""
    if await conn.fetchrow(queries.SELECT_ANNOTATOR, annotator_id) is None:
        raise NotFound(f"annotator {annotator_id} not found")
    key = new_key()
    prefix = key[: len(KEY_PREFIX) + 6]
    record = await conn.fetchrow(queries.INSERT_API_KEY, annotator_id, hash_key(key), prefix, role, actor)
    return ApiKey(**dict(record)), key


async def list_keys(conn: asyncpg.Connection) -> list[ApiKey]:
    return [ApiKey(**dict(r)) for r in await conn.fetch(queries.SELECT_API_KEYS)]


async def revoke_key(conn: asyncpg.Connection, key_id: int, actor: int | None) -> ApiKey:
    record = await conn.fetchrow(queries.REVOKE_API_KEY, key_id, actor)
    if record is None:
        existing = await conn.fetchrow(queries.SELECT_API_KEY, key_id)
        if existing is None:
            raise NotFound(f"API key {key_id} not found")
        return ApiKey(**dict(existing))  # revoked already: revoking again changes nothing
    return ApiKey(**dict(record))


async def resolve_key(conn: asyncpg.Connection, key_hash: str) -> Principal | None:
    record = await conn.fetchrow(queries.RESOLVE_API_KEY, key_hash)
    return None if record is None else Principal(**dict(record))


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
) -> Project:
    record = await conn.fetchrow(queries.INSERT_PROJECT, name, description, actor)
    if record is None:
        raise Conflict(f"a project named {name!r} exists already")
    return Project(**dict(record))


async def list_projects(conn: asyncpg.Connection) -> list[tuple[Project, int]]:
    records = await conn.fetch(queries.SELECT_PROJECTS)
    return [(Project(**{k: r[k] for k in r.keys() if k != "image_count"}), r["image_count"])
            for r in records]


async def get_project(conn: asyncpg.Connection, project_id: int) -> Project:
    record = await conn.fetchrow(queries.SELECT_PROJECT, project_id)
    if record is None:
        raise NotFound(f"project {project_id} not found")
    return Project(**dict(record))


async def move_images(conn: asyncpg.Connection, project_id: int, image_ids: list[int]) -> list[int]:
    async with conn.transaction():
        await get_project(conn, project_id)
        moved = [r["id"] for r in await conn.fetch(queries.MOVE_IMAGES, project_id, image_ids)]
        missing = sorted(set(image_ids) - set(moved))
        if missing:
            raise NotFound(f"unknown image ids: {missing[:20]}")
    return moved
