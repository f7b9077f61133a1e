"""Labels: an image's current label and its history, one label on many images, revert."""

from fastapi import APIRouter

from nauplius.core.contracts.catalog import (
    BatchLabel,
    ImagePublic,
    LabelCreate,
    LabelHistory,
    LabelPublic,
    LabelsAssigned,
    RevertRequest,
)
from services.catalog import labelling, repository, taxonomy
from services.catalog.deps import ActorDep, ConnectionDep
from services.catalog.domain import NewLabel

router = APIRouter(prefix="/v1")


@router.put("/images/{image_id}/label")
async def set_label(
    conn: ConnectionDep, actor: ActorDep, image_id: int, body: LabelCreate,
    create_taxon: bool = False,
) -> ImagePublic:
    async with conn.transaction():
        taxon_id = None if body.taxon is None else await taxonomy.resolve_taxon(
            conn, body.taxon, create=create_taxon, actor=actor
        )
        new = NewLabel(body.taxon, body.state, body.annotator, body.confidence, taxon_id, actor)
        await repository.append_label(conn, image_id, new)
    return await repository.get_image(conn, image_id)


@router.get("/images/{image_id}/labels")
async def get_label_history(conn: ConnectionDep, image_id: int) -> LabelHistory:
    return LabelHistory(data=await repository.label_history(conn, image_id))


@router.post("/labels/batch")
async def assign_labels(
    conn: ConnectionDep,
    actor: ActorDep,
    body: BatchLabel,
    create_taxon: bool = False,
) -> LabelsAssigned:
    """One label (taxon + state) on every listed image, all or none. `create_taxon` adds an
    unknown taxon as a new root (the gateway allows it to admins' uploads only)."""
    writer = labelling.Writer(actor, body.annotator)
    ids = await labelling.assign(
        conn, body.image_ids, body.taxon, body.state, writer, create_taxon=create_taxon
    )
    return LabelsAssigned(labelled=len(ids), image_ids=ids)


@router.post("/labels/{label_id}/revert")
async def revert_label(
    conn: ConnectionDep, actor: ActorDep, label_id: int, body: RevertRequest | None = None
) -> LabelPublic:
    writer = labelling.Writer(actor, body.annotator if body else None)
    return await labelling.revert(conn, label_id, writer)
