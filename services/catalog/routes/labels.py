"""Labels: an image's current label and its history, one label on many images, revert."""

from typing import Annotated

from fastapi import APIRouter, Query

from nauplius.core.contracts.catalog import (
    BatchLabel,
    ImagePublic,
    LabelChanges,
    LabelCreate,
    LabelHistory,
    LabelPublic,
    LabelsAssigned,
    RevertRequest,
)
from services.catalog import access, labelling, queries, repository, taxonomy
from services.catalog.deps import ActorDep, ConnectionDep, ScopeDep
from services.catalog.domain import NewLabel

router = APIRouter(prefix="/v1")


@router.get("/labels/changes")
async def label_changes(
    conn: ConnectionDep,
    after_label_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=10_000)] = 10_000,
) -> LabelChanges:
    """Images whose label changed after a label id (every change but a suggestion), paged by
    label id; `last_label_id` is the newest label now (a refresh's watermark)."""
    last = await conn.fetchval(queries.LAST_LABEL_ID)
    records = await conn.fetch(queries.SELECT_LABEL_CHANGES, after_label_id, limit) if limit else []
    full = limit > 0 and len(records) == limit
    return LabelChanges(image_ids=sorted({r["image_id"] for r in records}),
                        next_after_label_id=records[-1]["id"] if full else None,
                        last_label_id=last)


@router.put("/images/{image_id}/label")
async def set_label(
    conn: ConnectionDep, actor: ActorDep, scope: ScopeDep, image_id: int, body: LabelCreate,
    create_taxon: bool = False,
) -> ImagePublic:
    await access.require_images(conn, scope, [image_id], "annotator", "labelling")
    async with conn.transaction():
        taxon_id = None if body.taxon is None else await taxonomy.resolve_taxon(
            conn, body.taxon, create=create_taxon, actor=actor
        )
        new = NewLabel(body.taxon, body.state, body.annotator, body.confidence, taxon_id, actor)
        await repository.append_label(conn, image_id, new)
    return await repository.get_image(conn, image_id)


@router.get("/images/{image_id}/labels")
async def get_label_history(conn: ConnectionDep, scope: ScopeDep, image_id: int) -> LabelHistory:
    await repository.get_image(conn, image_id, scope.projects("viewer"))  # 404 if not readable
    return LabelHistory(data=await repository.label_history(conn, image_id))


@router.post("/labels/batch")
async def assign_labels(
    conn: ConnectionDep,
    actor: ActorDep,
    scope: ScopeDep,
    body: BatchLabel,
    create_taxon: bool = False,
) -> LabelsAssigned:
    """One label (taxon + state) on every listed image, all or none. `create_taxon` adds an
    unknown taxon as a new root (the gateway allows it to admins' uploads only)."""
    await access.require_images(conn, scope, body.image_ids, "annotator", "labelling")
    writer = labelling.Writer(actor, body.annotator)
    ids = await labelling.assign(
        conn, body.image_ids, body.taxon, body.state, writer, create_taxon=create_taxon
    )
    return LabelsAssigned(labelled=len(ids), image_ids=ids)


@router.post("/labels/{label_id}/revert")
async def revert_label(
    conn: ConnectionDep, actor: ActorDep, scope: ScopeDep, label_id: int,
    body: RevertRequest | None = None,
) -> LabelPublic:
    undone = await conn.fetchrow(queries.SELECT_LABEL_BY_ID, label_id)
    if undone is not None:  # an unknown label is revert's own 404
        await access.require_images(conn, scope, [undone["image_id"]], "annotator", "reverting")
    writer = labelling.Writer(actor, body.annotator if body else None)
    return await labelling.revert(conn, label_id, writer)
