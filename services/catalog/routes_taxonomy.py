"""The taxonomy tree: list, add, edit, delete, import from CSV."""

from dataclasses import asdict

from fastapi import APIRouter, Request, status

from services.catalog import taxonomy
from services.catalog.deps import ActorDep, ConnectionDep
from services.catalog.errors import InvalidMetadata
from nauplius.core.contracts.catalog import TaxonIn

router = APIRouter(prefix="/v1/taxa")

MAX_CSV_BYTES = 10 * 1024 * 1024


def _fields(body: TaxonIn) -> taxonomy.TaxonFields:
    return taxonomy.TaxonFields(body.name, body.rank or None, body.parent, body.aphia_id)


def _public(taxon: taxonomy.Taxon, names: dict[int, str]) -> dict:
    return {**asdict(taxon), "parent": names.get(taxon.parent_id) if taxon.parent_id else None}


@router.get("")
async def list_taxa(conn: ConnectionDep) -> dict:
    taxa = await taxonomy.list_taxa(conn)
    names = {t.id: t.name for t in taxa}
    return {"data": [_public(t, names) for t in taxa], "count": len(taxa)}


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_taxon(conn: ConnectionDep, actor: ActorDep, body: TaxonIn) -> dict:
    taxon = await taxonomy.create_taxon(conn, _fields(body), actor)
    return _public(taxon, {taxon.parent_id: body.parent} if taxon.parent_id else {})


@router.post("/import")
async def import_taxa(conn: ConnectionDep, actor: ActorDep, request: Request) -> dict:
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
    return await taxonomy.import_taxa(conn, rows, actor)


@router.get("/{taxon_id}")
async def get_taxon(conn: ConnectionDep, taxon_id: int) -> dict:
    taxon = await taxonomy.get_taxon(conn, taxon_id)
    parent = await taxonomy.get_taxon(conn, taxon.parent_id) if taxon.parent_id else None
    return _public(taxon, {parent.id: parent.name} if parent else {})


@router.put("/{taxon_id}")
async def update_taxon(conn: ConnectionDep, actor: ActorDep, taxon_id: int, body: TaxonIn) -> dict:
    """Edits every field; a rename carries over to the labels that name the taxon. Answers the
    taxon and `relabelled_image_ids`, the images whose current label changed name."""
    taxon, renamed = await taxonomy.update_taxon(conn, taxon_id, _fields(body), actor)
    public = _public(taxon, {taxon.parent_id: body.parent} if taxon.parent_id else {})
    return {**public, "relabelled_image_ids": renamed}


@router.delete("/{taxon_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_taxon(conn: ConnectionDep, taxon_id: int) -> None:
    await taxonomy.delete_taxon(conn, taxon_id)
