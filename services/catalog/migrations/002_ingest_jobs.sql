-- Durable ingest jobs: every accepted item is recorded here (its bytes staged content-addressed
-- under the catalog's data_dir/staging) before any work is done. Workers claim pending items with
-- FOR UPDATE SKIP LOCKED under a lease; an item whose lease ran out (its worker died) is claimed
-- again. Each item ends done, duplicate or failed (with the reason).

CREATE TABLE ingest_jobs (
    id          bigserial PRIMARY KEY,
    source      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- false while items may still be added; a job is finished once closed and nothing is open.
    closed      boolean NOT NULL DEFAULT false,
    finished_at timestamptz
);

CREATE TABLE ingest_items (
    id          bigserial PRIMARY KEY,
    job_id      bigint NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
    -- NULL for a source refused when the job was made (a broken bin): it is failed from the start.
    sha256      text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    filename    text,
    source      text NOT NULL,
    -- label, label_state, instrument, sample, captured_at, metadata: what the catalog stores.
    fields      jsonb NOT NULL DEFAULT '{}'::jsonb,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'duplicate', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    not_before  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    image_id    bigint REFERENCES images (id),
    error       text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((sha256 IS NULL) <= (status = 'failed'))
);

-- Claiming scans only open items.
CREATE INDEX ingest_items_open_idx ON ingest_items (id) WHERE status IN ('pending', 'running');
CREATE INDEX ingest_items_job_status_idx ON ingest_items (job_id, status);
-- An image is counted new ("done") by one item only; every other item of its bytes is a duplicate.
CREATE UNIQUE INDEX ingest_items_done_image_key ON ingest_items (image_id) WHERE status = 'done';
