//! Repository creation templates, per registry (account, region), one row per prefix.
//! The lists a template holds (resource tags, exclusion filters, appliedFor) are JSON
//! in their columns: they are only ever read and written with the template.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::images::bad;
use super::repositories::filters_json;
use super::{capped, from_millis, millis, Error, Result, Store};
use crate::domain::{
    AppliedFor, Encryption, Registry, RepositoryTemplate, TagMutability, TemplatePrefix,
    WildcardFilter,
};

/// The most templates one registry may hold. ECR's quota page does not list one; 50
/// is its quota for the other per-registry rules (pull through cache rules).
pub const MAX_TEMPLATES: i64 = 50;

const COLUMNS: &str = "registry_id, region, prefix, description, encryption_type, kms_key, \
     resource_tags, tag_mutability, mutability_filters, repository_policy, lifecycle_policy, \
     applied_for, custom_role_arn, created_at, updated_at";

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Database(sqlx::Error::Encode(Box::new(e))))
}

fn template(registry: &Registry, row: &AnyRow) -> Result<RepositoryTemplate> {
    let list = |column: &str| -> Result<Vec<String>> {
        serde_json::from_str(&row.try_get::<String, _>(column)?).map_err(|_| bad(column))
    };
    let filters = list("mutability_filters")?
        .iter()
        .map(|f| WildcardFilter::parse(f).map_err(|_| bad("filter")))
        .collect::<Result<Vec<_>>>()?;
    let mode: String = row.try_get("tag_mutability")?;
    let tags: Vec<(String, String)> =
        serde_json::from_str(&row.try_get::<String, _>("resource_tags")?)
            .map_err(|_| bad("resource tags"))?;
    let encryption = row
        .try_get::<Option<String>, _>("encryption_type")?
        .map(|encryption_type| {
            Ok::<_, Error>(Encryption {
                encryption_type,
                kms_key: row.try_get("kms_key")?,
            })
        })
        .transpose()?;
    Ok(RepositoryTemplate {
        registry: registry.clone(),
        prefix: TemplatePrefix::parse(&row.try_get::<String, _>("prefix")?)
            .map_err(|_| bad("prefix"))?,
        description: row.try_get("description")?,
        encryption,
        resource_tags: tags,
        mutability: TagMutability::parse(&mode, (!filters.is_empty()).then_some(filters))
            .map_err(|_| bad("tag mutability"))?,
        repository_policy: row.try_get("repository_policy")?,
        lifecycle_policy: row.try_get("lifecycle_policy")?,
        applied_for: list("applied_for")?
            .iter()
            .map(|a| AppliedFor::parse(a).ok_or_else(|| bad("appliedFor")))
            .collect::<Result<_>>()?,
        custom_role_arn: row.try_get("custom_role_arn")?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

/// A template's columns after (registry_id, region, prefix), in `COLUMNS` order.
struct Values {
    tags: String,
    filters: String,
    applied_for: String,
}

impl Values {
    fn of(t: &RepositoryTemplate) -> Result<Self> {
        Ok(Self {
            tags: json(&t.resource_tags)?,
            filters: filters_json(&t.mutability),
            applied_for: json(&t.applied_for.iter().map(|a| a.as_str()).collect::<Vec<_>>())?,
        })
    }
}

impl Store {
    /// Adds the template. `AlreadyExists` when its prefix has one; `LimitReached` when
    /// the registry holds `MAX_TEMPLATES` already.
    pub async fn create_template(&self, t: &RepositoryTemplate) -> Result<()> {
        let v = Values::of(t)?;
        let encryption = t.encryption.as_ref();
        let inserted = sqlx::query(&format!(
            "INSERT INTO creation_templates ({COLUMNS}) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
             WHERE (SELECT COUNT(*) FROM creation_templates WHERE registry_id = $1 AND region = $2) < $16"
        ))
        .bind(t.registry.account.as_str())
        .bind(t.registry.region.as_str())
        .bind(t.prefix.as_str())
        .bind(t.description.clone())
        .bind(encryption.map(|e| e.encryption_type.clone()))
        .bind(encryption.and_then(|e| e.kms_key.clone()))
        .bind(v.tags)
        .bind(t.mutability.mode())
        .bind(v.filters)
        .bind(t.repository_policy.clone())
        .bind(t.lifecycle_policy.clone())
        .bind(v.applied_for)
        .bind(t.custom_role_arn.clone())
        .bind(millis(t.created_at))
        .bind(millis(t.updated_at))
        .bind(MAX_TEMPLATES)
        .execute(&mut *self.writer().await?)
        .await;
        capped(inserted)
    }

    /// The registry's templates in prefix (byte) order after `after`, only those of
    /// `prefixes` when given; at most `limit`.
    pub async fn templates(
        &self,
        registry: &Registry,
        prefixes: Option<&[TemplatePrefix]>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RepositoryTemplate>> {
        let table = ("creation_templates", COLUMNS);
        self.by_prefix(table, registry, prefixes, after, limit, |row| {
            template(registry, row)
        })
        .await
    }

    /// Changes the template in one transaction: `change` gets it as stored (its row
    /// locked) and says what it becomes, or why not. `None` when there is none.
    pub async fn update_template<E>(
        &self,
        registry: &Registry,
        prefix: &TemplatePrefix,
        change: impl FnOnce(RepositoryTemplate) -> std::result::Result<RepositoryTemplate, E>,
    ) -> Result<Option<std::result::Result<RepositoryTemplate, E>>> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM creation_templates WHERE registry_id = $1 AND region = $2 AND prefix = $3{}",
            self.lock_rows()
        ))
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(prefix.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let t = match change(template(registry, &row)?) {
            Ok(t) => t,
            Err(e) => return Ok(Some(Err(e))),
        };
        let v = Values::of(&t)?;
        let encryption = t.encryption.as_ref();
        sqlx::query(
            "UPDATE creation_templates SET description = $4, encryption_type = $5, kms_key = $6, \
             resource_tags = $7, tag_mutability = $8, mutability_filters = $9, \
             repository_policy = $10, lifecycle_policy = $11, applied_for = $12, \
             custom_role_arn = $13, updated_at = $14 \
             WHERE registry_id = $1 AND region = $2 AND prefix = $3",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(prefix.as_str())
        .bind(t.description.clone())
        .bind(encryption.map(|e| e.encryption_type.clone()))
        .bind(encryption.and_then(|e| e.kms_key.clone()))
        .bind(v.tags)
        .bind(t.mutability.mode())
        .bind(v.filters)
        .bind(t.repository_policy.clone())
        .bind(t.lifecycle_policy.clone())
        .bind(v.applied_for)
        .bind(t.custom_role_arn.clone())
        .bind(millis(t.updated_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Ok(t)))
    }

    /// Removes the template, returning it; `None` when there was none.
    pub async fn delete_template(
        &self,
        registry: &Registry,
        prefix: &TemplatePrefix,
    ) -> Result<Option<RepositoryTemplate>> {
        let row = sqlx::query(&format!(
            "DELETE FROM creation_templates WHERE registry_id = $1 AND region = $2 AND prefix = $3 \
             RETURNING {COLUMNS}"
        ))
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(prefix.as_str())
        .fetch_optional(&mut *self.writer().await?)
        .await?;
        row.map(|row| template(registry, &row)).transpose()
    }
}
