"""Model versions (the catalog's /v1/models): which embedding model is active, which others have
a complete or filling search collection, and a re-embed's progress (migration 013)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

ModelName = Annotated[str, Field(pattern=r"^[a-z0-9_-]+$", max_length=200)]
VersionState = Literal["filling", "complete"]


class ModelVersion(BaseModel):
    name: str
    output_dim: int
    state: VersionState  # filling: its reembed job runs; complete: every stored image is in it
    active: bool  # the version search answers from
    job_id: int | None  # its last reembed job
    done: int  # images re-embedded so far
    total: int | None  # images to re-embed (None until the job counted them)
    after_id: int  # the keyset cursor: the last image id re-embedded
    created_at: datetime
    completed_at: datetime | None
    activated_at: datetime | None


class ModelVersions(BaseModel):
    data: list[ModelVersion]  # by name
    active: str | None  # None: none chosen yet, the embedder's default model is in use


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ModelName
    output_dim: int = Field(gt=0)


class ReembedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output_dim: int = Field(gt=0)
    # The version in use now: recorded as active and complete when no version is recorded yet
    # (the embedder's default before any switch), so that switching back to it is instant.
    current: VersionIn | None = None


class ReembedQueued(BaseModel):
    queued: bool  # false: a reembed job of this version was already pending or running
    job_id: int
    version: ModelVersion


class ReembedProgress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: int  # the job reporting: a stale job of a version re-filled since is refused (409)
    done: int = Field(ge=0)
    total: int = Field(ge=0)
    after_id: int = Field(ge=0)
    complete: bool = False  # every stored image is in the collection: the version is complete


class VersionRetired(BaseModel):
    version: ModelVersion  # the row as it was before it went
    # Its reembed job, ended as failed (the version was still filling), if one was open.
    job_ended: int | None
