"""Cluster proposals (issue #18): a project's unjudged images grouped by the `clusters` job, read
as a review queue (best first) and named a cluster, or its first members, at a time."""

from pydantic import BaseModel, Field

from nauplius.core.contracts.text import Line

# A run clusters at most this many of a project's unjudged images (the most recent).
MAX_CLUSTERED = 20_000


def rerun_due(validated_now: int, validated_at_run: int | None, clustered: int) -> bool:
    """A new run is due with no run yet, or once the project's human-validated images changed by
    at least 20 and by a quarter of what the last run clustered (its clusters are mostly judged)."""
    if validated_at_run is None:
        return True
    changed = abs(validated_now - validated_at_run)
    return changed >= max(20, clustered // 4)


class ProposalIn(BaseModel):
    members: list[int] = Field(min_length=1)  # core outwards
    estimated_purity: float = Field(ge=0, le=1)


class ClusterRunIn(BaseModel):
    model: Line = Field(min_length=1)
    job_id: int | None = None
    clustered: int = Field(ge=0)
    clusters: list[ProposalIn]


class ClusterPublic(BaseModel):
    id: int
    size: int  # members when clustered
    remaining: int  # members still unjudged
    estimated_purity: float
    preview_ids: list[int]  # the first remaining members (core outwards)


class ClusterQueue(BaseModel):
    data: list[ClusterPublic]  # best first: remaining x estimated purity
    count: int
    clustered: int | None  # images the last run clustered (None: no run yet)
    finished_at: str | None


class ClustersQueued(BaseModel):
    project_id: int
    queued: bool
    job_id: int | None  # the queued job, or the one already pending or running


class ClustersStored(BaseModel):
    stored: int  # proposals stored by the run


class ClusterIds(BaseModel):
    ids: list[int]  # a cluster's still-unjudged members, core outwards
