"""Per-project adaptation heads (issue #17): what the catalog stores and answers about them."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from nauplius.core.contracts.text import JsonObject, Line

# A project's first head is fitted once it has this many human-validated labels; a head is
# refitted once the validated count grew by REFIT_GROWTH (a share) and by REFIT_MIN_NEW labels
# since the last fit.
FIRST_FIT_LABELS = 20
REFIT_GROWTH = 0.2
REFIT_MIN_NEW = 20


def next_refit_at(last_fit_labels: int | None) -> int:
    """The validated count at which an automatic refit is queued."""
    if last_fit_labels is None:
        return FIRST_FIT_LABELS
    return max(last_fit_labels + REFIT_MIN_NEW, int(last_fit_labels * (1 + REFIT_GROWTH)) + 1)


class HeadIn(BaseModel):
    """A fitted head, as the worker stores it (`head`: the .npz bytes, base64)."""

    model: Line = Field(min_length=1)
    version: Line = Field(min_length=1)
    labels: int = Field(ge=0)
    classes: int = Field(ge=0)
    cv_top1_plain: float
    cv_top1_adapted: float
    description: JsonObject
    head: Line
    job_id: int | None = None


class HeadPublic(BaseModel):
    id: int
    project_id: int
    model: str
    version: str
    fitted_at: datetime
    labels: int
    classes: int
    cv_top1_plain: float
    cv_top1_adapted: float
    active: bool
    description: dict[str, Any]
    job_id: int | None = None


class ActiveHead(BaseModel):
    """The head in use for a project and model (None when the plain embedding is used)."""

    project_id: int
    model: str
    version: str | None = None
    head: str | None = None  # base64 .npz bytes


class AdaptationState(BaseModel):
    project_id: int
    validated: int  # human-validated labels the project has now
    next_refit_at: int  # validated count at which a refit is queued on its own
    active: HeadPublic | None
    versions: list[HeadPublic]  # newest first, the active one among them
    pending_job: int | None = None  # an adaptation job queued or running for the project


class RefitQueued(BaseModel):
    project_id: int
    queued: bool
    job_id: int | None
    validated: int
    next_refit_at: int
