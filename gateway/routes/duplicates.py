"""Near-duplicates: images flagged at ingest as within a set distance of one already stored,
and their merge."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from gateway.auth import Annotator, Viewer
from gateway.deps import ActiveModelDep, DownstreamDep
from gateway.routes.common import Offset, file_url, thumbnail_url
from nauplius.core.contracts.duplicates import (
    DuplicateImage,
    DuplicatePair,
    DuplicateSettled,
    DuplicateStatus,
)
from nauplius.core.index_sync import sync_ids

router = APIRouter(prefix="/api/v1", tags=["duplicates"])


class DuplicateImageLinks(DuplicateImage):
    thumbnail_url: str
    file_url: str


class DuplicatePairLinks(DuplicatePair):
    image: DuplicateImageLinks
    of_image: DuplicateImageLinks


class DuplicatePairPage(BaseModel):
    data: list[DuplicatePairLinks]
    count: int
    more: bool


def _links(image: DuplicateImage) -> DuplicateImageLinks:
    return DuplicateImageLinks(**image.model_dump(), thumbnail_url=thumbnail_url(image.id),
                               file_url=file_url(image.id))


@router.get("/duplicates", response_model=DuplicatePairPage)
async def list_duplicates(downstream: DownstreamDep, _: Viewer, status: DuplicateStatus = "open",
                          offset: Offset = 0,
                          limit: Annotated[int, Query(ge=1, le=200)] = 20) -> DuplicatePairPage:
    """Near-duplicate pairs of the projects the caller may read, most alike first: both images'
    ids, labels and image URLs, and their cosine."""
    page = await downstream.catalog.duplicate_pairs(status, limit, offset)
    data = [DuplicatePairLinks(**pair.model_dump(exclude={"image", "of_image"}),
                               image=_links(pair.image), of_image=_links(pair.of_image))
            for pair in page.data]
    return DuplicatePairPage(data=data, count=page.count, more=offset + len(data) < page.count)


@router.post("/duplicates/{image_id}/merge", response_model=DuplicateSettled)
async def merge_duplicate(image_id: int, downstream: DownstreamDep, active_model: ActiveModelDep,
                          principal: Annotator) -> DuplicateSettled:
    """Merge image_id's pair: the image with the better label (validated over any other state,
    any label over none; on a tie the earlier image) keeps it, the other becomes its duplicate,
    left out of listings, exports, counts and searches. 404 unknown pair, 409 already settled."""
    settled = await downstream.catalog.merge_duplicate(image_id, principal.annotator_id)
    if settled.merged_id is not None:  # at once where the index answers; the outbox makes it hold
        await sync_ids(downstream, active_model, [settled.merged_id])
    return settled


@router.post("/duplicates/{image_id}/dismiss", response_model=DuplicateSettled)
async def dismiss_duplicate(image_id: int, downstream: DownstreamDep,
                            principal: Annotator) -> DuplicateSettled:
    """Not a duplicate: the pair leaves the open list; both images stay."""
    return await downstream.catalog.dismiss_duplicate(image_id, principal.annotator_id)
