-- Lifecycle policies: the policy text on its repository and when a run last applied
-- it; and each repository's latest preview, its results kept as JSON in the order
-- they are listed.
ALTER TABLE repositories ADD COLUMN lifecycle_policy TEXT;
ALTER TABLE repositories ADD COLUMN lifecycle_evaluated_at BIGINT;

CREATE TABLE lifecycle_previews (
    repository_id BIGINT NOT NULL PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    policy_text   TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    results       TEXT   NOT NULL
);
