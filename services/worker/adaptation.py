"""The task of an `adaptation` job: fit a project's head on its human-validated labels.

The labels are those a person set looking at the image (bulk-accepted suggestions are left out:
they are the model's own guesses); their stored vectors come from the index, nothing is embedded.
The head is cross-validated on those labels (nauplius.core.adaptation) and stored as a new
version; it is active, and the project's suggestions are refreshed in its space, when it beat
the plain embedding there.
"""

import asyncio
import base64
from typing import Any

import numpy as np

from nauplius.core.adaptation import fit_head
from nauplius.core.adapted_search import ActiveHeads
from nauplius.core.clients import Downstream
from nauplius.core.contracts.adaptation import HeadIn
from nauplius.core.contracts.catalog import ClaimedTask
from nauplius.core.jobs import Progress
from nauplius.core.suggestion_refresh import Refresher

VECTOR_PAGE = 1000


async def refit_head(downstream: Downstream, model: str, task: ClaimedTask,
                     progress: Progress) -> dict[str, Any]:
    project = int(task.params["project"])
    asked = task.params.get("model", model)
    if asked != model:
        raise ValueError(f"the job was queued for model {asked!r}; the active model is {model!r}")
    labels = await downstream.catalog.human_validated(project)
    ids = sorted(labels)
    classes = sorted(set(labels.values()))
    if len(classes) < 2:
        return {"project": project, "fitted": False, "labels": len(ids), "classes": len(classes),
                "why": "an adaptation head needs validated images of at least two classes"}
    total = len(ids) + 2  # the vectors, the fit, the suggestions refresh
    vectors: dict[int, list[float]] = {}
    for start in range(0, len(ids), VECTOR_PAGE):
        for point in await downstream.search.vectors(model, ids[start:start + VECTOR_PAGE]):
            vectors[point.id] = point.vector
        await progress(min(start + VECTOR_PAGE, len(ids)), total)
    known = [i for i in ids if i in vectors]  # an image not indexed yet is left out
    x = np.asarray([vectors[i] for i in known], np.float32)
    y = [labels[i] for i in known]
    head = await asyncio.to_thread(fit_head, x, y)
    await progress(len(ids) + 1, total)
    cv = head.description["cross_validation"]
    stored = await downstream.catalog.store_head(project, HeadIn(
        model=model, version=head.version, labels=len(known), classes=len(set(y)),
        cv_top1_plain=cv["top1_plain"], cv_top1_adapted=cv["top1_adapted"],
        description=head.description, head=base64.b64encode(head.to_bytes()).decode(),
        job_id=task.id))
    refreshed = None
    if stored.active:
        refresher = Refresher(downstream, model, project, _quiet,
                              heads=ActiveHeads(downstream.catalog, model))
        refreshed = (await refresher.run(incremental=False)).public()
    await progress(total, total)
    return {"project": project, "fitted": True, "version": stored.version, "active": stored.active,
            "labels": stored.labels, "classes": stored.classes,
            "cv_top1_plain": stored.cv_top1_plain, "cv_top1_adapted": stored.cv_top1_adapted,
            "kind": head.kind, "suggestions": refreshed}


async def _quiet(done: int, total: int | None) -> None:
    """The refresh inside a refit reports no progress of its own (the job's lease is kept by the
    runner's heartbeat)."""


async def queue_due_refits(downstream: Downstream, model: str, project: int | None) -> list[int]:
    """After a suggestions refresh: an adaptation job for each project (that one, or every one)
    whose validated labels grew past the refit rule's mark; the jobs queued."""
    if project is not None:
        projects = [project]
    else:
        projects = [p.id for p in (await downstream.catalog.projects()).data]
    queued = []
    for project_id in projects:
        answer = await downstream.catalog.queue_adaptation(project_id, model, when_due=True)
        if answer.queued and answer.job_id is not None:
            queued.append(answer.job_id)
    return queued
