use sqlx::Row;

use super::registries::{push_rules, push_rules_columns};
use super::statements::{args, required, Columns, ReadRow};
use super::{
    from_millis, millis, on_unique, placeholders, CatalogData, Error, Key, NewRepository,
    PushRules, Repository, Result, Store, Stored,
};
use crate::domain::{
    Namespace, Region, Registry, RegistryId, RepositoryName, TagMutability, WildcardFilter,
};

pub(super) const COLUMNS: &str = "id, registry_id, region, namespace, name, created_at, tag_mutability, mutability_filters, scan_on_push, encryption_type, kms_key, policy_text, catalog_data, CAST(CASE WHEN logo IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_logo";

pub(super) fn repository(row: &impl Columns) -> Result<Stored<Repository>> {
    let bad = |what: &str| {
        Error::Database(sqlx::Error::Decode(
            format!("stored {what} is invalid").into(),
        ))
    };
    let text = |name| -> Result<String> { Ok(required(row.text(name)?, name)?) };
    let int = |name| -> Result<i64> { Ok(required(row.int(name)?, name)?) };
    let filters: Vec<String> =
        serde_json::from_str(&text("mutability_filters")?).map_err(|_| bad("filters"))?;
    let filters = filters
        .iter()
        .map(|f| WildcardFilter::parse(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("filter"))?;
    let mode = text("tag_mutability")?;
    let filters = (!filters.is_empty()).then_some(filters);
    let catalog = row
        .text("catalog_data")?
        .map(|json| serde_json::from_str(&json).map_err(|_| bad("catalog data")))
        .transpose()?;
    let record = Repository {
        registry: Registry {
            account: RegistryId::parse(&text("registry_id")?).map_err(|_| bad("registry id"))?,
            region: Region::parse(&text("region")?).map_err(|_| bad("region"))?,
            namespace: Namespace::parse(&text("namespace")?).ok_or_else(|| bad("namespace"))?,
        },
        name: RepositoryName::parse(&text("name")?).map_err(|_| bad("name"))?,
        created_at: from_millis(int("created_at")?),
        mutability: TagMutability::parse(&mode, filters).map_err(|_| bad("tag mutability"))?,
        scan_on_push: int("scan_on_push")? != 0,
        encryption_type: text("encryption_type")?,
        kms_key: row.text("kms_key")?,
        policy: row.text("policy_text")?,
        catalog,
        has_logo: int("has_logo")? != 0,
    };
    Ok(Stored {
        key: Key::new(int("id")?),
        record,
    })
}

fn catalog_json(c: &CatalogData) -> Result<String> {
    serde_json::to_string(c).map_err(|e| Error::Database(sqlx::Error::Encode(Box::new(e))))
}

pub(super) fn filters_json(m: &TagMutability) -> String {
    serde_json::Value::from(m.filters().iter().map(|f| f.as_str()).collect::<Vec<_>>()).to_string()
}

/// The most resource tags one repository may carry.
pub const MAX_RESOURCE_TAGS: i64 = 50;

impl Store {
    /// Moves the repositories from before berth had regions (migration 0008 left
    /// their region empty) into `region`.
    pub(super) async fn adopt_regionless(&self, region: &Region) -> Result<()> {
        sqlx::query("UPDATE repositories SET region = $1 WHERE region = ''")
            .bind(region.as_str())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    pub async fn create_repository(
        &self,
        new: &NewRepository,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Stored<Repository>> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO repositories (registry_id, region, namespace, name, created_at, tag_mutability, mutability_filters, scan_on_push, encryption_type, kms_key, catalog_data, logo, policy_text, lifecycle_policy) \
             VALUES ($1, $12, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $14) RETURNING {COLUMNS}"
        ))
        .bind(new.registry.account.as_str())
        .bind(new.registry.namespace.as_str())
        .bind(new.name.as_str())
        .bind(millis(now))
        .bind(new.mutability.mode())
        .bind(filters_json(&new.mutability))
        .bind(i64::from(new.scan_on_push))
        .bind(&new.encryption_type)
        .bind(new.kms_key.clone())
        .bind(new.catalog.as_ref().map(catalog_json).transpose()?)
        .bind(new.logo.clone())
        .bind(new.registry.region.as_str())
        .bind(new.policy.clone())
        .bind(new.lifecycle_policy.clone())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, Error::AlreadyExists))?;
        let repo = repository(&row)?;
        for (key, value) in &new.tags {
            upsert_tag(&mut tx, repo.key, key, value).await?;
        }
        tx.commit().await?;
        Ok(repo)
    }

    /// The repository and, in the same read, its registry's policy (a private
    /// registry's; public registries have none): what deciding an access to it needs.
    /// `None` when the repository is not there.
    pub async fn repository_governed(
        &self,
        registry: &Registry,
        name: &RepositoryName,
    ) -> Result<Option<(Stored<Repository>, Option<String>)>> {
        let rows = self.governed(registry, name, "").await?;
        rows.first()
            .map(|row| Ok((repository(row)?, row.text("registry_policy")?)))
            .transpose()
    }

    /// `repository_governed` with its registry's push rules, in the same statement.
    pub async fn repository_for_push(
        &self,
        registry: &Registry,
        name: &RepositoryName,
    ) -> Result<Option<(Stored<Repository>, Option<String>, PushRules)>> {
        let rules = format!(", {}", push_rules_columns("$1", "$4"));
        let rows = self.governed(registry, name, &rules).await?;
        rows.first()
            .map(|row| {
                Ok((
                    repository(row)?,
                    row.text("registry_policy")?,
                    push_rules(row)?,
                ))
            })
            .transpose()
    }

    /// The repository's row with its registry's policy as `registry_policy`, and the
    /// `more` columns.
    async fn governed(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        more: &str,
    ) -> Result<Vec<ReadRow>> {
        self.point_read(
            &format!(
                "SELECT {COLUMNS}, (SELECT p.policy_text FROM registry_policies p \
                 WHERE p.registry_id = $1 AND p.region = $4 AND $2 = 'private') AS registry_policy{more} \
                 FROM repositories WHERE registry_id = $1 AND namespace = $2 AND region = $4 AND name = $3"
            ),
            &args![
                registry.account.as_str(),
                registry.namespace.as_str(),
                name.as_str(),
                registry.region.as_str(),
            ],
        )
        .await
    }

    pub async fn repository(
        &self,
        registry: &Registry,
        name: &RepositoryName,
    ) -> Result<Option<Stored<Repository>>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM repositories WHERE registry_id = $1 AND namespace = $2 AND region = $4 AND name = $3"
        ))
        .bind(registry.account.as_str())
        .bind(registry.namespace.as_str())
        .bind(name.as_str())
        .bind(registry.region.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        row.as_ref().map(repository).transpose()
    }

    /// Repositories in name (byte) order, after `after` when given; at most `limit`.
    pub async fn repositories(
        &self,
        registry: &Registry,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Stored<Repository>>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM repositories WHERE registry_id = $1 AND namespace = $2 AND region = $5 AND name{c} > $3 ORDER BY name{c} LIMIT $4",
            c = self.bytewise()
        ))
        .bind(registry.account.as_str())
        .bind(registry.namespace.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit)
        .bind(registry.region.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter().map(repository).collect()
    }

    pub async fn repositories_named(
        &self,
        registry: &Registry,
        names: &[RepositoryName],
    ) -> Result<Vec<Stored<Repository>>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM repositories WHERE registry_id = $1 AND namespace = $2 AND region = $3 AND name IN ({}) ORDER BY name",
            placeholders(4, names.len())
        );
        let mut q = sqlx::query(&sql)
            .bind(registry.account.as_str())
            .bind(registry.namespace.as_str())
            .bind(registry.region.as_str());
        for n in names {
            q = q.bind(n.as_str());
        }
        q.fetch_all(&mut *self.reader().await?)
            .await?
            .iter()
            .map(repository)
            .collect()
    }

    /// Deletes the repository with everything in it; without `force` only when it
    /// holds no images.
    pub async fn delete_repository(&self, repository: Key<Repository>, force: bool) -> Result<()> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        if !force {
            let images: i64 =
                sqlx::query("SELECT COUNT(*) FROM manifests WHERE repository_id = $1")
                    .bind(repository.id())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
            if images > 0 {
                return Err(Error::NotEmpty);
            }
        }
        // Children first: not every SQLite connection is guaranteed to enforce cascades.
        sqlx::query("DELETE FROM upload_parts WHERE upload_id IN (SELECT id FROM uploads WHERE repository_id = $1)")
            .bind(repository.id())
            .execute(&mut *tx)
            .await?;
        for table in ["tags", "uploads", "repository_blobs", "resource_tags"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE repository_id = $1"))
                .bind(repository.id())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM manifest_references WHERE manifest_id IN (SELECT id FROM manifests WHERE repository_id = $1)")
            .bind(repository.id())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM manifests WHERE repository_id = $1")
            .bind(repository.id())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM repositories WHERE id = $1")
            .bind(repository.id())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_tag_mutability(
        &self,
        repository: Key<Repository>,
        mutability: &TagMutability,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE repositories SET tag_mutability = $1, mutability_filters = $2 WHERE id = $3",
        )
        .bind(mutability.mode())
        .bind(filters_json(mutability))
        .bind(repository.id())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    pub async fn set_scan_on_push(
        &self,
        repository: Key<Repository>,
        scan_on_push: bool,
    ) -> Result<()> {
        sqlx::query("UPDATE repositories SET scan_on_push = $1 WHERE id = $2")
            .bind(i64::from(scan_on_push))
            .bind(repository.id())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Sets (or with `None` removes) the repository policy.
    pub async fn set_policy(
        &self,
        repository: Key<Repository>,
        policy: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE repositories SET policy_text = $1 WHERE id = $2")
            .bind(policy)
            .bind(repository.id())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Replaces the catalog data and the logo.
    pub async fn set_catalog(
        &self,
        repository: Key<Repository>,
        catalog: &CatalogData,
        logo: Option<&[u8]>,
    ) -> Result<()> {
        sqlx::query("UPDATE repositories SET catalog_data = $1, logo = $2 WHERE id = $3")
            .bind(catalog_json(catalog)?)
            .bind(logo)
            .bind(repository.id())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// The repository's logo image, if it has one.
    pub async fn logo(&self, repository: Key<Repository>) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query("SELECT logo FROM repositories WHERE id = $1")
            .bind(repository.id())
            .fetch_optional(&mut *self.reader().await?)
            .await?
            .map(|row| row.try_get::<Option<Vec<u8>>, _>(0))
            .transpose()?
            .flatten())
    }

    /// Resource tags in key order.
    pub async fn resource_tags(
        &self,
        repository: Key<Repository>,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT key, value FROM resource_tags WHERE repository_id = $1 ORDER BY key",
        )
        .bind(repository.id())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Adds or overwrites resource tags, refusing the lot if the total would exceed
    /// the limit.
    pub async fn put_resource_tags(
        &self,
        repository: Key<Repository>,
        tags: &[(String, String)],
    ) -> Result<()> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        for (key, value) in tags {
            upsert_tag(&mut tx, repository, key, value).await?;
        }
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM resource_tags WHERE repository_id = $1")
            .bind(repository.id())
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if count > MAX_RESOURCE_TAGS {
            return Err(Error::TooManyTags);
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_resource_tags(
        &self,
        repository: Key<Repository>,
        keys: &[String],
    ) -> Result<()> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        for key in keys {
            sqlx::query("DELETE FROM resource_tags WHERE repository_id = $1 AND key = $2")
                .bind(repository.id())
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn upsert_tag(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    repository: Key<Repository>,
    key: &str,
    value: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO resource_tags (repository_id, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (repository_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(repository.id())
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
