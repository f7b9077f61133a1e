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

from services.catalog.errors import Conflict, NotFound

logger = logging.getLogger("nauplius.catalog")

ROLES = ("viewer", "annotator", "admin")
KEY_PREFIX = "npl_"

ANNOTATOR_COLUMNS = "id, name, institution, created_at, created_by"
INSERT_ANNOTATOR = f"""
INSERT INTO annotators (name, institution, created_by) VALUES ($1, $2, $3)
RETURNING {ANNOTATOR_COLUMNS}
"""
SELECT_ANNOTATORS = f"SELECT {ANNOTATOR_COLUMNS} FROM annotators ORDER BY id"
SELECT_ANNOTATOR = f"SELECT {ANNOTATOR_COLUMNS} FROM annotators WHERE id = $1"

KEY_COLUMNS = "id, annotator_id, key_prefix, role, created_at, created_by, revoked_at, revoked_by"
INSERT_KEY = f"""
INSERT INTO api_keys (annotator_id, key_hash, key_prefix, role, created_by)
VALUES ($1, $2, $3, $4, $5)
RETURNING {KEY_COLUMNS}
"""
SELECT_KEYS = f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"
REVOKE_KEY = f"""
UPDATE api_keys SET revoked_at = now(), revoked_by = $2
 WHERE id = $1 AND revoked_at IS NULL
RETURNING {KEY_COLUMNS}
"""
SELECT_KEY = f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"
RESOLVE_KEY = """
SELECT k.id AS key_id, k.role, a.id AS annotator_id, a.name, a.institution
  FROM api_keys k JOIN annotators a ON a.id = k.annotator_id
 WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""
ANY_KEY = "SELECT EXISTS (SELECT 1 FROM api_keys)"
# Two catalog processes starting at once create one first key, not two.
BOOTSTRAP_LOCK = "SELECT pg_advisory_xact_lock(x'6e61757073626f6f74'::bit(64)::bigint)"

PROJECT_COLUMNS = "id, name, description, created_at, created_by"
INSERT_PROJECT = f"""
INSERT INTO projects (name, description, created_by) VALUES ($1, $2, $3)
ON CONFLICT (name) DO NOTHING
RETURNING {PROJECT_COLUMNS}
"""
SELECT_PROJECTS = f"""
SELECT {PROJECT_COLUMNS}, (SELECT count(*) FROM images i WHERE i.project_id = p.id) AS image_count
  FROM projects p ORDER BY id
"""
SELECT_PROJECT = f"SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"
MOVE_IMAGES = "UPDATE images SET project_id = $1 WHERE id = any($2::bigint[]) RETURNING id"


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
    return Annotator(**dict(await conn.fetchrow(INSERT_ANNOTATOR, name, institution, actor)))


async def list_annotators(conn: asyncpg.Connection) -> list[Annotator]:
    return [Annotator(**dict(r)) for r in await conn.fetch(SELECT_ANNOTATORS)]


async def create_key(
    conn: asyncpg.Connection, annotator_id: int, role: str, actor: int | None
) -> tuple[ApiKey, str]:
    """(the stored key, the key itself: shown once, never stored)."""
    if await conn.fetchrow(SELECT_ANNOTATOR, annotator_id) is None:
        raise NotFound(f"annotator {annotator_id} not found")
    key = new_key()
    prefix = key[: len(KEY_PREFIX) + 6]
    record = await conn.fetchrow(INSERT_KEY, annotator_id, hash_key(key), prefix, role, actor)
    return ApiKey(**dict(record)), key


async def list_keys(conn: asyncpg.Connection) -> list[ApiKey]:
    return [ApiKey(**dict(r)) for r in await conn.fetch(SELECT_KEYS)]


async def revoke_key(conn: asyncpg.Connection, key_id: int, actor: int | None) -> ApiKey:
    record = await conn.fetchrow(REVOKE_KEY, key_id, actor)
    if record is None:
        existing = await conn.fetchrow(SELECT_KEY, key_id)
        if existing is None:
            raise NotFound(f"API key {key_id} not found")
        return ApiKey(**dict(existing))  # revoked already: revoking again changes nothing
    return ApiKey(**dict(record))


async def resolve_key(conn: asyncpg.Connection, key_hash: str) -> Principal | None:
    record = await conn.fetchrow(RESOLVE_KEY, key_hash)
    return None if record is None else Principal(**dict(record))


async def bootstrap_admin_key(conn: asyncpg.Connection, key_file: Path) -> bool:
    """On a catalog with no key at all, create an admin and write its key to key_file (0600)."""
    async with conn.transaction():
        await conn.execute(BOOTSTRAP_LOCK)
        if await conn.fetchval(ANY_KEY):
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
    record = await conn.fetchrow(INSERT_PROJECT, name, description, actor)
    if record is None:
        raise Conflict(f"a project named {name!r} exists already")
    return Project(**dict(record))


async def list_projects(conn: asyncpg.Connection) -> list[tuple[Project, int]]:
    records = await conn.fetch(SELECT_PROJECTS)
    return [(Project(**{k: r[k] for k in r.keys() if k != "image_count"}), r["image_count"])
            for r in records]


async def get_project(conn: asyncpg.Connection, project_id: int) -> Project:
    record = await conn.fetchrow(SELECT_PROJECT, project_id)
    if record is None:
        raise NotFound(f"project {project_id} not found")
    return Project(**dict(record))


async def move_images(conn: asyncpg.Connection, project_id: int, image_ids: list[int]) -> list[int]:
    async with conn.transaction():
        await get_project(conn, project_id)
        moved = [r["id"] for r in await conn.fetch(MOVE_IMAGES, project_id, image_ids)]
        missing = sorted(set(image_ids) - set(moved))
        if missing:
            raise NotFound(f"unknown image ids: {missing[:20]}")
    return moved
