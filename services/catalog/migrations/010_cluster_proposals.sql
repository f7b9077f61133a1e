-- Cluster proposals (issue #18): the last `clusters` run of each project, replaced as a whole.
CREATE TABLE cluster_runs (
    project_id      bigint PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    job_id          bigint,
    model           text NOT NULL,
    clustered       integer NOT NULL,  -- unjudged images the run clustered (capped)
    validated_at_run integer NOT NULL, -- the project's human-validated images when it ran
    finished_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cluster_proposals (
    id               bigserial PRIMARY KEY,
    project_id       bigint NOT NULL REFERENCES cluster_runs(project_id) ON DELETE CASCADE,
    size             integer NOT NULL,
    estimated_purity real NOT NULL
);
CREATE INDEX cluster_proposals_project ON cluster_proposals (project_id);

CREATE TABLE cluster_members (
    cluster_id bigint NOT NULL REFERENCES cluster_proposals(id) ON DELETE CASCADE,
    position   integer NOT NULL,  -- 0 = the core
    image_id   bigint NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (cluster_id, position)
);
