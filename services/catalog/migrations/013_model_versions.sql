-- Model versions (issue #17, zero-downtime model switch): each version an embedder serves has a
-- search collection of its own, named after it. A 'reembed' job fills a new version's collection
-- with every stored image while search answers from the active one; once complete, switching to
-- it (and back to any other complete version) is one update of `active`.
CREATE TABLE model_versions (
    name          text PRIMARY KEY CHECK (name ~ '^[a-z0-9_-]+$'),
    output_dim    integer NOT NULL CHECK (output_dim > 0),
    -- filling: a reembed job is putting every stored image in its collection (new ingests go
    -- there too); complete: every stored image is there, and every new one is added
    state         text NOT NULL CHECK (state IN ('filling', 'complete')),
    active        boolean NOT NULL DEFAULT false,
    job_id        bigint REFERENCES ingest_jobs (id) ON DELETE SET NULL,
    -- the re-embed's progress: images done of total, and its keyset cursor (the last image id
    -- done), from which a restarted job goes on
    done          bigint NOT NULL DEFAULT 0,
    total         bigint,
    after_id      bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    activated_at  timestamptz,
    CHECK (NOT active OR state = 'complete')
);
CREATE UNIQUE INDEX model_versions_one_active ON model_versions ((true)) WHERE active;

ALTER TABLE ingest_jobs DROP CONSTRAINT ingest_jobs_kind_check;
ALTER TABLE ingest_jobs ADD CONSTRAINT ingest_jobs_kind_check
    CHECK (kind IN ('ingest', 'archive', 'suggestions', 'reconcile', 'clusters', 'adaptation',
                    'reembed'));
