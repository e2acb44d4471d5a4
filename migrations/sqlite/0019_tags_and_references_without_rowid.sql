-- `tags` and `manifest_references` are looked up only by their primary keys (and one
-- index each), so they are kept in their primary key's B-tree (WITHOUT ROWID): a push
-- inserts into two B-trees of each instead of three, and writes fewer pages with its
-- commit. Nothing references either table, so each is rebuilt beside the old one and
-- the old one dropped, in this migration's transaction.
CREATE TABLE manifest_references_new (
    manifest_id  BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    child_digest TEXT   NOT NULL,
    is_manifest  BIGINT NOT NULL,
    media_type   TEXT,
    PRIMARY KEY (manifest_id, is_manifest, child_digest)
) WITHOUT ROWID;
INSERT INTO manifest_references_new (manifest_id, child_digest, is_manifest, media_type)
    SELECT manifest_id, child_digest, is_manifest, media_type FROM manifest_references;
DROP TABLE manifest_references;
ALTER TABLE manifest_references_new RENAME TO manifest_references;
CREATE INDEX manifest_references_child ON manifest_references (child_digest);

CREATE TABLE tags_new (
    repository_id       BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag                 TEXT   NOT NULL,
    manifest_id         BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    updated_at          BIGINT NOT NULL,
    upstream_checked_at BIGINT,
    PRIMARY KEY (repository_id, tag)
) WITHOUT ROWID;
INSERT INTO tags_new (repository_id, tag, manifest_id, updated_at, upstream_checked_at)
    SELECT repository_id, tag, manifest_id, updated_at, upstream_checked_at FROM tags;
DROP TABLE tags;
ALTER TABLE tags_new RENAME TO tags;
CREATE INDEX tags_manifest_id ON tags (manifest_id, tag);
