"""Search in a project's adapted space (issue #17) without re-embedding anything.

The index holds the plain embeddings. A query in a project whose adaptation head is active asks
the index for a pool of POOL_FACTOR x k plain nearest neighbours, then re-ranks that pool by
cosine between the head's transforms of the stored vectors (SearchClient.vectors) and keeps k.
The head's space blends the plain cosine with a discriminant one (nauplius.core.adaptation), so
the adapted nearest neighbours are almost always among the plain ones a few times deeper: the
pool's recall against exact adapted search is measured in docs/benchmarks.md.
"""

import base64
import os
import time
from collections.abc import Sequence

import numpy as np

from nauplius.core.adaptation import AdaptationHead
from nauplius.core.clients.catalog import CatalogClient
from nauplius.core.clients.search import SearchClient
from nauplius.core.contracts.search import Hit

POOL_FACTOR = int(os.environ.get("NAUPLIUS_ADAPTED_POOL_FACTOR", "10"))
MAX_POOL = 1000  # the index's largest k
CACHE_S = 10.0  # how long a process trusts the active head it read


def pool_k(k: int) -> int:
    return min(MAX_POOL, max(k, POOL_FACTOR * k))


class ActiveHeads:
    """The active head of each project for one model, read from the catalog and kept CACHE_S."""

    def __init__(self, catalog: CatalogClient, model: str) -> None:
        self.catalog = catalog
        self.model = model
        self._read: dict[int, tuple[float, AdaptationHead | None]] = {}
        self._by_version: dict[str, AdaptationHead] = {}

    async def get(self, project_id: int, catalog: CatalogClient | None = None) -> AdaptationHead | None:
        """`catalog`: the client to ask with (a request's, speaking for its caller)."""
        now = time.monotonic()
        cached = self._read.get(project_id)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        answer = await (catalog or self.catalog).active_head(project_id, self.model)
        head = None
        if answer.version is not None and answer.head is not None:
            head = self._by_version.get(answer.version)
            if head is None:
                head = AdaptationHead.from_bytes(base64.b64decode(answer.head))
                self._by_version[answer.version] = head
        self._read[project_id] = (now, head)
        return head


async def heads_in_use(catalog: CatalogClient, model: str,
                       project: int | None) -> ActiveHeads | None:
    """The heads for a suggestions run over one project (or every one), None when none of them
    has an active head: the run then asks the index for k neighbours, not a pool."""
    heads = ActiveHeads(catalog, model)
    projects = [project] if project is not None else [p.id for p in (await catalog.projects()).data]
    for project_id in projects:
        if await heads.get(project_id) is not None:
            return heads
    return None


async def rerank(search: SearchClient, model: str, head: AdaptationHead,
                 queries: Sequence[int | list[float]], pools: Sequence[list[Hit]],
                 k: int) -> list[list[Hit]]:
    """Each pool re-ranked by cosine to its query (a point id or a plain vector) in the head's
    space, best k first; a hit's score becomes that adapted cosine."""
    wanted = sorted({h.id for pool in pools for h in pool} | {q for q in queries if isinstance(q, int)})
    stored = {p.id: p.vector for p in await search.vectors(model, wanted)} if wanted else {}
    if not stored:
        return [list(pool[:k]) for pool in pools]
    ids = list(stored)
    row = {i: n for n, i in enumerate(ids)}
    adapted = head.transform(np.asarray([stored[i] for i in ids], np.float32))
    answers = []
    for query, pool in zip(queries, pools, strict=True):
        if isinstance(query, int):
            if query not in row:
                answers.append(list(pool[:k]))
                continue
            q = adapted[row[query]]
        else:
            q = head.transform(np.asarray([query], np.float32))[0]
        kept = [h for h in pool if h.id in row]
        if not kept:
            answers.append([])
            continue
        scores = adapted[[row[h.id] for h in kept]] @ q
        order = np.argsort(-scores, kind="stable")[:k]
        answers.append([Hit(id=kept[j].id, score=float(scores[j]), payload=kept[j].payload)
                        for j in order])
    return answers


async def adapt_pools(search: SearchClient, model: str, heads: ActiveHeads, ids: Sequence[int],
                      pools: Sequence[list[Hit]], k: int) -> list[list[Hit]]:
    """Pools of stored query images (asked with k=pool_k(k)): those of a project with an active
    head re-ranked in its space, the others cut to their plain k nearest."""
    project_of = {p.id: p.payload.get("project") for p in await search.retrieve(model, list(ids))}
    answers = [list(pool[:k]) for pool in pools]
    by_project: dict[int, list[int]] = {}
    for n, image_id in enumerate(ids):
        project = project_of.get(image_id)
        if project is not None:
            by_project.setdefault(int(project), []).append(n)
    for project, rows in by_project.items():
        head = await heads.get(project)
        if head is None:
            continue
        ranked = await rerank(search, model, head, [ids[n] for n in rows], [pools[n] for n in rows], k)
        for n, hits in zip(rows, ranked, strict=True):
            answers[n] = hits
    return answers


_SHARED: dict[str, ActiveHeads] = {}


async def project_head(catalog: CatalogClient, model: str, project_id: int) -> AdaptationHead | None:
    """The project's active head, through a cache shared by this process's requests."""
    heads = _SHARED.setdefault(model, ActiveHeads(catalog, model))
    return await heads.get(project_id, catalog)


async def nearest_in_project(search: SearchClient, catalog: CatalogClient, model: str,
                             project: int | None, image_ids: Sequence[int], negative_ids: Sequence[int],
                             conditions: dict[str, str], wanted: int) -> list[tuple[int, float]] | None:
    """POST /api/v1/similar within one project whose head is active: the images nearest to any
    example in the adapted space, best (adapted) score first; None when it does not apply
    (no project, negatives asked, no active head) and the plain ranking stands."""
    if project is None or negative_ids:
        return None
    head = await project_head(catalog, model, project)
    if head is None:
        return None
    k = min(MAX_POOL, wanted + len(image_ids))
    pools = [await search.query(model, k=pool_k(k), metric="cosine", image_id=i, filter=conditions)
             for i in image_ids]
    ranked = await rerank(search, model, head, list(image_ids), pools, k)
    best: dict[int, float] = {}
    examples = set(image_ids)
    for hits in ranked:
        for hit in hits:
            if hit.id not in examples:
                best[hit.id] = max(best.get(hit.id, -2.0), hit.score)
    return sorted(best.items(), key=lambda item: -item[1])
