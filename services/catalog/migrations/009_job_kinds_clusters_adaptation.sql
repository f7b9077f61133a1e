-- Two more kinds of job with a task of their own: 'clusters' (density clustering of a project's
-- unlabelled images into proposals a person names at once) and 'adaptation' (a project's head
-- fitted on its validated labels). Their tables come in migrations of their own.
ALTER TABLE ingest_jobs DROP CONSTRAINT ingest_jobs_kind_check;
ALTER TABLE ingest_jobs ADD CONSTRAINT ingest_jobs_kind_check
    CHECK (kind IN ('ingest', 'archive', 'suggestions', 'reconcile', 'clusters', 'adaptation'));
