-- A merged near-duplicate leaves the search index: setting duplicate_of queues the image in the
-- index outbox as a payload change does, and the worker deletes its point in every collection
-- (nauplius/core/index_sync.py). Its twin, which kept the label, stands for both in searches.
CREATE OR REPLACE FUNCTION images_queue_payload() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO index_outbox (image_id)
    SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE (n.label, n.label_state, n.instrument, n.sample, n.project_id, n.duplicate_of)
           IS DISTINCT FROM (o.label, o.label_state, o.instrument, o.sample, o.project_id,
                             o.duplicate_of)
    ON CONFLICT (image_id) DO UPDATE
       SET version = nextval('index_outbox_version'), attempts = 0, not_before = now(),
           lease_until = NULL, error = NULL;
    RETURN NULL;
END;
$$;
