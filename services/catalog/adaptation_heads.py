"""Project heads (012_project_heads.sql): stored versions, the active one, and the refit rule."""

import base64
from typing import Any

import asyncpg

from nauplius.core.contracts.adaptation import (
    ActiveHead,
    AdaptationState,
    HeadIn,
    HeadPublic,
    RefitQueued,
    next_refit_at,
)
from services.catalog.errors import NotFound
from services.catalog.tasks import create_task_job

COLUMNS = ("id, project_id, model, version, fitted_at, labels, classes, cv_top1_plain, "
           "cv_top1_adapted, active, description, job_id")
PROJECT_EXISTS = "SELECT 1 FROM projects WHERE id = $1"
VERSIONS = f"SELECT {COLUMNS} FROM project_heads WHERE project_id = $1 AND model = $2 ORDER BY id DESC"
ACTIVE_BYTES = "SELECT version, head FROM project_heads WHERE project_id = $1 AND model = $2 AND active"
DEACTIVATE = "UPDATE project_heads SET active = false WHERE project_id = $1 AND model = $2 AND active"
INSERT = f"""
INSERT INTO project_heads (project_id, model, version, labels, classes, cv_top1_plain,
                           cv_top1_adapted, active, description, head, job_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}
"""
# Labels a person set looking at the image (a bulk-accepted suggestion keeps its confidence).
VALIDATED_COUNT = """
SELECT count(*) FROM images
 WHERE project_id = $1 AND label_state = 'validated' AND label_confidence IS NULL
"""
LAST_FIT_LABELS = """
SELECT labels FROM project_heads WHERE project_id = $1 AND model = $2 ORDER BY id DESC LIMIT 1
"""
PENDING_JOB = """
SELECT id FROM ingest_jobs
 WHERE kind = 'adaptation' AND task_status IN ('pending', 'running')
   AND params->>'project' = ($1::bigint)::text AND params->>'model' = $2
 ORDER BY id LIMIT 1
"""
ADAPTATION_JOBS_LOCK = 0x6E617570_6164  # "naup" "ad"


async def _require_project(conn: asyncpg.Connection, project_id: int) -> None:
    if await conn.fetchval(PROJECT_EXISTS, project_id) is None:
        raise NotFound(f"project {project_id} not found")


async def state(conn: asyncpg.Connection, project_id: int, model: str) -> AdaptationState:
    await _require_project(conn, project_id)
    versions = [HeadPublic(**dict(r)) for r in await conn.fetch(VERSIONS, project_id, model)]
    return AdaptationState(
        project_id=project_id, validated=await conn.fetchval(VALIDATED_COUNT, project_id),
        next_refit_at=next_refit_at(versions[0].labels if versions else None),
        active=next((v for v in versions if v.active), None), versions=versions,
        pending_job=await conn.fetchval(PENDING_JOB, project_id, model))


async def active_head(conn: asyncpg.Connection, project_id: int, model: str) -> ActiveHead:
    row = await conn.fetchrow(ACTIVE_BYTES, project_id, model)
    if row is None:
        return ActiveHead(project_id=project_id, model=model)
    return ActiveHead(project_id=project_id, model=model, version=row["version"],
                      head=base64.b64encode(row["head"]).decode())


async def store(conn: asyncpg.Connection, project_id: int, head: HeadIn) -> HeadPublic:
    """A new version; active (and the previous one no longer) when it beat the plain embedding."""
    await _require_project(conn, project_id)
    active = head.cv_top1_adapted > head.cv_top1_plain
    async with conn.transaction():
        if active:
            await conn.execute(DEACTIVATE, project_id, head.model)
        row = await conn.fetchrow(INSERT, project_id, head.model, head.version, head.labels,
                                  head.classes, head.cv_top1_plain, head.cv_top1_adapted, active,
                                  head.description, base64.b64decode(head.head), head.job_id)
    return HeadPublic(**dict(row))


async def queue_refit(conn: asyncpg.Connection, project_id: int, model: str, *, when_due: bool,
                      source: str, created_by: int | None) -> RefitQueued:
    """Queue an adaptation job (one pending or running per project and model at most);
    `when_due`: only if the validated count reached the refit rule's mark."""
    await _require_project(conn, project_id)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)",
                           ADAPTATION_JOBS_LOCK >> 16, project_id)
        validated: int = await conn.fetchval(VALIDATED_COUNT, project_id)
        mark = next_refit_at(await conn.fetchval(LAST_FIT_LABELS, project_id, model))
        pending = await conn.fetchval(PENDING_JOB, project_id, model)
        if pending is not None or (when_due and validated < mark):
            return RefitQueued(project_id=project_id, queued=False, job_id=pending,
                               validated=validated, next_refit_at=mark)
        params: dict[str, Any] = {"project": project_id, "model": model}
        job_id = await create_task_job(conn, "adaptation", params, source, created_by)
    return RefitQueued(project_id=project_id, queued=True, job_id=job_id, validated=validated,
                       next_refit_at=mark)
