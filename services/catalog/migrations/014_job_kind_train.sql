-- One more kind of job with a task of its own: 'train' (fine-tune the embedding CNN on a project's
-- validated images and write a new model version with its card; services/worker/training.py).
-- The kinds of 013 are kept: this only widens the check.
ALTER TABLE ingest_jobs DROP CONSTRAINT ingest_jobs_kind_check;
ALTER TABLE ingest_jobs ADD CONSTRAINT ingest_jobs_kind_check
    CHECK (kind IN ('ingest', 'archive', 'suggestions', 'reconcile', 'clusters', 'adaptation',
                    'reembed', 'train'));
