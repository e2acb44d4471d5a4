-- ECR Public: an account's public registry holds repositories beside its private one,
-- with names unique per namespace ('private' | 'public'), plus repository policies and
-- catalog data (JSON) with an optional logo.
ALTER TABLE repositories ADD COLUMN namespace TEXT NOT NULL DEFAULT 'private';
ALTER TABLE repositories ADD COLUMN policy_text TEXT;
ALTER TABLE repositories ADD COLUMN catalog_data TEXT;
ALTER TABLE repositories ADD COLUMN logo BYTEA;
ALTER TABLE repositories DROP CONSTRAINT repositories_registry_id_name_key;
ALTER TABLE repositories ADD CONSTRAINT repositories_registry_namespace_name_key UNIQUE (registry_id, namespace, name);
