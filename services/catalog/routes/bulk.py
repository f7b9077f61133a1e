"""/v1/images/bulk-rows: catalog rows without uploaded bytes, up to MAX_ROWS per request
(services/catalog/bulk_rows.py). Behind the service credential like every catalog route; the
gateway does not forward it, and a call that speaks for a person needs an admin key."""

from fastapi import APIRouter, status

from nauplius.core.contracts.catalog import ImageIds
from services.catalog.bulk_rows import BulkRowsRequest, insert_rows
from services.catalog.deps import CallerDep, ConnectionDep, IngestorDep

router = APIRouter(prefix="/v1/images")


@router.post("/bulk-rows", status_code=status.HTTP_201_CREATED)
async def insert_bulk_rows(conn: ConnectionDep, ingestor: IngestorDep, caller: CallerDep,
                           body: BulkRowsRequest) -> ImageIds:
    """201 with the new images' ids in row order; 409 when a sha256 is already catalogued, 422 naming an
    unknown taxon or project or a request over the row cap, 404 naming a `files_of` image that
    does not exist. All rows or none."""
    caller.require_admin("loading bulk rows")
    ids = await insert_rows(conn, body.rows, ingestor.store, caller.annotator_id)
    return ImageIds(image_ids=ids)
