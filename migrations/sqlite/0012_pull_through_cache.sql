-- Pull-through cache: a repository that caches an upstream holds images whose layers
-- arrive as clients pull them (its manifests' references are recorded, not required),
-- and each tag it took from the upstream remembers when the upstream was last asked.
ALTER TABLE repositories ADD COLUMN pull_through BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tags ADD COLUMN upstream_checked_at BIGINT;
