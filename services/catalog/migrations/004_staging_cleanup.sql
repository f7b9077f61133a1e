-- Staged bytes are deleted once every item carrying them is done or a duplicate (the image store
-- holds them then); finding the other items of a content needs this index.
CREATE INDEX ingest_items_sha256_idx ON ingest_items (sha256);
