-- Repository creation templates, per registry (account, region), one per prefix
-- (`ROOT` or a namespace without its trailing '/'). Resource tags are a JSON list of
-- [key, value] pairs, exclusion filters and appliedFor JSON lists of strings; the
-- policies are kept as they were given.
CREATE TABLE creation_templates (
    registry_id        TEXT   NOT NULL,
    region             TEXT   NOT NULL,
    prefix             TEXT   NOT NULL,
    description        TEXT,
    encryption_type    TEXT,
    kms_key            TEXT,
    resource_tags      TEXT   NOT NULL,
    tag_mutability     TEXT   NOT NULL,
    mutability_filters TEXT   NOT NULL,
    repository_policy  TEXT,
    lifecycle_policy   TEXT,
    applied_for        TEXT   NOT NULL,
    custom_role_arn    TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (registry_id, region, prefix)
);
