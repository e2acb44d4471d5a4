-- Image scanning. A registry's configuration is kept as JSON
-- ({"scanType": "BASIC", "rules": [{"frequency": "SCAN_ON_PUSH", "filters": [...]}]});
-- no row: BASIC with no rules.
CREATE TABLE scanning_configurations (
    registry_id TEXT NOT NULL,
    region      TEXT NOT NULL,
    rules       TEXT NOT NULL,
    PRIMARY KEY (registry_id, region)
);

-- The latest scan of one image (a manifest of a repository), gone with it.
-- status: IN_PROGRESS / PENDING until the first scan ends, then COMPLETE, ACTIVE,
-- FAILED or UNSUPPORTED_IMAGE; a rescan keeps the last result visible until it ends.
-- due_at: when the queued scan or rescan is due (NULL: none queued).
-- requested_at: when a scan was last queued (a manual scan is allowed once a day).
-- findings: the JSON of the findings, severity_counts their counts by severity;
-- database: the fingerprint of the vulnerability database they were matched against,
-- database_updated_at: when that database last changed.
CREATE TABLE image_scans (
    manifest_id         BIGINT PRIMARY KEY REFERENCES manifests (id) ON DELETE CASCADE,
    scan_type           TEXT   NOT NULL,
    status              TEXT   NOT NULL,
    description         TEXT   NOT NULL,
    findings            TEXT,
    severity_counts     TEXT,
    database            TEXT,
    database_updated_at BIGINT,
    completed_at        BIGINT,
    requested_at        BIGINT NOT NULL,
    due_at              BIGINT,
    attempts            BIGINT NOT NULL
);
CREATE INDEX image_scans_due ON image_scans (due_at);
