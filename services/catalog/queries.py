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
    created_at, indexed_at, indexed_model, label, label_state
"""

INSERT_IMAGE = f"""
INSERT INTO images
    (sha256, filename, format, width, height, instrument, sample, captured_at, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (sha256) DO NOTHING
RETURNING {IMAGE_COLUMNS}
"""

SELECT_IMAGE_BY_ID = f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1"
SELECT_IMAGE_BY_SHA256 = f"SELECT {IMAGE_COLUMNS} FROM images WHERE sha256 = $1"
SELECT_IMAGES_BY_IDS = f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = any($1::bigint[])"
IMAGE_EXISTS = "SELECT EXISTS (SELECT 1 FROM images WHERE id = $1)"

MARK_INDEXED = f"""
UPDATE images SET indexed_at = now(), indexed_model = $2
 WHERE id = $1
RETURNING {IMAGE_COLUMNS}
"""

# Newest-first list. Filters are exact matches on the denormalised current label; each has its
# own index (images_label_idx, images_label_state_idx), so paging stays an index scan at
# millions of rows.
LIST_FILTER_COLUMNS = ("label", "label_state")


def _where(columns: list[str], first_param: int) -> str:
    if not columns:
        return ""
    unknown = set(columns) - set(LIST_FILTER_COLUMNS)
    if unknown:
        raise ValueError(f"not a list filter: {sorted(unknown)}")
    terms = [f"{column} = ${i}" for i, column in enumerate(columns, start=first_param)]
    return "WHERE " + " AND ".join(terms)


def list_images_sql(filter_columns: list[str]) -> tuple[str, str]:
    """(page query: $1 limit, $2 offset, then filters; count query: filters from $1)."""
    page = (
        f"SELECT {IMAGE_COLUMNS} FROM images {_where(filter_columns, 3)} "
        "ORDER BY id DESC LIMIT $1 OFFSET $2"
    )
    count = f"SELECT count(*) FROM images {_where(filter_columns, 1)}"
    return page, count


# --- labels -----------------------------------------------------------------------------------
LABEL_COLUMNS = "id, image_id, taxon, annotator, state, confidence, created_at"

INSERT_LABEL = f"""
INSERT INTO labels (image_id, taxon, annotator, state, confidence)
VALUES ($1, $2, $3, $4, $5)
RETURNING {LABEL_COLUMNS}
"""

SELECT_LABEL_HISTORY = f"SELECT {LABEL_COLUMNS} FROM labels WHERE image_id = $1 ORDER BY id"
