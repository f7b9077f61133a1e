"""All SQL of the catalog, in one place: named constants grouped by resource (migrations and
health, images, labels, taxa, annotators and API keys, projects, suggestions, counts and export,
ingest jobs). Domain modules import them; no other catalog module holds SQL."""

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
    created_by, duplicate_of
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
# The key each order pages by, (column, descending, nulls first), ending in the unique id: newest
# first; or the review orders, grouped by (suggested) taxon with the most or least confident
# first. Migration 008 gives each review order an index in exactly this order.
ListKey = tuple[tuple[str, bool, bool], ...]
LIST_KEYS: dict[str, ListKey] = {
    "newest": (("id", True, True),),
    "confident": (("label", False, False), ("label_confidence", True, False), ("id", False, False)),
    "uncertain": (("label_confidence", False, True), ("id", False, False)),
}


def _order_by(key: ListKey) -> str:
    # Only a placement of NULLs that is not the direction's default is spelled out, so the
    # ORDER BY matches the indexes as they are declared.
    return ", ".join(
        column + (" DESC" if descending else "")
        + (("" if nulls_first else " NULLS LAST") if descending
           else (" NULLS FIRST" if nulls_first else ""))
        for column, descending, nulls_first in key)


LIST_ORDERS = {order: _order_by(key) for order, key in LIST_KEYS.items()}


def _terms(columns: list[str], first_param: int, min_confidence: bool, projects: bool) -> list[str]:
    unknown = set(columns) - set(LIST_FILTER_COLUMNS)
    if unknown:
        raise ValueError(f"not a list filter: {sorted(unknown)}")
    terms = [f"{column} = ${i}" for i, column in enumerate(columns, start=first_param)]
    if min_confidence:
        terms.append(f"label_confidence >= ${first_param + len(terms)}")
    if projects:
        terms.append(f"project_id = any(${first_param + len(terms)}::bigint[])")
    return terms


def _where(terms: list[str]) -> str:
    return "WHERE " + " AND ".join(terms) if terms else ""


def _after(key: ListKey, values: list[object], first_param: int,
           not_null: frozenset[str] = frozenset({"id"})) -> tuple[str, list[object]]:
    """The rows after `values` in the order of `key` (NULL-aware), and its parameters.

    A tail of keys of one direction whose values are known and whose NULLs come first (or that
    cannot be NULL: `not_null`) is one row comparison, which PostgreSQL answers with an index
    range scan; NULLs that sort after a value need the spelled-out OR form, and then a redundant
    bound on the first column (`label >= $v`) still starts the scan at the cursor's group.
    """
    params: list[object] = []

    def param(value: object) -> str:
        params.append(value)
        return f"${first_param + len(params) - 1}"

    def after(i: int) -> str:
        column, descending, nulls_first = key[i]
        value = values[i]
        rest = key[i:]
        if all(values[j] is not None and (nulls_first_j or col_j in not_null)
               and desc_j == descending
               for j, (col_j, desc_j, nulls_first_j) in enumerate(rest, start=i)):
            op = "<" if descending else ">"
            columns = ", ".join(col for col, _, _ in rest)
            placeholders = ", ".join(param(values[j]) for j in range(i, len(key)))
            return f"({columns}) {op} ({placeholders})" if len(rest) > 1 \
                else f"{columns} {op} {placeholders}"
        if value is None:
            within = f"{column} IS NULL AND ({after(i + 1)})"
            return f"({within}) OR {column} IS NOT NULL" if nulls_first else within
        placeholder = param(value)
        beyond = f"{column} {'<' if descending else '>'} {placeholder}"
        if not nulls_first:
            beyond += f" OR {column} IS NULL"
        return f"{beyond} OR ({column} = {placeholder} AND ({after(i + 1)}))"

    condition = f"({after(0)})"
    column, descending, nulls_first = key[0]
    if len(params) > 1 and values[0] is not None and (nulls_first or column in not_null):
        condition += f" AND {column} {'<=' if descending else '>='} ${first_param}"
    return condition, params


