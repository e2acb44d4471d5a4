-- ECR Public: an account's public registry holds repositories beside its private one,
-- with names unique per namespace ('private' | 'public'), plus repository policies and
-- catalog data (JSON) with an optional logo.
--
-- SQLite cannot change a table's UNIQUE constraint, and dropping `repositories` while
-- foreign keys are on would cascade-delete every image (sqlx runs this in a transaction,
-- where foreign_keys cannot be switched off). So every table that references it is
-- rebuilt beside the old ones, the old ones are dropped children first (nothing left to
-- cascade to), and the renames point the new references at the final names.
CREATE TABLE repositories_new (
    id                 INTEGER PRIMARY KEY,
    registry_id        TEXT    NOT NULL,
    namespace          TEXT    NOT NULL DEFAULT 'private',
    name               TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    tag_mutability     TEXT    NOT NULL,
    mutability_filters TEXT    NOT NULL DEFAULT '[]',
    scan_on_push       BIGINT  NOT NULL DEFAULT 0,
    encryption_type    TEXT    NOT NULL DEFAULT 'AES256',
    kms_key            TEXT,
    policy_text        TEXT,
    catalog_data       TEXT,
    logo               BLOB,
    UNIQUE (registry_id, namespace, name)
);
INSERT INTO repositories_new (id, registry_id, name, created_at, tag_mutability, mutability_filters, scan_on_push, encryption_type, kms_key)
    SELECT id, registry_id, name, created_at, tag_mutability, mutability_filters, scan_on_push, encryption_type, kms_key FROM repositories;

CREATE TABLE resource_tags_new (
    repository_id BIGINT NOT NULL REFERENCES repositories_new (id) ON DELETE CASCADE,
    key           TEXT   NOT NULL,
    value         TEXT   NOT NULL,
    PRIMARY KEY (repository_id, key)
);
INSERT INTO resource_tags_new SELECT repository_id, key, value FROM resource_tags;

CREATE TABLE repository_blobs_new (
    repository_id BIGINT NOT NULL REFERENCES repositories_new (id) ON DELETE CASCADE,
    digest        TEXT   NOT NULL REFERENCES blobs (digest),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
INSERT INTO repository_blobs_new SELECT repository_id, digest, created_at FROM repository_blobs;

CREATE TABLE manifests_new (
    id             INTEGER PRIMARY KEY,
    repository_id  BIGINT NOT NULL REFERENCES repositories_new (id) ON DELETE CASCADE,
    digest         TEXT   NOT NULL,
    media_type     TEXT   NOT NULL,
    artifact_type  TEXT,
    subject_digest TEXT,
    body           BLOB   NOT NULL,
    image_size     BIGINT NOT NULL,
    pushed_at      BIGINT NOT NULL,
    last_pulled_at BIGINT,
    UNIQUE (repository_id, digest)
);
INSERT INTO manifests_new
    SELECT id, repository_id, digest, media_type, artifact_type, subject_digest, body, image_size, pushed_at, last_pulled_at FROM manifests;

CREATE TABLE manifest_references_new (
    manifest_id  BIGINT NOT NULL REFERENCES manifests_new (id) ON DELETE CASCADE,
    child_digest TEXT   NOT NULL,
    is_manifest  BIGINT NOT NULL,
    media_type   TEXT,
    PRIMARY KEY (manifest_id, is_manifest, child_digest)
);
INSERT INTO manifest_references_new SELECT manifest_id, child_digest, is_manifest, media_type FROM manifest_references;

CREATE TABLE tags_new (
    repository_id BIGINT NOT NULL REFERENCES repositories_new (id) ON DELETE CASCADE,
    tag           TEXT   NOT NULL,
    manifest_id   BIGINT NOT NULL REFERENCES manifests_new (id) ON DELETE CASCADE,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, tag)
);
INSERT INTO tags_new SELECT repository_id, tag, manifest_id, updated_at FROM tags;

CREATE TABLE uploads_new (
    id                 TEXT   PRIMARY KEY,
    repository_id      BIGINT NOT NULL REFERENCES repositories_new (id) ON DELETE CASCADE,
    bytes_received     BIGINT NOT NULL DEFAULT 0,
    parts              BIGINT NOT NULL DEFAULT 0,
    last_part_size     BIGINT NOT NULL DEFAULT 0,
    small_inner_part   BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL
);
INSERT INTO uploads_new
    SELECT id, repository_id, bytes_received, parts, last_part_size, small_inner_part, created_at FROM uploads;

DROP TABLE tags;
DROP TABLE manifest_references;
DROP TABLE uploads;
DROP TABLE repository_blobs;
DROP TABLE resource_tags;
DROP TABLE manifests;
DROP TABLE repositories;

ALTER TABLE repositories_new RENAME TO repositories;
ALTER TABLE resource_tags_new RENAME TO resource_tags;
ALTER TABLE repository_blobs_new RENAME TO repository_blobs;
ALTER TABLE manifests_new RENAME TO manifests;
ALTER TABLE manifest_references_new RENAME TO manifest_references;
ALTER TABLE tags_new RENAME TO tags;
ALTER TABLE uploads_new RENAME TO uploads;

CREATE INDEX manifests_repository_id ON manifests (repository_id, id);
CREATE INDEX manifest_references_child ON manifest_references (child_digest);
CREATE INDEX tags_manifest_id ON tags (manifest_id, tag);
