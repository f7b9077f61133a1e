-- Per-project adaptation heads (issue #17): each refit of a project's head is a version, kept;
-- at most one per (project, model) is active (in use by suggestions and similar search), and only
-- one whose cross-validated top-1 beat the plain embedding's.
CREATE TABLE project_heads (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    model           text NOT NULL,
    version         text NOT NULL,
    fitted_at       timestamptz NOT NULL DEFAULT now(),
    labels          integer NOT NULL,
    classes         integer NOT NULL,
    cv_top1_plain   double precision NOT NULL,
    cv_top1_adapted double precision NOT NULL,
    active          boolean NOT NULL,
    description     jsonb NOT NULL,
    head            bytea NOT NULL,
    job_id          bigint,
    CHECK (NOT active OR cv_top1_adapted > cv_top1_plain)
);
CREATE UNIQUE INDEX project_heads_one_active ON project_heads (project_id, model) WHERE active;
CREATE INDEX project_heads_project_idx ON project_heads (project_id, model, id DESC);