def list_images_sql(
    filter_columns: list[str], order: str = "newest", min_confidence: bool = False,
    projects: bool = False, after: list[object] | None = None, labelled: bool = False,
) -> tuple[str, str, list[object]]:
    """(page query: $1 limit, $2 offset, then filters [then min confidence] [then the readable
    project ids] [then the key of the row the page starts after]; count query: the same filters
    from $1, over images; the page's keyset parameters).

    `after` is a row's values of LIST_KEYS[order]: the page is the rows that follow it;
    `labelled`: the filters admit only labelled images (a state other than unlabelled), whose
    label is never NULL."""
    terms = _terms(filter_columns, 3, min_confidence, projects)
    keyset: list[object] = []
    if after is not None:
        not_null = frozenset({"id", "label"} if labelled else {"id"})
        condition, keyset = _after(LIST_KEYS[order], after, 3 + len(terms), not_null)
        terms.append(condition)
    terms.append("duplicate_of IS NULL")  # a merged near-duplicate is left out (migration 011)
    page = (f"SELECT {IMAGE_COLUMNS} FROM images {_where(terms)} "
            f"ORDER BY {LIST_ORDERS[order]} LIMIT $1 OFFSET $2")
    count = ("SELECT count(*) FROM images "
             f"{_where([*_terms(filter_columns, 1, min_confidence, projects), 'duplicate_of IS NULL'])}")
    return page, count, keyset


def maintained_count_sql(filter_columns: list[str], projects: bool = False) -> str:
    """The number of images matching exact filters (and the readable project ids), from the
    counts migration 008 maintains: a sum over a few rows, whatever the number of images."""
    return ("SELECT COALESCE(sum(images), 0)::bigint FROM image_counts "
            f"{_where(_terms(filter_columns, 1, False, projects))}")


# Images not indexed in a model, in id order after a cursor: what a model change leaves to do
# (a merged near-duplicate has no point to make).
SELECT_UNINDEXED = f"""
SELECT {IMAGE_COLUMNS} FROM images
 WHERE id > $2 AND indexed_model IS DISTINCT FROM $1 AND duplicate_of IS NULL
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

SELECT_LABEL_BY_ID = f"SELECT {LABEL_COLUMNS} FROM labels WHERE id = $1"
SELECT_PREVIOUS_LABEL = f"""
SELECT {LABEL_COLUMNS} FROM labels WHERE image_id = $1 AND id < $2 ORDER BY id DESC LIMIT 1
"""
EXISTING_IMAGE_IDS = "SELECT id FROM images WHERE id = any($1::bigint[])"
# One label on many images; the annotator's name as in INSERT_LABEL.
INSERT_BATCH_LABELS = """
INSERT INTO labels (image_id, taxon, annotator, state, confidence, taxon_id, annotator_id)
SELECT image_id, $2, COALESCE((SELECT name FROM annotators WHERE id = $7), $3), $4, $5, $6, $7
  FROM unnest($1::bigint[]) AS image_id
RETURNING image_id
"""


# --- taxa -------------------------------------------------------------------------------------
TAXON_COLUMNS = "id, name, rank, parent_id, aphia_id, created_at, created_by, updated_at, updated_by"
# A taxon as answered: its columns (of `t`) and its parent's name.
TAXON_WITH_PARENT = (
    f"{TAXON_COLUMNS}, (SELECT p.name FROM taxa p WHERE p.id = t.parent_id) AS parent"
)
SELECT_TAXA = f"SELECT {TAXON_WITH_PARENT} FROM taxa t ORDER BY name"
SELECT_TAXON = f"SELECT {TAXON_WITH_PARENT} FROM taxa t WHERE id = $1"
SELECT_TAXON_BY_NAME = f"SELECT {TAXON_WITH_PARENT} FROM taxa t WHERE name = $1"
# The name of another taxon ($2: the one being edited, or NULL) holding this AphiaID.
TAXON_WITH_APHIA_ID = "SELECT name FROM taxa WHERE aphia_id = $1 AND id IS DISTINCT FROM $2"
TAXA_EXIST = "SELECT EXISTS (SELECT 1 FROM taxa)"
CREATE_ROOT_TAXON = """
INSERT INTO taxa (name, created_by) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id
"""
INSERT_TAXON = f"""
WITH t AS (
    INSERT INTO taxa (name, rank, parent_id, aphia_id, created_by) VALUES ($1, $2, $3, $4, $5)
    RETURNING {TAXON_COLUMNS}
)
SELECT {TAXON_WITH_PARENT} FROM t
"""
# The parent is read as it was before the statement: the update never changes it (no cycles).
UPDATE_TAXON = f"""
WITH t AS (
    UPDATE taxa SET name = $2, rank = $3, parent_id = $4, aphia_id = $5,
                    updated_at = now(), updated_by = $6
     WHERE id = $1
    RETURNING {TAXON_COLUMNS}
)
SELECT {TAXON_WITH_PARENT} FROM t
"""
# Would the new parent put the taxon under itself? True when $2 is $1 or one of its descendants.
IS_SELF_OR_DESCENDANT = """
WITH RECURSIVE below (id) AS (
    SELECT $1::bigint
    UNION ALL
    SELECT t.id FROM taxa t JOIN below b ON t.parent_id = b.id
)
SELECT EXISTS (SELECT 1 FROM below WHERE id = $2)
"""
# Labels written while the tree did not name a taxon yet point to it once it does.
LINK_LABELS = "UPDATE labels SET taxon_id = $1 WHERE taxon = $2 AND taxon_id IS NULL"
# A rename carries over to the labels that name the taxon (they point to it by id).
RENAME_IN_LABELS = "UPDATE labels SET taxon = $2 WHERE taxon_id = $1"
RENAME_IN_IMAGES = "UPDATE images SET label = $1 WHERE label = $2 RETURNING id"
TAXON_IN_USE = """
SELECT EXISTS (SELECT 1 FROM labels WHERE taxon_id = $1)
    OR EXISTS (SELECT 1 FROM taxa WHERE parent_id = $1)
