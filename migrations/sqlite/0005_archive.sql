-- Archival storage: an image is ACTIVE (pullable), ARCHIVED (described and listed,
-- not pullable) or ACTIVATING (being restored). Blob bytes stay where they are: an
-- archived image keeps its references, so its layers are never collected.
ALTER TABLE manifests ADD COLUMN status TEXT NOT NULL DEFAULT 'ACTIVE';
ALTER TABLE manifests ADD COLUMN last_archived_at BIGINT;
ALTER TABLE manifests ADD COLUMN last_activated_at BIGINT;
