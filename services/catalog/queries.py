"""All SQL of the catalog, in one place."""

# --- migrations -------------------------------------------------------------------------------
# Arbitrary constant shared by every catalog process: "nauplius" in ASCII, as a bigint.
MIGRATION_LOCK_KEY = 0x6E6175706C697573
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock($1::bigint)"
CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
MIGRATION_CHECKSUM = "SELECT checksum FROM schema_migrations WHERE version = $1"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"

HEALTH_CHECK = "SELECT 1"

# --- images -----------------------------------------------------------------------------------
IMAGE_COLUMNS = """
    id, sha256, filename, format, width, height, instrument, sample, captured_at, metadata,
    created_at, indexed_at, indexed_model, label, label_state, label_confidence, project_id,
    created_by
"""

INSERT_IMAGE = f"""
INSERT INTO images
    (sha256, filename, format, width, height, instrument, sample, captured_at, metadata,
     project_id, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (sha256) DO NOTHING
RETURNING {IMAGE_COLUMNS}
"""

SELECT_IMAGE_BY_ID = f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1"
SELECT_IMAGE_BY_SHA256 = f"SELECT {IMAGE_COLUMNS} FROM images WHERE sha256 = $1"
SELECT_IMAGES_BY_IDS = f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = any($1::bigint[])"
SELECT_IMAGES_BY_SHA256S = f"SELECT {IMAGE_COLUMNS} FROM images WHERE sha256 = any($1::text[])"
IMAGE_EXISTS = "SELECT EXISTS (SELECT 1 FROM images WHERE id = $1)"

MARK_INDEXED = f"""
UPDATE images SET indexed_at = now(), indexed_model = $2
 WHERE id = $1
RETURNING {IMAGE_COLUMNS}
"""
MARK_INDEXED_MANY = """
UPDATE images SET indexed_at = now(), indexed_model = $2
 WHERE id = any($1::bigint[])
"""

# A page of images. Filters are exact matches on columns of images (the current label is
# denormalised there); each has its own index, so paging stays an index scan at millions of rows.
LIST_FILTER_COLUMNS = ("label", "label_state", "project_id", "instrument")
# Orders of a page: newest first; or the review orders, grouped by (suggested) taxon with the most
# or least confident first.
LIST_ORDERS = {
    "newest": "id DESC",
    "confident": "label, label_confidence DESC NULLS LAST, id",
    "uncertain": "label_confidence ASC NULLS FIRST, id",
}


def _where(columns: list[str], first_param: int, min_confidence: bool) -> str:
    unknown = set(columns) - set(LIST_FILTER_COLUMNS)
    if unknown:
        raise ValueError(f"not a list filter: {sorted(unknown)}")
    terms = [f"{column} = ${i}" for i, column in enumerate(columns, start=first_param)]
    if min_confidence:
        terms.append(f"label_confidence >= ${first_param + len(columns)}")
    return "WHERE " + " AND ".join(terms) if terms else ""


def list_images_sql(
    filter_columns: list[str], order: str = "newest", min_confidence: bool = False
) -> tuple[str, str]:
    """(page query: $1 limit, $2 offset, then filters [then min confidence]; count query: the
    same filters from $1)."""
    page = (
        f"SELECT {IMAGE_COLUMNS} FROM images {_where(filter_columns, 3, min_confidence)} "
        f"ORDER BY {LIST_ORDERS[order]} LIMIT $1 OFFSET $2"
    )
    count = f"SELECT count(*) FROM images {_where(filter_columns, 1, min_confidence)}"
    return page, count


# Images not indexed in a model, in id order after a cursor: what a model change leaves to do.
SELECT_UNINDEXED = f"""
SELECT {IMAGE_COLUMNS} FROM images
 WHERE id > $2 AND indexed_model IS DISTINCT FROM $1
 ORDER BY id LIMIT $3
"""


# --- labels -----------------------------------------------------------------------------------
LABEL_COLUMNS = """
    id, image_id, taxon, annotator, state, confidence, created_at, taxon_id, annotator_id,
    reverts_label_id
"""

# The annotator's name is taken from annotators when the writer is known by id.
INSERT_LABEL = f"""
INSERT INTO labels (image_id, taxon, annotator, state, confidence, taxon_id, annotator_id,
                    reverts_label_id)
VALUES ($1, $2, COALESCE((SELECT name FROM annotators WHERE id = $7), $3), $4, $5, $6, $7, $8)
RETURNING {LABEL_COLUMNS}
"""

# Each entry with what it changed from (the entry before it; the first changed from nothing).
SELECT_LABEL_HISTORY = f"""
SELECT {LABEL_COLUMNS},
       lag(taxon) OVER (ORDER BY id) AS previous_taxon,
       COALESCE(lag(state) OVER (ORDER BY id), 'unlabelled') AS previous_state
  FROM labels WHERE image_id = $1 ORDER BY id
"""