"""
DELETE_TAXON = "DELETE FROM taxa WHERE id = $1"


# --- annotators and API keys ------------------------------------------------------------------
ANNOTATOR_COLUMNS = "id, name, institution, created_at, created_by"
INSERT_ANNOTATOR = f"""
INSERT INTO annotators (name, institution, created_by) VALUES ($1, $2, $3)
RETURNING {ANNOTATOR_COLUMNS}
"""
SELECT_ANNOTATORS = f"SELECT {ANNOTATOR_COLUMNS} FROM annotators ORDER BY id"
SELECT_ANNOTATOR = f"SELECT {ANNOTATOR_COLUMNS} FROM annotators WHERE id = $1"

API_KEY_COLUMNS = (
    "id, annotator_id, key_prefix, role, created_at, created_by, revoked_at, revoked_by"
)
INSERT_API_KEY = f"""
INSERT INTO api_keys (annotator_id, key_hash, key_prefix, role, created_by)
VALUES ($1, $2, $3, $4, $5)
RETURNING {API_KEY_COLUMNS}
"""
SELECT_API_KEYS = f"SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY id"
SELECT_API_KEY = f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"
REVOKE_API_KEY = f"""
UPDATE api_keys SET revoked_at = now(), revoked_by = $2
 WHERE id = $1 AND revoked_at IS NULL
RETURNING {API_KEY_COLUMNS}
"""
RESOLVE_API_KEY = """
SELECT k.id AS key_id, k.role, a.id AS annotator_id, a.name, a.institution
  FROM api_keys k JOIN annotators a ON a.id = k.annotator_id
 WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""
ANY_API_KEY = "SELECT EXISTS (SELECT 1 FROM api_keys)"
# Two catalog processes starting at once create one first key, not two.
BOOTSTRAP_LOCK = "SELECT pg_advisory_xact_lock(x'6e61757073626f6f74'::bit(64)::bigint)"


# --- projects ---------------------------------------------------------------------------------
PROJECT_COLUMNS = "id, name, description, created_at, created_by"
INSERT_PROJECT = f"""
INSERT INTO projects (name, description, created_by) VALUES ($1, $2, $3)
ON CONFLICT (name) DO NOTHING
RETURNING {PROJECT_COLUMNS}
"""
# $1: the readable project ids (NULL: every project), as in every scoped query below.
SELECT_PROJECTS = f"""
SELECT {PROJECT_COLUMNS}, (SELECT count(*) FROM images i WHERE i.project_id = p.id) AS image_count
  FROM projects p WHERE ($1::bigint[] IS NULL OR p.id = any($1)) ORDER BY id
"""
SELECT_PROJECT = f"SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"
SELECT_PROJECT_IDS = "SELECT id FROM projects ORDER BY id"
MOVE_IMAGES = "UPDATE images SET project_id = $1 WHERE id = any($2::bigint[]) RETURNING id"


