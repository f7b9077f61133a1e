"""/v1/taxa: the taxonomy tree; list, add, edit, delete, import from CSV."""

from fastapi import APIRouter, Request, status

from nauplius.core.contracts.catalog import (
    TaxaImported,
    TaxonIn,
    TaxonList,
    TaxonPublic,
    TaxonUpdated,
)
from services.catalog import taxonomy
from services.catalog.deps import ActorDep, ConnectionDep
from services.catalog.errors import InvalidMetadata

router = APIRouter(prefix="/v1/taxa")

MAX_CSV_BYTES = 10 * 1024 * 1024


def _fields(body: TaxonIn) -> taxonomy.TaxonFields:
    return taxonomy.TaxonFields(body.name, body.rank or None, body.parent, body.aphia_id)


@router.get("")
async def list_taxa(conn: ConnectionDep) -> TaxonList:
    taxa = await taxonomy.list_taxa(conn)
    return TaxonList(data=taxa, count=len(taxa))


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_taxon(conn: ConnectionDep, actor: ActorDep, body: TaxonIn) -> TaxonPublic:
    return await taxonomy.create_taxon(conn, _fields(body), actor)


@router.post("/import", openapi_extra={
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
})
async def import_taxa(conn: ConnectionDep, actor: ActorDep, request: Request) -> TaxaImported:
    """Body: CSV text with the header `name,rank,parent,aphia_id` (rank, parent, aphia_id may be
    empty). Adds new names and updates known ones; all rows or none."""
    data = await request.body()
    if len(data) > MAX_CSV_BYTES:
        raise InvalidMetadata(f"the CSV is over {MAX_CSV_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidMetadata("the CSV is not UTF-8 text") from None
    rows = taxonomy.parse_taxa_csv(text)
    if not rows:
        raise InvalidMetadata("the CSV has no taxa")
    return TaxaImported(**await taxonomy.import_taxa(conn, rows, actor))


@router.get("/{taxon_id}")
async def get_taxon(conn: ConnectionDep, taxon_id: int) -> TaxonPublic:
    return await taxonomy.get_taxon(conn, taxon_id)


@router.put("/{taxon_id}")
async def update_taxon(
    conn: ConnectionDep, actor: ActorDep, taxon_id: int, body: TaxonIn
) -> TaxonUpdated:
    """Edits every field; a rename carries over to the labels that name the taxon. Answers the
    taxon and `relabelled_image_ids`, the images whose current label changed name."""
    taxon, renamed = await taxonomy.update_taxon(conn, taxon_id, _fields(body), actor)
    return TaxonUpdated(**taxon.model_dump(), relabelled_image_ids=renamed)


@router.delete("/{taxon_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_taxon(conn: ConnectionDep, taxon_id: int) -> None:
    await taxonomy.delete_taxon(conn, taxon_id)
