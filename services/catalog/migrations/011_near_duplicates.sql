-- Near-duplicates: an image flagged at ingest as within WORKER_NEAR_DUPLICATE_COSINE of an image
-- stored before it with the same project, instrument and sample (docs/architecture.md). One flag
-- per image: its nearest earlier neighbour.
CREATE TABLE near_duplicates (
    image_id    bigint PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    of_image_id bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    cosine      real NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'merged', 'dismissed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    settled_at  timestamptz,
    settled_by  bigint REFERENCES annotators (id),
    CHECK (image_id <> of_image_id)
);
CREATE INDEX near_duplicates_open_idx ON near_duplicates (image_id) WHERE status = 'open';

-- A merged image points at the image that kept the label; it is left out of listings, exports
-- and counts.
ALTER TABLE images ADD COLUMN duplicate_of bigint REFERENCES images (id);

-- The counts of migration 008, now over images that are not merged duplicates: a merge (setting
-- duplicate_of) takes its image out of the counts in the merging transaction.
CREATE OR REPLACE FUNCTION image_counts_track() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    stripe smallint := image_counts_slot();
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO image_counts AS c (slot, project_id, label, label_state, instrument, images)
        SELECT stripe, project_id, label, label_state, instrument, count(*)
          FROM new_rows WHERE duplicate_of IS NULL GROUP BY 2, 3, 4, 5 ORDER BY 2, 3, 4, 5
        ON CONFLICT (project_id, label, label_state, instrument, slot)
        DO UPDATE SET images = c.images + excluded.images;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO image_counts AS c (slot, project_id, label, label_state, instrument, images)
        SELECT stripe, project_id, label, label_state, instrument, -count(*)
          FROM old_rows WHERE duplicate_of IS NULL GROUP BY 2, 3, 4, 5 ORDER BY 2, 3, 4, 5
        ON CONFLICT (project_id, label, label_state, instrument, slot)
        DO UPDATE SET images = c.images + excluded.images;
    ELSE
        INSERT INTO image_counts AS c (slot, project_id, label, label_state, instrument, images)
        SELECT stripe, d.project_id, d.label, d.label_state, d.instrument, sum(d.delta)
          FROM old_rows o JOIN new_rows n ON n.id = o.id
         CROSS JOIN LATERAL (VALUES (o.project_id, o.label, o.label_state, o.instrument,
                                     CASE WHEN o.duplicate_of IS NULL THEN -1 ELSE 0 END),
                                    (n.project_id, n.label, n.label_state, n.instrument,
                                     CASE WHEN n.duplicate_of IS NULL THEN 1 ELSE 0 END))
               AS d (project_id, label, label_state, instrument, delta)
         WHERE (n.project_id, n.label, n.label_state, n.instrument, n.duplicate_of IS NULL)
               IS DISTINCT FROM (o.project_id, o.label, o.label_state, o.instrument,
                                 o.duplicate_of IS NULL)
         GROUP BY 2, 3, 4, 5 HAVING sum(d.delta) <> 0 ORDER BY 2, 3, 4, 5
        ON CONFLICT (project_id, label, label_state, instrument, slot)
        DO UPDATE SET images = c.images + excluded.images;
    END IF;
    RETURN NULL;
END;
$$;