# --- project grants and scopes (007) ---------------------------------------------------------
# The highest role (0-based rank in $2, the roles lowest first) each project grants annotator
# $1: to everyone, to their institution, or to them.
GRANTED_RANKS = """
SELECT g.project_id, max(array_position($2::text[], g.role)) - 1 AS rank
  FROM project_grants g
 WHERE g.everyone OR g.annotator_id = $1
    OR g.institution = (SELECT institution FROM annotators WHERE id = $1)
 GROUP BY g.project_id
"""
IMAGE_PROJECTS = "SELECT id, project_id FROM images WHERE id = any($1::bigint[])"
GRANT_COLUMNS = """
    g.id, g.project_id, g.everyone, g.institution, g.annotator_id, a.name AS annotator, g.role,
    g.created_at, g.created_by
"""
SELECT_GRANTS = f"""
SELECT {GRANT_COLUMNS} FROM project_grants g LEFT JOIN annotators a ON a.id = g.annotator_id
 WHERE g.project_id = $1 ORDER BY g.id
"""
SELECT_GRANT = f"""
SELECT {GRANT_COLUMNS} FROM project_grants g LEFT JOIN annotators a ON a.id = g.annotator_id
 WHERE g.project_id = $1 AND g.id = $2
"""
UPSERT_GRANT = """
INSERT INTO project_grants (project_id, everyone, institution, annotator_id, role, created_by)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (project_id, everyone, institution, annotator_id)
DO UPDATE SET role = excluded.role, created_at = now(), created_by = excluded.created_by
RETURNING id
"""
DELETE_GRANT = "DELETE FROM project_grants WHERE project_id = $1 AND id = $2 RETURNING id"


# --- suggestions ------------------------------------------------------------------------------
# Only suggestions of images nobody has judged yet; FOR UPDATE re-reads each row after its lock,
# so an image validated while the suggestions were being computed is left alone.
LOCK_UNJUDGED = """
SELECT id, label, label_state, label_confidence FROM images
 WHERE id = any($1::bigint[]) AND label_state IN ('unlabelled', 'predicted')
 ORDER BY id FOR UPDATE
"""
INSERT_PREDICTIONS = """
INSERT INTO labels (image_id, taxon, annotator, state, confidence, taxon_id, share)
SELECT p.image_id, p.taxon, $4, 'predicted', p.confidence, t.id, p.share
  FROM unnest($1::bigint[], $2::text[], $3::real[], $5::real[])
       AS p (image_id, taxon, confidence, share)
  LEFT JOIN taxa t ON t.name = p.taxon
"""
ACCEPT_SUGGESTIONS = """
INSERT INTO labels (image_id, taxon, annotator, state, taxon_id, annotator_id, confidence)
SELECT i.id, i.label, COALESCE((SELECT name FROM annotators WHERE id = $6), $7), 'validated',
       l.taxon_id, $6, i.label_confidence
  FROM images i JOIN labels l ON l.id = i.current_label_id
 WHERE i.label_state = 'predicted' AND i.label = $1 AND i.label_confidence >= $2
   AND ($3::bigint IS NULL OR i.project_id = $3)
   AND ($4::text IS NULL OR i.instrument = $4)
   AND ($5::bigint[] IS NULL OR i.id = any($5))
   AND ($8::bigint[] IS NULL OR i.project_id = any($8))
ORDER BY i.id
RETURNING image_id
"""
SUGGESTION_GROUPS = """
SELECT label AS taxon, count(*) AS images,
       count(*) FILTER (WHERE label_confidence >= $1) AS confident,
       min(label_confidence) AS min_confidence, max(label_confidence) AS max_confidence
  FROM images
 WHERE label_state = 'predicted' AND ($2::bigint IS NULL OR project_id = $2)
   AND ($3::bigint[] IS NULL OR project_id = any($3))
 GROUP BY label
 ORDER BY confident DESC, images DESC, label
"""
SELECT_CALIBRATION = """
SELECT calibration, created_at FROM suggestion_calibrations WHERE model = $1
 ORDER BY id DESC LIMIT 1
"""
INSERT_CALIBRATION = """
INSERT INTO suggestion_calibrations (model, calibration, created_by) VALUES ($1, $2, $3)
"""


