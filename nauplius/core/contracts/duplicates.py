"""Near-duplicates: flags the worker writes at ingest, the pairs the review page shows, and what a
merge or a dismissal settles (catalog routes /v1/duplicates, gateway /api/v1/duplicates)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from nauplius.core.contracts.catalog import LabelState, Strict

DuplicateStatus = Literal["open", "merged", "dismissed"]
# Flags per request: at most a claimed batch's worth (WORKER_BATCH_SIZE is at most 1000).
MAX_FLAGS = 1000


class NearDuplicateIn(Strict):
    image_id: int
    of_image_id: int  # the image stored before it that it nearly repeats
    cosine: Annotated[float, Field(ge=-1.0, le=1.0)]


class NearDuplicatesIn(Strict):
    data: Annotated[list[NearDuplicateIn], Field(max_length=MAX_FLAGS)]


class NearDuplicatesFlagged(BaseModel):
    flagged: int  # new flags (an image already flagged keeps its first flag)


class DuplicateImage(BaseModel):
    id: int
    label: str | None
    label_state: LabelState
    duplicate_of: int | None  # set once merged into another image


class DuplicatePair(BaseModel):
    image: DuplicateImage  # the image flagged at ingest
    of_image: DuplicateImage  # its nearest earlier neighbour
    cosine: float
    status: DuplicateStatus
    project_id: int
    created_at: datetime


class DuplicatePairs(BaseModel):
    data: list[DuplicatePair]
    count: int


class DuplicateSettled(BaseModel):
    image_id: int
    of_image_id: int
    status: DuplicateStatus
    kept_id: int | None  # merge: the image that keeps its label (and stays in counts and exports)
    merged_id: int | None  # merge: the image marked as the kept one's duplicate
