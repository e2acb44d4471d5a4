-- Managed signing. A registry's configuration is kept as the JSON of its rules
-- ([{"profile": signing profile ARN, "filters": [wildcard, ...]}]); no row: none.
CREATE TABLE signing_configurations (
    registry_id TEXT NOT NULL,
    region      TEXT NOT NULL,
    rules       TEXT NOT NULL,
    PRIMARY KEY (registry_id, region)
);

-- One signature of a pushed image by one signing profile, queued with the push.
-- status: IN_PROGRESS until it is COMPLETE or FAILED (with a failure code and
-- reason); due_at is when it is tried next, attempts how often it was tried.
CREATE TABLE signing_tasks (
    id             BIGSERIAL PRIMARY KEY,
    repository_id  BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest         TEXT   NOT NULL,
    profile_arn    TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    failure_code   TEXT,
    failure_reason TEXT,
    attempts       BIGINT NOT NULL,
    due_at         BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX signing_tasks_image ON signing_tasks (repository_id, digest);
CREATE INDEX signing_tasks_due ON signing_tasks (status, due_at);
