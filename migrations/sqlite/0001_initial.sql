-- Timestamps are epoch milliseconds; booleans are 0/1 integers (the same in both dialects).
CREATE TABLE repositories (
    id                 INTEGER PRIMARY KEY,
    registry_id        TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    tag_mutability     TEXT    NOT NULL,
    mutability_filters TEXT    NOT NULL DEFAULT '[]',
    scan_on_push       BIGINT  NOT NULL DEFAULT 0,
    encryption_type    TEXT    NOT NULL DEFAULT 'AES256',
    kms_key            TEXT,
    UNIQUE (registry_id, name)
);

CREATE TABLE resource_tags (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    key           TEXT   NOT NULL,
    value         TEXT   NOT NULL,
    PRIMARY KEY (repository_id, key)
);

CREATE TABLE blobs (
    digest     TEXT   PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT   NOT NULL REFERENCES blobs (digest),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);

CREATE TABLE manifests (
    id             INTEGER PRIMARY KEY,
    repository_id  BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
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
CREATE INDEX manifests_repository_id ON manifests (repository_id, id);

-- What a manifest points at: blobs (config, layers) and child manifests (an index's).
CREATE TABLE manifest_references (
    manifest_id  BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    child_digest TEXT   NOT NULL,
    is_manifest  BIGINT NOT NULL,
    -- The media type the manifest gives a blob (BatchCheckLayerAvailability's mediaType).
    media_type   TEXT,
    PRIMARY KEY (manifest_id, is_manifest, child_digest)
);
CREATE INDEX manifest_references_child ON manifest_references (child_digest);

CREATE TABLE tags (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag           TEXT   NOT NULL,
    manifest_id   BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, tag)
);
CREATE INDEX tags_manifest_id ON tags (manifest_id, tag);

CREATE TABLE uploads (
    id                 TEXT   PRIMARY KEY,
    repository_id      BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    bytes_received     BIGINT NOT NULL DEFAULT 0,
    parts              BIGINT NOT NULL DEFAULT 0,
    last_part_size     BIGINT NOT NULL DEFAULT 0,
    small_inner_part   BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
