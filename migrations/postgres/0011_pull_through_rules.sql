-- Pull through cache rules, per registry (account, region), one per ECR repository
-- prefix (`ROOT` or a namespace without its trailing '/'). The upstream registry URL
-- is kept as given (without trailing slashes); upstream_registry is ECR's name for
-- it, when known; upstream_prefix is `ROOT` or a namespace.
CREATE TABLE pull_through_rules (
    registry_id       TEXT   NOT NULL,
    region            TEXT   NOT NULL,
    prefix            TEXT   NOT NULL,
    upstream_url      TEXT   NOT NULL,
    upstream_registry TEXT,
    credential_arn    TEXT,
    custom_role_arn   TEXT,
    upstream_prefix   TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (registry_id, region, prefix)
);
