-- Images and their append-only label history.
-- The current label of an image is the history row with the highest id; it is copied onto
-- images (current_label_id, label, label_state) by a trigger so that list queries filter and
-- page on one table through plain b-tree indexes, even at millions of images.
-- Taxon is free text for now; a taxonomy tree can later add a taxa table and a taxon_id column.

CREATE TABLE images (
    id               bigserial PRIMARY KEY,
    sha256           text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    filename         text,
    format           text NOT NULL CHECK (format IN ('jpeg', 'png', 'tiff', 'bmp')),
    width            integer NOT NULL CHECK (width > 0),
    height           integer NOT NULL CHECK (height > 0),
    instrument       text,
    sample           text,
    captured_at      timestamptz,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at       timestamptz NOT NULL DEFAULT now(),
    indexed_at       timestamptz,
    indexed_model    text,
    current_label_id bigint,
    label            text,
    label_state      text NOT NULL DEFAULT 'unlabelled'
);

CREATE TABLE labels (
    id         bigserial PRIMARY KEY,
    image_id   bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    taxon      text,
    annotator  text,
    state      text NOT NULL
               CHECK (state IN ('predicted', 'validated', 'dubious', 'unlabelled')),
    confidence real CHECK (confidence >= 0 AND confidence <= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'unlabelled') = (taxon IS NULL))
);

ALTER TABLE images
    ADD CONSTRAINT images_current_label_fk FOREIGN KEY (current_label_id) REFERENCES labels (id);

-- Latest label per image (history reads and the current_labels view).
CREATE INDEX labels_image_latest_idx ON labels (image_id, id DESC);
-- Newest-first paging, optionally filtered by current taxon or state.
CREATE INDEX images_label_idx ON images (label, id);
CREATE INDEX images_label_state_idx ON images (label_state, id);

-- Statement-level, so a bulk insert of labels updates each image once, in one join.
CREATE FUNCTION images_take_latest_label() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The id guard keeps the highest id current even when two label inserts of one image
    -- commit out of id order (READ COMMITTED re-checks the WHERE after the row lock).
    UPDATE images AS i
       SET current_label_id = n.id, label = n.taxon, label_state = n.state
      FROM (SELECT DISTINCT ON (image_id) id, image_id, taxon, state
              FROM new_labels
             ORDER BY image_id, id DESC) AS n
     WHERE i.id = n.image_id
       AND (i.current_label_id IS NULL OR i.current_label_id < n.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER labels_set_current
    AFTER INSERT ON labels
    REFERENCING NEW TABLE AS new_labels
    FOR EACH STATEMENT EXECUTE FUNCTION images_take_latest_label();

-- The derivation the trigger maintains, spelled out for audits and ad-hoc queries.
CREATE VIEW current_labels AS
SELECT DISTINCT ON (image_id) id AS label_id, image_id, taxon, annotator, state, confidence, created_at
  FROM labels
 ORDER BY image_id, id DESC;
