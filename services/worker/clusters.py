"""The task of a `clusters` job: HDBSCAN proposals of a project's unjudged images.

Unjudged: unlabelled or predicted (a suggestion is the model's guess; dubious images were looked
at by a person who could not decide, so they are left out). At most MAX_CLUSTERED images, the most
recent (highest ids), so a million-image project still finishes in minutes; the rest wait for a
later run once these are judged. Vectors come from the index, nothing is embedded. A project
with an active adaptation head is clustered in the head's space: on a new instrument the plain
embedding mixes classes that the project's own labels tell apart (docs/benchmarks.md, "The
oracle's cluster move").
"""

import asyncio
from typing import Any

import numpy as np

from nauplius.core.adaptation import AdaptationHead
from nauplius.core.adapted_search import ActiveHeads
from nauplius.core.clients import Downstream
from nauplius.core.clustering import Proposal, propose
from nauplius.core.contracts.catalog import ClaimedTask
from nauplius.core.contracts.clusters import MAX_CLUSTERED, ClusterRunIn, ProposalIn
from nauplius.core.jobs import Progress

VECTOR_PAGE = 1000


def _propose_in(head: AdaptationHead | None, ids: list[int], x: np.ndarray) -> list[Proposal]:
    return propose(ids, x if head is None else head.transform(x))


async def cluster_project(downstream: Downstream, model: str, task: ClaimedTask,
                          progress: Progress, cap: int = MAX_CLUSTERED) -> dict[str, Any]:
    project = int(task.params["project"])
    unjudged = await downstream.catalog.unjudged_ids(project)
    ids = sorted(unjudged)[-cap:]
    total = len(ids) + 2  # the vectors, the clustering, the store
    vectors: dict[int, list[float]] = {}
    for start in range(0, len(ids), VECTOR_PAGE):
        for point in await downstream.search.vectors(model, ids[start:start + VECTOR_PAGE]):
            vectors[point.id] = point.vector
        await progress(min(start + VECTOR_PAGE, len(ids)), total)
    known = [i for i in ids if i in vectors]  # an image not indexed yet waits for the next run
    x = np.asarray([vectors[i] for i in known], np.float32)
    head = await ActiveHeads(downstream.catalog, model).get(project)
    proposals = await asyncio.to_thread(_propose_in, head, known, x) if known else []
    await progress(len(ids) + 1, total)
    stored = await downstream.catalog.store_clusters(project, ClusterRunIn(
        model=model, job_id=task.id, clustered=len(known),
        clusters=[ProposalIn(members=p.members, estimated_purity=p.estimated_purity)
                  for p in proposals]))
    await progress(total, total)
    return {"project": project, "unjudged": len(unjudged), "clustered": len(known),
            "capped": len(unjudged) > cap, "clusters": stored,
            "head_version": head.version if head is not None else None,
            "in_clusters": sum(len(p.members) for p in proposals)}


async def queue_due_cluster_runs(downstream: Downstream, project: int | None) -> list[int]:
    """After a suggestions refresh (labels arrived): a clusters job for each project (that one, or
    every one) whose labels changed enough since its last run (contracts.clusters.rerun_due)."""
    if project is not None:
        projects = [project]
    else:
        projects = [p.id for p in (await downstream.catalog.projects()).data]
    queued = []
    for project_id in projects:
        answer = await downstream.catalog.queue_clusters(project_id, when_due=True)
        if answer.queued and answer.job_id is not None:
            queued.append(answer.job_id)
    return queued
