-- Accounts and regions. `repositories` gains its region (and its names become unique
-- per region) in a rebuild that runs just before this migration, outside sqlx's
-- transaction: migrations/sqlite-rebuilds/0008_repositories.sql.

-- A registry's policy (PutRegistryPolicy), its account settings (PutAccountSetting:
-- only values set differently from the default are kept) and the principals whose
-- pulls leave lastRecordedPullTime alone.
CREATE TABLE registry_policies (
    registry_id TEXT NOT NULL,
    region      TEXT NOT NULL,
    policy_text TEXT NOT NULL,
    PRIMARY KEY (registry_id, region)
);

CREATE TABLE account_settings (
    registry_id TEXT NOT NULL,
    region      TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (registry_id, region, name)
);

CREATE TABLE pull_time_exclusions (
    registry_id   TEXT   NOT NULL,
    region        TEXT   NOT NULL,
    principal_arn TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (registry_id, region, principal_arn)
);
