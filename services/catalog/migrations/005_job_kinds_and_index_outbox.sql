-- Long work as durable jobs, and the label -> search index outbox.

-- A job's kind: 'ingest' (its items are indexed, as before), 'archive' (an uploaded archive
-- the worker unpacks into the job's items), 'suggestions' (a refresh of the suggestions),
-- 'reconcile' (catalog and search index compared, and mended with repair). The work of the job
-- itself (unpack, refresh, compare) is its task: claimed by a worker under a lease, as items are.
ALTER TABLE ingest_jobs
    ADD COLUMN kind text NOT NULL DEFAULT 'ingest'
        CHECK (kind IN ('ingest', 'archive', 'suggestions', 'reconcile')),
    ADD COLUMN params jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- NULL for a job without a task of its own (ingest).
    -- waiting: an archive job whose archive is not staged yet.
    ADD COLUMN task_status text
        CHECK (task_status IN ('waiting', 'pending', 'running', 'done', 'failed')),
    ADD COLUMN task_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN task_not_before timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN task_lease_until timestamptz,
    ADD COLUMN task_error text,
    -- Progress of the task, as the worker reports it (a counter on the page, a bar on the CLI).
    ADD COLUMN progress_done bigint NOT NULL DEFAULT 0,
    ADD COLUMN progress_total bigint,
    -- What the task found (a reconcile report, a refresh's figures).
    ADD COLUMN result jsonb;

CREATE INDEX ingest_jobs_open_task_idx ON ingest_jobs (id) WHERE task_status IN ('pending', 'running');

-- One row per image whose search payload must follow the catalog: written by a trigger in the
-- same transaction as the change, so no label write can be committed without it. `version`
-- grows with each change; a worker removes the row only if no newer change came meanwhile.
CREATE SEQUENCE index_outbox_version;

CREATE TABLE index_outbox (
    image_id    bigint PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    version     bigint NOT NULL DEFAULT nextval('index_outbox_version'),
    attempts    integer NOT NULL DEFAULT 0,
    not_before  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    error       text
);

CREATE INDEX index_outbox_due_idx ON index_outbox (not_before);

-- Statement-level (bulk relabels touch each row once); transition tables rule out a column list,
-- so the join keeps only rows whose payload columns changed.
CREATE FUNCTION images_queue_payload() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO index_outbox (image_id)
    SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE (n.label, n.label_state, n.instrument, n.sample, n.project_id)
           IS DISTINCT FROM (o.label, o.label_state, o.instrument, o.sample, o.project_id)
    ON CONFLICT (image_id) DO UPDATE
       SET version = nextval('index_outbox_version'), attempts = 0, not_before = now(),
           lease_until = NULL, error = NULL;
    RETURN NULL;
END;
$$;

CREATE TRIGGER images_payload_outbox
    AFTER UPDATE ON images
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION images_queue_payload();
