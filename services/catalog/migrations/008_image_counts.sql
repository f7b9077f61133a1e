-- Maintained counts for the image listings: rows per (project, label, state, instrument),
-- kept by statement-level triggers on images in the writing transaction, so a page's total is a
-- sum over a few small rows instead of a count(*) over the filtered images (docs/architecture.md).
-- Each change is an INSERT ... ON CONFLICT DO UPDATE SET images = images + delta: an increment
-- under the row lock, never a read-modify-write, so concurrent writers cannot lose a change.
-- The row lock is held to the writer's commit (an upload's commits after its bytes are stored),
-- so each key is striped over 16 slots by transaction id: concurrent uploads of one project and
-- instrument rarely wait on one another. A count is the sum over the slots.
CREATE TABLE image_counts (
    slot        smallint NOT NULL,
    project_id  bigint NOT NULL,
    label       text,
    label_state text NOT NULL,
    instrument  text,
    images      bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (project_id, label, label_state, instrument, slot)
);

CREATE FUNCTION image_counts_slot() RETURNS smallint
LANGUAGE sql VOLATILE AS $$ SELECT (pg_current_xact_id()::text::bigint % 16)::smallint $$;

-- Keys sorted, so two transactions lock the count rows they share in the same order.
CREATE FUNCTION image_counts_track() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    stripe smallint := image_counts_slot();
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO image_counts AS c (slot, project_id, label, label_state, instrument, images)
        SELECT stripe, project_id, label, label_state, instrument, count(*)
          FROM new_rows GROUP BY 2, 3, 4, 5 ORDER BY 2, 3, 4, 5
        ON CONFLICT (project_id, label, label_state, instrument, slot)
        DO UPDATE SET images = c.images + excluded.images;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO image_counts AS c (slot, project_id, label, label_state, instrument, images)
        SELECT stripe, project_id, label, label_state, instrument, -count(*)
          FROM old_rows GROUP BY 2, 3, 4, 5 ORDER BY 2, 3, 4, 5
        ON CONFLICT (project_id, label, label_state, instrument, slot)
        DO UPDATE SET images = c.images + excluded.images;
    ELSE
        -- Only rows whose counted columns changed: marking images indexed writes nothing here.
        INSERT INTO image_counts AS c (slot, project_id, label, label_state, instrument, images)
        SELECT stripe, d.project_id, d.label, d.label_state, d.instrument, sum(d.delta)
          FROM old_rows o JOIN new_rows n ON n.id = o.id
         CROSS JOIN LATERAL (VALUES (o.project_id, o.label, o.label_state, o.instrument, -1),
                                    (n.project_id, n.label, n.label_state, n.instrument, 1))
               AS d (project_id, label, label_state, instrument, delta)
         WHERE (n.project_id, n.label, n.label_state, n.instrument)
               IS DISTINCT FROM (o.project_id, o.label, o.label_state, o.instrument)
         GROUP BY 2, 3, 4, 5 HAVING sum(d.delta) <> 0 ORDER BY 2, 3, 4, 5
        ON CONFLICT (project_id, label, label_state, instrument, slot)
        DO UPDATE SET images = c.images + excluded.images;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER images_count_insert
    AFTER INSERT ON images REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION image_counts_track();
CREATE TRIGGER images_count_update
    AFTER UPDATE ON images REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION image_counts_track();
CREATE TRIGGER images_count_delete
    AFTER DELETE ON images REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION image_counts_track();

CREATE FUNCTION image_counts_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM image_counts;
    RETURN NULL;
END;
$$;
CREATE TRIGGER images_count_truncate
    AFTER TRUNCATE ON images FOR EACH STATEMENT EXECUTE FUNCTION image_counts_clear();

-- The images already there; SHARE mode holds writers off while they are counted.
LOCK TABLE images IN SHARE MODE;
INSERT INTO image_counts (slot, project_id, label, label_state, instrument, images)
SELECT 0, project_id, label, label_state, instrument, count(*) FROM images GROUP BY 2, 3, 4, 5;

-- Keyset pages of the review orders: (state, order columns, id), in the order the page reads.
CREATE INDEX images_review_confident_idx
    ON images (label_state, label, label_confidence DESC NULLS LAST, id);
CREATE INDEX images_review_uncertain_idx
    ON images (label_state, label_confidence ASC NULLS FIRST, id);
CREATE INDEX images_instrument_idx ON images (instrument, id);
