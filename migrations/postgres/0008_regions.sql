-- Accounts and regions: each (account, region) has its own private registry, so a
-- repository's name is unique per account, region and namespace. Rows from before
-- regions get the configured region when berth first starts (an empty region marks
-- them until then); the public registry lives in us-east-1, as ECR Public does.
ALTER TABLE repositories ADD COLUMN region TEXT NOT NULL DEFAULT '';
UPDATE repositories SET region = 'us-east-1' WHERE namespace = 'public';
ALTER TABLE repositories DROP CONSTRAINT repositories_registry_namespace_name_key;
ALTER TABLE repositories ADD CONSTRAINT repositories_registry_region_namespace_name_key
    UNIQUE (registry_id, region, namespace, name);

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
