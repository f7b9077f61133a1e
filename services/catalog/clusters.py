"""Cluster proposals (010_cluster_proposals.sql): each project's last `clusters` run, replaced as a
whole; read with the members already judged left out."""

from typing import Any

import asyncpg

from nauplius.core.contracts.catalog import ImagePublic
from nauplius.core.contracts.clusters import (
    ClusterPublic,
    ClusterQueue,
    ClusterRunIn,
    ClustersQueued,
    rerun_due,
)
from services.catalog import queries
from services.catalog.errors import NotFound
from services.catalog.tasks import create_task_job

UNJUDGED = "i.label_state IN ('unlabelled', 'predicted')"
PROJECT_EXISTS = "SELECT 1 FROM projects WHERE id = $1"
VALIDATED_COUNT = """
SELECT count(*) FROM images
 WHERE project_id = $1 AND label_state = 'validated' AND label_confidence IS NULL
"""
DELETE_RUN = "DELETE FROM cluster_runs WHERE project_id = $1"
INSERT_RUN = """
INSERT INTO cluster_runs (project_id, job_id, model, clustered, validated_at_run)
VALUES ($1, $2, $3, $4, $5)
"""
INSERT_PROPOSAL = """
INSERT INTO cluster_proposals (project_id, size, estimated_purity) VALUES ($1, $2, $3) RETURNING id
"""
RUN = "SELECT clustered, validated_at_run, finished_at FROM cluster_runs WHERE project_id = $1"
QUEUE = f"""
SELECT p.id, p.size, p.estimated_purity, count(i.id) AS remaining,
       (array_agg(i.id ORDER BY m.position) FILTER (WHERE i.id IS NOT NULL))[1:4] AS preview_ids
  FROM cluster_proposals p
  JOIN cluster_members m ON m.cluster_id = p.id
  LEFT JOIN images i ON i.id = m.image_id AND {UNJUDGED}
 WHERE p.project_id = $1
 GROUP BY p.id
HAVING count(i.id) > 0
 ORDER BY count(i.id) * p.estimated_purity DESC, p.id
"""
CLUSTER_PROJECT = "SELECT project_id FROM cluster_proposals WHERE id = $1"
REMAINING = f"""
SELECT {', '.join('i.' + c.strip() for c in queries.IMAGE_COLUMNS.split(','))}
  FROM cluster_members m JOIN images i ON i.id = m.image_id
 WHERE m.cluster_id = $1 AND {UNJUDGED}
 ORDER BY m.position
 LIMIT $2 OFFSET $3
"""
REMAINING_COUNT = f"""
SELECT count(*) FROM cluster_members m JOIN images i ON i.id = m.image_id
 WHERE m.cluster_id = $1 AND {UNJUDGED}
"""
PENDING_JOB = """
SELECT id FROM ingest_jobs
 WHERE kind = 'clusters' AND task_status IN ('pending', 'running') AND params->>'project' = $1::text
 ORDER BY id LIMIT 1
"""
CLUSTER_JOBS_LOCK = 0x6E617570_636C  # "naup" "cl"


async def _require_project(conn: asyncpg.Connection, project_id: int) -> None:
    if await conn.fetchval(PROJECT_EXISTS, project_id) is None:
        raise NotFound(f"project {project_id} not found")


async def store_run(conn: asyncpg.Connection, project_id: int, run: ClusterRunIn) -> int:
    """Replace the project's proposals with this run's, in one transaction; how many stored."""
    await _require_project(conn, project_id)
    async with conn.transaction():
        await conn.execute(DELETE_RUN, project_id)
        validated = await conn.fetchval(VALIDATED_COUNT, project_id)
        await conn.execute(INSERT_RUN, project_id, run.job_id, run.model, run.clustered, validated)
        for proposal in run.clusters:
            cluster_id = await conn.fetchval(INSERT_PROPOSAL, project_id, len(proposal.members),
                                             proposal.estimated_purity)
            # Members of another project or deleted since are left out.
            await conn.execute(
                """INSERT INTO cluster_members (cluster_id, position, image_id)
                   SELECT $1, m.pos - 1, m.id FROM unnest($2::bigint[]) WITH ORDINALITY AS m(id, pos)
                     JOIN images i ON i.id = m.id AND i.project_id = $3""",
                cluster_id, proposal.members, project_id)
    return len(run.clusters)


async def queue(conn: asyncpg.Connection, project_id: int, limit: int) -> ClusterQueue:
    await _require_project(conn, project_id)
    run = await conn.fetchrow(RUN, project_id)
    rows = await conn.fetch(QUEUE, project_id)
    data = [ClusterPublic(id=r["id"], size=r["size"], remaining=r["remaining"],
                          estimated_purity=round(r["estimated_purity"], 4),
                          preview_ids=list(r["preview_ids"] or [])) for r in rows[:limit]]
    return ClusterQueue(data=data, count=len(rows), clustered=run["clustered"] if run else None,
                        finished_at=run["finished_at"].isoformat() if run else None)


async def cluster_project(conn: asyncpg.Connection, cluster_id: int) -> int:
    project_id: int | None = await conn.fetchval(CLUSTER_PROJECT, cluster_id)
    if project_id is None:
        raise NotFound(f"cluster {cluster_id} not found (a newer run may have replaced it)")
    return project_id


async def remaining(conn: asyncpg.Connection, cluster_id: int, limit: int,
                    offset: int) -> tuple[list[ImagePublic], int]:
    rows = await conn.fetch(REMAINING, cluster_id, limit, offset)
    count: int = await conn.fetchval(REMAINING_COUNT, cluster_id)
    return [ImagePublic.model_validate(dict(r)) for r in rows], count


async def queue_run(conn: asyncpg.Connection, project_id: int, *, when_due: bool, source: str,
                    created_by: int | None) -> ClustersQueued:
    """Queue a clusters job (one pending or running per project); `when_due`: only if the rule
    of nauplius.core.contracts.clusters.rerun_due says so."""
    await _require_project(conn, project_id)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", CLUSTER_JOBS_LOCK >> 16, project_id)
        pending = await conn.fetchval(PENDING_JOB, str(project_id))
        if pending is None and when_due:
            run = await conn.fetchrow(RUN, project_id)
            validated = await conn.fetchval(VALIDATED_COUNT, project_id)
            if not rerun_due(validated, run["validated_at_run"] if run else None,
                             run["clustered"] if run else 0):
                return ClustersQueued(project_id=project_id, queued=False, job_id=None)
        if pending is not None:
            return ClustersQueued(project_id=project_id, queued=False, job_id=pending)
        params: dict[str, Any] = {"project": project_id}
        job_id = await create_task_job(conn, "clusters", params, source, created_by)
    return ClustersQueued(project_id=project_id, queued=True, job_id=job_id)
