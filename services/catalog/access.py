"""Annotators, their API keys, projects, and what each caller may do in each project.

A key is `npl_` + 43 url-safe characters (256 random bits); only its sha256 is stored, so a
leaked database does not leak keys, and a request finds its key by the hash through an index.

Scopes (007_project_grants.sql): the gateway sends, with every call it makes for a person, the
annotator (`X-Nauplius-Annotator`) and the role of their key (`X-Nauplius-Role`). Their role in a
project is the highest of the grants reaching them there (everyone, their institution, them),
capped at the key's role; an admin key is admin everywhere. A call without a role is a service's
own (the worker, the command line, a gateway with keys off): no project binds it.
"""

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from nauplius.core.contracts.catalog import (
    AnnotatorPublic,
    ApiKeyPublic,
    CallerScope,
    GrantIn,
    GrantPublic,
    Principal,
    ProjectPublic,
    ProjectSummary,
    Role,
)
from services.catalog import queries
from services.catalog.errors import CatalogError, Conflict, NotFound

logger = logging.getLogger("nauplius.catalog")

KEY_PREFIX = "npl_"
ROLES: tuple[Role, ...] = ("viewer", "annotator", "admin")
# What a project that names no grants of its own starts with (and what 007 gave every project):
# everyone, at whatever role their key has.
DEFAULT_GRANTS = (GrantIn(everyone=True, role="admin"),)


class Forbidden(CatalogError):
    """The caller's role (in a project, or their key's) is below what the call needs."""

    status_code = 403


def _rank(role: Role | None) -> int:
    return -1 if role is None else ROLES.index(role)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a call speaks for: the annotator and their key's role (None: a service's own call)."""

    annotator_id: int | None = None
    role: Role | None = None

    @property
    def bound(self) -> bool:
        """Held to project grants: a person's key below admin."""
        return self.role is not None and self.role != "admin"

    def require_admin(self, doing: str) -> None:
        if self.bound:
            raise Forbidden(f"{doing} needs the admin role; your key is {self.role}")

    def require_owner(self, job_id: int, created_by: int | None, doing: str) -> None:
        """Only a job's creator or an admin changes a job (or a service's own call)."""
        if not self.bound or (created_by is not None and created_by == self.annotator_id):
            return
        owner = f"annotator {created_by}" if created_by is not None else "nobody recorded"
        raise Forbidden(f"{doing} job {job_id} is for its creator ({owner}) or an admin; "
                        f"you are annotator {self.annotator_id}")


@dataclass(frozen=True, slots=True)
class Scope:
    """The caller's role in each project that grants them one; `roles` None: every project, at
    any role (a service's own call, or an admin key)."""

    caller: Caller
    roles: dict[int, Role] | None

    def role_in(self, project_id: int) -> Role | None:
        if self.roles is None:
            return self.caller.role
        return self.roles.get(project_id)

    def projects(self, role: Role) -> list[int] | None:
        """The ids of the projects where the caller holds `role` or a higher one (None: all)."""
        if self.roles is None:
            return None
        return sorted(p for p, held in self.roles.items() if _rank(held) >= _rank(role))

    def allows(self, project_id: int, role: Role) -> bool:
        return self.roles is None or _rank(self.roles.get(project_id)) >= _rank(role)

    def require(self, project_id: int, role: Role, doing: str) -> None:
        if not self.allows(project_id, role):
            raise Forbidden(f"{doing} needs the {role} role in project {project_id}; "
                            f"yours there is {self.role_in(project_id) or 'none'}")

    def public(self) -> CallerScope:
        return CallerScope(readable=self.projects("viewer"), writable=self.projects("annotator"))


SERVICE = Caller()
UNBOUND = Scope(SERVICE, None)


async def scope_of(conn: asyncpg.Connection, caller: Caller) -> Scope:
    if not caller.bound:
        return Scope(caller, None)
    assert caller.role is not None  # bound
    cap = _rank(caller.role)
    records = await conn.fetch(queries.GRANTED_RANKS, caller.annotator_id, list(ROLES))
    return Scope(caller, {r["project_id"]: ROLES[min(r["rank"], cap)] for r in records})


async def require_images(conn: asyncpg.Connection, scope: Scope, image_ids: list[int],
                         role: Role, doing: str) -> None:
    """403 unless the caller holds `role` in the project of every one of these images (ids
    that do not exist are left to the caller's own 404)."""
    if scope.roles is None:
        return
    records = await conn.fetch(queries.IMAGE_PROJECTS, image_ids)
    refused = sorted({r["project_id"] for r in records if not scope.allows(r["project_id"], role)})
    if refused:
        ids = sorted(r["id"] for r in records if r["project_id"] in refused)
        raise Forbidden(f"{doing} needs the {role} role in project {refused[0]} (images "
                        f"{ids[:20]}); yours there is {scope.role_in(refused[0]) or 'none'}")


async def require_in_every_project(conn: asyncpg.Connection, scope: Scope, role: Role,
                                   doing: str) -> None:
    if scope.roles is None:
        return
    for project_id in [r["id"] for r in await conn.fetch(queries.SELECT_PROJECT_IDS)]:
        scope.require(project_id, role, doing)


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
    conn: asyncpg.Connection, name: str, description: str | None, actor: int | None,
    grants: list[GrantIn] | None = None,
) -> ProjectPublic:
    """A new project with its grants (None: DEFAULT_GRANTS; []: none, only admins see it)."""
    async with conn.transaction():
        record = await conn.fetchrow(queries.INSERT_PROJECT, name, description, actor)
        if record is None:
            raise Conflict(f"a project named {name!r} exists already")
        for grant in DEFAULT_GRANTS if grants is None else grants:
            await put_grant(conn, record["id"], grant, actor)
    return ProjectPublic.model_validate(dict(record))


async def list_projects(conn: asyncpg.Connection, scope: Scope) -> list[ProjectSummary]:
    """The projects the caller may read, each with the caller's role in it."""
    records = await conn.fetch(queries.SELECT_PROJECTS, scope.projects("viewer"))
    return [ProjectSummary.model_validate({**dict(r), "role": scope.role_in(r["id"])})
            for r in records]


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


# --- project grants -------------------------------------------------------------------------
async def list_grants(conn: asyncpg.Connection, project_id: int) -> list[GrantPublic]:
    await get_project(conn, project_id)
    records = await conn.fetch(queries.SELECT_GRANTS, project_id)
    return [GrantPublic.model_validate(dict(r)) for r in records]


async def put_grant(conn: asyncpg.Connection, project_id: int, grant: GrantIn,
                    actor: int | None) -> GrantPublic:
    """Give the grantee `grant.role` in the project (replacing the role they had there)."""
    async with conn.transaction():
        await get_project(conn, project_id)
        if grant.annotator_id is not None and await conn.fetchrow(
                queries.SELECT_ANNOTATOR, grant.annotator_id) is None:
            raise NotFound(f"annotator {grant.annotator_id} not found")
        grant_id = await conn.fetchval(queries.UPSERT_GRANT, project_id, grant.everyone,
                                       grant.institution, grant.annotator_id, grant.role, actor)
        record = await conn.fetchrow(queries.SELECT_GRANT, project_id, grant_id)
    return GrantPublic.model_validate(dict(record))


async def delete_grant(conn: asyncpg.Connection, project_id: int, grant_id: int) -> None:
    if await conn.fetchval(queries.DELETE_GRANT, project_id, grant_id) is None:
        raise NotFound(f"project {project_id} has no grant {grant_id}")

