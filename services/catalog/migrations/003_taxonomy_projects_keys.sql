-- Who works here (annotators and their hashed API keys), what they label against (a taxonomy
-- tree), how images are grouped (projects), and who did each write.

CREATE TABLE annotators (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (name ~ '\S'),
    institution text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  bigint REFERENCES annotators (id)
);

-- Only the sha256 of a key is stored: keys are 256-bit random tokens, so a fast hash is enough
-- (no dictionary to guess from) and lets a request find its key through the unique index.
CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    annotator_id bigint NOT NULL REFERENCES annotators (id),
    key_hash     text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    key_prefix   text NOT NULL,
    role         text NOT NULL CHECK (role IN ('viewer', 'annotator', 'admin')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES annotators (id),
    revoked_at   timestamptz,
    revoked_by   bigint REFERENCES annotators (id)
);

CREATE TABLE taxa (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '\S'),
    rank       text,
    parent_id  bigint REFERENCES taxa (id),
    aphia_id   integer UNIQUE CHECK (aphia_id > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by bigint REFERENCES annotators (id),
    updated_at timestamptz,
    updated_by bigint REFERENCES annotators (id),
    CHECK (parent_id <> id)
);
CREATE INDEX taxa_parent_idx ON taxa (parent_id);

CREATE TABLE projects (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '\S'),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  bigint REFERENCES annotators (id)
);
-- Project 1 is the default project: images uploaded without one (and all older images) go here.
INSERT INTO projects (id, name, description)
VALUES (1, 'default', 'images uploaded without a project');
SELECT setval(pg_get_serial_sequence('projects', 'id'), 1);

ALTER TABLE images
    ADD COLUMN project_id bigint NOT NULL DEFAULT 1 REFERENCES projects (id),
    ADD COLUMN created_by bigint REFERENCES annotators (id),
    ADD COLUMN label_confidence real;
CREATE INDEX images_project_idx ON images (project_id, id);
-- The review queue and "validate the confident suggestions of taxon T".
CREATE INDEX images_suggestion_idx ON images (label_state, label, label_confidence DESC);

ALTER TABLE labels
    ADD COLUMN annotator_id bigint REFERENCES annotators (id),
    ADD COLUMN taxon_id bigint REFERENCES taxa (id),
    -- Set on a label that undoes another: the label it reverts.
    ADD COLUMN reverts_label_id bigint REFERENCES labels (id);
CREATE INDEX labels_taxon_idx ON labels (taxon_id);

-- The current label now also carries its confidence (suggestions are sorted and filtered by it).
CREATE OR REPLACE FUNCTION images_take_latest_label() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE images AS i
       SET current_label_id = n.id, label = n.taxon, label_state = n.state,
           label_confidence = n.confidence
      FROM (SELECT DISTINCT ON (image_id) id, image_id, taxon, state, confidence
              FROM new_labels
             ORDER BY image_id, id DESC) AS n
     WHERE i.id = n.image_id
       AND (i.current_label_id IS NULL OR i.current_label_id < n.id);
    RETURN NULL;
END;
$$;

UPDATE images AS i SET label_confidence = l.confidence
  FROM labels AS l WHERE l.id = i.current_label_id;

-- The calibration of suggestion confidences: raw vote share -> observed accuracy on held-out
-- validated images, recomputed by each full refresh of the suggestions.
CREATE TABLE suggestion_calibrations (
    id         bigserial PRIMARY KEY,
    model      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by bigint REFERENCES annotators (id),
    calibration jsonb NOT NULL
);
