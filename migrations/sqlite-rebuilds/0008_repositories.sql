-- Migration 0008's rebuild of `repositories` (see `store::pool::rebuild_for_0008`):
-- each (account, region) has its own private registry, so a repository's name is
-- unique per account, region and namespace. SQLite cannot change a table's UNIQUE
-- constraint, so the table is rebuilt the way SQLite documents: with foreign keys off,
-- in one transaction, new table, copy, drop, rename; the tables that reference it
-- keep their rows and reference the rebuilt table by name. Rows from before regions
-- get the configured region when berth starts (an empty region marks them until
-- then); the public registry lives in us-east-1, as ECR Public does.
CREATE TABLE repositories_rebuilt (
    id                     INTEGER PRIMARY KEY,
    registry_id            TEXT    NOT NULL,
    region                 TEXT    NOT NULL DEFAULT '',
    namespace              TEXT    NOT NULL DEFAULT 'private',
    name                   TEXT    NOT NULL,
    created_at             BIGINT  NOT NULL,
    tag_mutability         TEXT    NOT NULL,
    mutability_filters     TEXT    NOT NULL DEFAULT '[]',
    scan_on_push           BIGINT  NOT NULL DEFAULT 0,
    encryption_type        TEXT    NOT NULL DEFAULT 'AES256',
    kms_key                TEXT,
    policy_text            TEXT,
    catalog_data           TEXT,
    logo                   BLOB,
    lifecycle_policy       TEXT,
    lifecycle_evaluated_at BIGINT,
    UNIQUE (registry_id, region, namespace, name)
);
INSERT INTO repositories_rebuilt (id, registry_id, region, namespace, name, created_at, tag_mutability, mutability_filters, scan_on_push, encryption_type, kms_key, policy_text, catalog_data, logo, lifecycle_policy, lifecycle_evaluated_at)
    SELECT id, registry_id, CASE namespace WHEN 'public' THEN 'us-east-1' ELSE '' END, namespace, name, created_at, tag_mutability, mutability_filters, scan_on_push, encryption_type, kms_key, policy_text, catalog_data, logo, lifecycle_policy, lifecycle_evaluated_at
    FROM repositories;
DROP TABLE repositories;
ALTER TABLE repositories_rebuilt RENAME TO repositories;