# --- label counts and export rows -------------------------------------------------------------
STATE_COUNTS = """
SELECT label_state, count(*) FROM images
 WHERE ($1::bigint IS NULL OR project_id = $1) AND ($2::bigint[] IS NULL OR project_id = any($2))
   AND duplicate_of IS NULL
 GROUP BY label_state
"""
EXPORT_ROWS = """
SELECT i.id, i.sha256, i.filename, i.format, i.width, i.height, i.instrument, i.sample,
       i.captured_at, i.created_at, p.id AS project_id, p.name AS project,
       l.taxon, l.state, l.confidence, l.created_at AS labelled_at, l.annotator,
       a.institution, t.rank, t.aphia_id
  FROM images i
  JOIN projects p ON p.id = i.project_id
  LEFT JOIN labels l ON l.id = i.current_label_id
  LEFT JOIN annotators a ON a.id = l.annotator_id
  LEFT JOIN taxa t ON t.id = l.taxon_id
 WHERE i.label_state = any($1::text[]) AND ($2::bigint IS NULL OR i.project_id = $2)
   AND ($3::bigint[] IS NULL OR i.project_id = any($3))
   AND i.id > $4 AND i.duplicate_of IS NULL
 ORDER BY i.id LIMIT $5
"""


# --- ingest jobs (002_ingest_jobs.sql) --------------------------------------------------------
MAX_JOB_ERRORS_SHOWN = 100

