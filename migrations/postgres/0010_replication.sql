-- Private image replication. A registry's configuration is kept as the JSON of its
-- rules ([{"destinations": [[region, account], ...], "filters": [prefix, ...]}]).
CREATE TABLE replication_configurations (
    registry_id TEXT NOT NULL,
    region      TEXT NOT NULL,
    rules       TEXT NOT NULL,
    PRIMARY KEY (registry_id, region)
);

-- One copy of a pushed image (with the tag it was pushed under) to one destination,
-- queued with the push. status: IN_PROGRESS until it is COMPLETE or FAILED (with a
-- failure code); due_at is when it is tried next, attempts how often it was tried.
CREATE TABLE replication_tasks (
    id                 BIGSERIAL PRIMARY KEY,
    repository_id      BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest             TEXT   NOT NULL,
    tag                TEXT,
    destination_id     TEXT   NOT NULL,
    destination_region TEXT   NOT NULL,
    status             TEXT   NOT NULL,
    failure_code       TEXT,
    attempts           BIGINT NOT NULL,
    due_at             BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX replication_tasks_image ON replication_tasks (repository_id, digest);
CREATE INDEX replication_tasks_due ON replication_tasks (status, due_at);
