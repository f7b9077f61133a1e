-- Staged bytes are deleted once every item carrying them is done or a duplicate (the image store
-- holds them then); finding the other items of a content needs this index.
CREATE INDEX ingest_items_sha256_idx ON ingest_items (sha256);

-- Who sent the job: the images and labels its items store are recorded as theirs.
ALTER TABLE ingest_jobs ADD COLUMN created_by bigint REFERENCES annotators (id);