INSERT_JOB = "INSERT INTO ingest_jobs (source, created_by) VALUES ($1, $2) RETURNING id"
JOB_IS_OPEN = "SELECT NOT closed FROM ingest_jobs WHERE id = $1 FOR SHARE"
JOB_OWNER = "SELECT created_by FROM ingest_jobs WHERE id = $1"
INSERT_JOB_ITEMS = """
INSERT INTO ingest_items (job_id, sha256, filename, source, fields, status, error)
SELECT $1, i.sha256, i.filename, i.source, i.fields,
       CASE WHEN i.error IS NULL THEN 'pending' ELSE 'failed' END, i.error
  FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[])
       AS i (sha256, filename, source, fields, error)
"""
CLOSE_JOB = "UPDATE ingest_jobs SET closed = true WHERE id = $1 RETURNING id"
# A closed job with no open item is finished; stamped once.
FINISH_JOBS = """
UPDATE ingest_jobs AS j SET finished_at = now()
 WHERE j.id = any($1::bigint[]) AND j.closed AND j.finished_at IS NULL
   AND (j.task_status IS NULL OR j.task_status IN ('done', 'failed'))
   AND NOT EXISTS (SELECT 1 FROM ingest_items i
                    WHERE i.job_id = j.id AND i.status IN ('pending', 'running'))
"""
# Run before FINISH_JOBS, as a statement of its own (see jobs.finish_jobs).
LOCK_JOBS = """
SELECT id FROM ingest_jobs WHERE id = any($1::bigint[]) ORDER BY id FOR NO KEY UPDATE
"""
SELECT_JOB = """
SELECT id, kind, source, created_at, created_by, closed, finished_at,
       task_status, task_attempts, progress_done, progress_total, task_error, result,
       extract(epoch FROM coalesce(finished_at, now()) - created_at) AS elapsed_s
  FROM ingest_jobs WHERE id = $1
"""
# $3, $4: the caller's annotator id and readable projects (NULL: every job). A job is seen by
# its creator and by whoever may read its project.
SELECT_JOB_IDS = """
SELECT id FROM ingest_jobs WHERE ($1::boolean IS NOT TRUE OR finished_at IS NULL)
   AND ($4::bigint[] IS NULL OR created_by = $3 OR project_id = any($4))
 ORDER BY id DESC LIMIT $2
"""
JOB_VISIBLE = """
SELECT $2::bigint[] IS NULL OR created_by = $1 OR project_id = any($2) FROM ingest_jobs
 WHERE id = $3
"""
JOB_PROJECT = "SELECT project_id FROM ingest_jobs WHERE id = $1"
COUNT_JOB_ITEMS = "SELECT status, count(*) AS n FROM ingest_items WHERE job_id = $1 GROUP BY status"
SELECT_JOB_ERRORS = f"""
SELECT source, filename, error FROM ingest_items WHERE job_id = $1 AND status = 'failed'
 ORDER BY id LIMIT {MAX_JOB_ERRORS_SHOWN}
"""
# Staged bytes are written and their items recorded under this lock held shared; they are
# deleted under it held exclusively, so a file can never vanish between an intake's write and its
# rows' commit (another intake of the same bytes may be in flight while its twin settles).
STAGING_LOCK_KEY = 0x6E617570  # "naup"
LOCK_STAGING_SHARED = "SELECT pg_advisory_xact_lock_shared($1)"
LOCK_STAGING_EXCLUSIVE = "SELECT pg_advisory_xact_lock($1)"
# Contents of these items that no open or failed item still needs: the image store has them.
RELEASABLE_STAGED = """
SELECT DISTINCT i.sha256 FROM ingest_items i
 WHERE i.id = any($1::bigint[]) AND i.status IN ('done', 'duplicate')
   AND NOT EXISTS (SELECT 1 FROM ingest_items o
                    WHERE o.sha256 = i.sha256 AND o.status IN ('pending', 'running', 'failed'))
"""
# Of these contents, those an open or failed item needs: an intake that rolled back deletes the rest.
STAGED_IN_USE = """
SELECT DISTINCT sha256 FROM ingest_items
 WHERE sha256 = any($1::text[]) AND status IN ('pending', 'running', 'failed')
"""
# What waits or runs, for the operators' gauges (GET /metrics): partial indexes keep it cheap.
JOB_QUEUE_DEPTH = """
SELECT 'items' AS what, status AS state, count(*) AS n FROM ingest_items
 WHERE status IN ('pending', 'running') GROUP BY status
UNION ALL
SELECT 'tasks', task_status, count(*) FROM ingest_jobs
 WHERE task_status IN ('pending', 'running') GROUP BY task_status
UNION ALL
SELECT 'outbox', 'pending', count(*) FROM index_outbox
"""
# Running items whose lease ran out for the $1-th time: every worker that took one stopped while
# working on it (a poison input that kills the process). They fail instead of being taken again.
ABANDON_ITEMS = """
UPDATE ingest_items
   SET status = 'failed', lease_until = NULL, updated_at = now(),
       error = 'gave up: taken ' || attempts || ' times by workers that stopped before settling it'
 WHERE status = 'running' AND lease_until < now() AND attempts >= $1
RETURNING job_id
"""
# Pending items that are due, and running items whose worker let the lease run out (it died).
CLAIM_ITEMS = """
WITH picked AS (
    SELECT id FROM ingest_items
     WHERE status IN ('pending', 'running')
       AND ((status = 'pending' AND not_before <= now())
            OR (status = 'running' AND lease_until < now()))
     ORDER BY id
     LIMIT $1
       FOR UPDATE SKIP LOCKED
)
UPDATE ingest_items AS i
   SET status = 'running', attempts = i.attempts + 1,
       lease_until = now() + $2 * interval '1 second', updated_at = now()
  FROM picked, ingest_jobs j WHERE i.id = picked.id AND j.id = i.job_id
RETURNING i.id, i.job_id, i.sha256, i.filename, i.source, i.fields, i.attempts,
          j.created_by
"""
SELECT_ITEM_SHA256 = "SELECT sha256 FROM ingest_items WHERE id = $1"
# Only a running item takes a result: a late answer from a worker whose item was retaken and
# finished by another is dropped.
MARK_ITEM_DONE = """
UPDATE ingest_items SET status = 'done', image_id = $2, error = NULL, lease_until = NULL,
       updated_at = now()
 WHERE id = $1 AND status = 'running'
   AND NOT EXISTS (SELECT 1 FROM ingest_items o WHERE o.image_id = $2 AND o.status = 'done')
   AND (SELECT created_at FROM images WHERE id = $2)
       >= (SELECT j.created_at FROM ingest_jobs j JOIN ingest_items it ON it.job_id = j.id
            WHERE it.id = $1)
RETURNING job_id
"""
MARK_ITEM_DUPLICATE = """
UPDATE ingest_items SET status = 'duplicate', image_id = $2, error = NULL, lease_until = NULL,
       updated_at = now()
 WHERE id = $1 AND status = 'running'
RETURNING job_id
"""
MARK_ITEM_FAILED = """
UPDATE ingest_items SET status = 'failed', error = $2, lease_until = NULL, updated_at = now()
 WHERE id = $1 AND status = 'running'
RETURNING job_id
"""
MARK_ITEM_RETRY = """
UPDATE ingest_items SET status = 'pending', error = $2, lease_until = NULL,
       not_before = now() + $3 * interval '1 second', updated_at = now()
 WHERE id = $1 AND status = 'running'
RETURNING job_id
"""


