-- Project grants: who may read and write the images of a project. A grant gives a role (viewer,
-- annotator, admin) in one project to everyone, to an institution (annotators.institution, as
-- written) or to one annotator. A caller's role in a project is the highest of the grants that
-- reach them there, never above their key's role; an admin key is admin everywhere.

CREATE TABLE project_grants (
    id           bigserial PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    everyone     boolean NOT NULL DEFAULT false,
    institution  text CHECK (institution ~ '\S'),
    annotator_id bigint REFERENCES annotators (id),
    role         text NOT NULL CHECK (role IN ('viewer', 'annotator', 'admin')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES annotators (id),
    -- Exactly one grantee.
    CHECK (num_nonnulls(NULLIF(everyone, false), institution, annotator_id) = 1),
    -- One grant per grantee and project: a new role for them replaces the old one.
    UNIQUE NULLS NOT DISTINCT (project_id, everyone, institution, annotator_id)
);
CREATE INDEX project_grants_annotator_idx ON project_grants (annotator_id);
CREATE INDEX project_grants_institution_idx ON project_grants (institution);

-- Installs from before grants keep working: every project grants everyone the admin role,
-- which each key caps at its own role (a viewer key stays a viewer), as roles worked before.
INSERT INTO project_grants (project_id, everyone, role)
SELECT id, true, 'admin' FROM projects;

-- The project a job works in, for who may see it: a suggestions refresh's own project, else the
-- default project (where ingest and archive jobs store their items).
ALTER TABLE ingest_jobs ADD COLUMN project_id bigint GENERATED ALWAYS AS (
    CASE WHEN kind = 'suggestions' AND params->>'project' ~ '^[0-9]{1,18}$'
         THEN (params->>'project')::bigint ELSE 1 END) STORED;