# --- job tasks (005) --------------------------------------------------------------------------
INSERT_TASK_JOB = """
INSERT INTO ingest_jobs (kind, params, source, created_by, closed, task_status)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
"""
SUGGESTION_JOBS_LOCK = 0x6E617570_7375  # "naup" "su"
LOCK_SUGGESTION_JOBS = "SELECT pg_advisory_xact_lock($1)"
PENDING_INCREMENTAL_REFRESH = """
SELECT id FROM ingest_jobs
 WHERE kind = 'suggestions' AND task_status = 'pending' AND params = $1
 ORDER BY id LIMIT 1
"""
JOB_TASK_STATE = "SELECT kind, task_status FROM ingest_jobs WHERE id = $1"
ARCHIVE_REFUSED = """
UPDATE ingest_jobs SET task_status = 'failed', task_error = $2, closed = true
 WHERE id = $1 AND task_status = 'waiting'
"""
ARCHIVE_STAGED = """
UPDATE ingest_jobs SET task_status = 'pending', task_not_before = now()
 WHERE id = $1 AND kind = 'archive' AND task_status = 'waiting'
RETURNING kind
"""
# Due tasks, and running tasks whose worker let the lease run out (it died).
CLAIM_TASK = """
WITH picked AS (
    SELECT id FROM ingest_jobs
     WHERE task_status IN ('pending', 'running') AND kind = any($1::text[])
       AND ((task_status = 'pending' AND task_not_before <= now())
            OR (task_status = 'running' AND task_lease_until < now()))
     ORDER BY id
     LIMIT 1
       FOR UPDATE SKIP LOCKED
)
UPDATE ingest_jobs AS j
   SET task_status = 'running', task_attempts = j.task_attempts + 1,
       task_lease_until = now() + $2 * interval '1 second'
  FROM picked WHERE j.id = picked.id
RETURNING j.id, j.kind, j.params, j.task_attempts AS attempts, j.created_by, j.progress_done
"""
TASK_PROGRESS = """
UPDATE ingest_jobs
   SET progress_done = coalesce($2, progress_done), progress_total = coalesce($3, progress_total),
       task_lease_until = now() + $4 * interval '1 second'
 WHERE id = $1 AND task_status = 'running'
RETURNING id
"""
TASK_RETRY = """
UPDATE ingest_jobs
   SET task_status = 'pending', task_error = $2, task_lease_until = NULL,
       task_not_before = now() + $3 * interval '1 second'
 WHERE id = $1 AND task_status = 'running'
RETURNING id
"""
# A failed archive job takes no more items: it is closed, so it can finish.
TASK_END = """
UPDATE ingest_jobs
   SET task_status = $2, task_error = $3, result = $4, task_lease_until = NULL,
       closed = closed OR $2 = 'failed'
 WHERE id = $1 AND task_status = 'running'
RETURNING id
"""

# --- index outbox (005) -----------------------------------------------------------------------
# Only images already indexed: one still on its way gets its payload from the ingest pipeline.
CLAIM_OUTBOX = """
WITH picked AS (
    SELECT o.image_id FROM index_outbox o JOIN images i ON i.id = o.image_id
     WHERE o.not_before <= now() AND (o.lease_until IS NULL OR o.lease_until < now())
       AND i.indexed_model IS NOT NULL
     ORDER BY o.not_before
     LIMIT $1
       FOR UPDATE OF o SKIP LOCKED
)
UPDATE index_outbox AS o
   SET lease_until = now() + $2 * interval '1 second', attempts = o.attempts + 1
  FROM picked WHERE o.image_id = picked.image_id
RETURNING o.image_id, o.version, o.attempts
"""
OUTBOX_REMOVE = """
DELETE FROM index_outbox AS o USING unnest($1::bigint[], $2::bigint[]) AS d (image_id, version)
 WHERE o.image_id = d.image_id AND o.version = d.version
RETURNING o.image_id
"""
OUTBOX_RETRY = """
UPDATE index_outbox AS o
   SET lease_until = NULL, error = $3, not_before = now() + $4 * interval '1 second'
  FROM unnest($1::bigint[], $2::bigint[]) AS d (image_id, version)
 WHERE o.image_id = d.image_id AND o.version = d.version
"""
OUTBOX_COUNT = "SELECT count(*) FROM index_outbox"

# --- what the worker reads page by page, by id (keyset paging, no offset) -----------------------
# The images that have a point (a merged near-duplicate has none: migration 015).
SELECT_INDEX_ROWS = """
SELECT id, label, label_state, instrument, sample, project_id, indexed_model
  FROM images WHERE id > $1 AND duplicate_of IS NULL ORDER BY id LIMIT $2
"""
# Images in some states, with their label; human_only: labels a person set looking at the image
# (a bulk-accepted suggestion keeps its confidence).
SELECT_LABELLED_IDS = """
SELECT i.id, i.label, i.label_confidence AS confidence, l.share
  FROM images i LEFT JOIN labels l ON l.id = i.current_label_id
 WHERE i.label_state = any($1::text[]) AND ($2::bigint IS NULL OR i.project_id = $2)
   AND i.id > $3 AND (NOT $5 OR i.label_confidence IS NULL)
 ORDER BY i.id LIMIT $4
"""
# Label changes a refresh must catch up with: every one but the suggestions' own.
SELECT_LABEL_CHANGES = """
SELECT id, image_id FROM labels WHERE id > $1 AND state <> 'predicted' ORDER BY id LIMIT $2
"""
LAST_LABEL_ID = "SELECT coalesce(max(id), 0) FROM labels"


# --- near-duplicates (011_near_duplicates.sql) ------------------------------------------------
# Flags of images that both still exist; an image already flagged keeps its first flag.
INSERT_NEAR_DUPLICATES = """
INSERT INTO near_duplicates (image_id, of_image_id, cosine)
SELECT f.image_id, f.of_image_id, f.cosine
  FROM unnest($1::bigint[], $2::bigint[], $3::real[]) AS f (image_id, of_image_id, cosine)
 WHERE f.image_id <> f.of_image_id
   AND EXISTS (SELECT 1 FROM images WHERE id = f.image_id)
   AND EXISTS (SELECT 1 FROM images WHERE id = f.of_image_id)
ON CONFLICT (image_id) DO NOTHING
"""
_DUPLICATE_PAIR = """
SELECT d.image_id, d.of_image_id, d.cosine, d.status, d.created_at, a.project_id,
       a.label AS image_label, a.label_state AS image_state, a.duplicate_of AS image_duplicate_of,
       b.label AS of_label, b.label_state AS of_state, b.duplicate_of AS of_duplicate_of,
       b.project_id AS of_project_id
  FROM near_duplicates d
  JOIN images a ON a.id = d.image_id
  JOIN images b ON b.id = d.of_image_id
"""
# Pairs of one status in the readable projects ($2 NULL: all), most alike first; an open pair
# whose images one merge already joined is not shown.
_DUPLICATE_PAIRS_WHERE = """
 WHERE d.status = $1 AND ($2::bigint[] IS NULL OR (a.project_id = any($2) AND b.project_id = any($2)))
   AND (d.status <> 'open' OR (a.duplicate_of IS NULL AND b.duplicate_of IS NULL))
"""
SELECT_DUPLICATE_PAIRS = (_DUPLICATE_PAIR + _DUPLICATE_PAIRS_WHERE
                          + " ORDER BY d.cosine DESC, d.image_id LIMIT $3 OFFSET $4")
COUNT_DUPLICATE_PAIRS = ("SELECT count(*) FROM near_duplicates d JOIN images a ON a.id = d.image_id"
                         " JOIN images b ON b.id = d.of_image_id" + _DUPLICATE_PAIRS_WHERE)
SELECT_DUPLICATE_PAIR_FOR_UPDATE = _DUPLICATE_PAIR + " WHERE d.image_id = $1 FOR UPDATE OF d, a, b"
# The count rows of the merged image move through the images trigger (migration 011).
MARK_DUPLICATE_OF = "UPDATE images SET duplicate_of = $2 WHERE id = $1 AND duplicate_of IS NULL"
SETTLE_NEAR_DUPLICATE = """
UPDATE near_duplicates SET status = $2, settled_at = now(), settled_by = $3 WHERE image_id = $1
"""
