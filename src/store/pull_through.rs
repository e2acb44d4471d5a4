//! Pull through cache rules, per registry (account, region), one row per ECR
//! repository prefix.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::images::bad;
use super::{capped, from_millis, millis, Result, Store};
use crate::domain::{
    PullThroughRule, Registry, TemplatePrefix, UpstreamRegistry, UpstreamUrl,
    MAX_PULL_THROUGH_RULES,
};

const COLUMNS: &str = "registry_id, region, prefix, upstream_url, upstream_registry, \
     credential_arn, custom_role_arn, upstream_prefix, created_at, updated_at";

fn rule(registry: &Registry, row: &AnyRow) -> Result<PullThroughRule> {
    let prefix = |column: &str| -> Result<TemplatePrefix> {
        TemplatePrefix::parse(&row.try_get::<String, _>(column)?).map_err(|_| bad(column))
    };
    Ok(PullThroughRule {
        registry: registry.clone(),
        prefix: prefix("prefix")?,
        upstream_url: UpstreamUrl::parse(&row.try_get::<String, _>("upstream_url")?)
            .map_err(|_| bad("upstream_url"))?,
        upstream_registry: row
            .try_get::<Option<String>, _>("upstream_registry")?
            .map(|r| UpstreamRegistry::parse(&r).ok_or_else(|| bad("upstream_registry")))
            .transpose()?,
        credential_arn: row.try_get("credential_arn")?,
        custom_role_arn: row.try_get("custom_role_arn")?,
        upstream_prefix: prefix("upstream_prefix")?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

impl Store {
    /// Adds the rule. `AlreadyExists` when its prefix has one; `LimitReached` when the
    /// registry holds `MAX_PULL_THROUGH_RULES` already.
    pub async fn create_pull_through_rule(&self, r: &PullThroughRule) -> Result<()> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO pull_through_rules ({COLUMNS}) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
             WHERE (SELECT COUNT(*) FROM pull_through_rules WHERE registry_id = $1 AND region = $2) < $11"
        ))
        .bind(r.registry.account.as_str())
        .bind(r.registry.region.as_str())
        .bind(r.prefix.as_str())
        .bind(r.upstream_url.as_str())
        .bind(r.upstream_registry.map(UpstreamRegistry::as_str))
        .bind(r.credential_arn.clone())
        .bind(r.custom_role_arn.clone())
        .bind(r.upstream_prefix.as_str())
        .bind(millis(r.created_at))
        .bind(millis(r.updated_at))
        .bind(MAX_PULL_THROUGH_RULES)
        .execute(&mut *self.writer().await?)
        .await;
        capped(inserted)
    }

    /// The registry's rules in prefix (byte) order after `after`, only those of
    /// `prefixes` when given; at most `limit`.
    pub async fn pull_through_rules(
        &self,
        registry: &Registry,
        prefixes: Option<&[TemplatePrefix]>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PullThroughRule>> {
        let table = ("pull_through_rules", COLUMNS);
        self.by_prefix(table, registry, prefixes, after, limit, |row| {
            rule(registry, row)
        })
        .await
    }

    /// Sets the rule's credential and role where given, and its update time; the rule
    /// as it now is, `None` when there is none.
    pub async fn update_pull_through_rule(
        &self,
        registry: &Registry,
        prefix: &TemplatePrefix,
        credential_arn: Option<&str>,
        custom_role_arn: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<PullThroughRule>> {
        let row = sqlx::query(&format!(
            "UPDATE pull_through_rules SET credential_arn = COALESCE($4, credential_arn), \
             custom_role_arn = COALESCE($5, custom_role_arn), updated_at = $6 \
             WHERE registry_id = $1 AND region = $2 AND prefix = $3 RETURNING {COLUMNS}"
        ))
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(prefix.as_str())
        .bind(credential_arn)
        .bind(custom_role_arn)
        .bind(millis(at))
        .fetch_optional(&mut *self.writer().await?)
        .await?;
        row.map(|row| rule(registry, &row)).transpose()
    }

    /// Removes the rule, returning it; `None` when there was none.
    pub async fn delete_pull_through_rule(
        &self,
        registry: &Registry,
        prefix: &TemplatePrefix,
    ) -> Result<Option<PullThroughRule>> {
        let row = sqlx::query(&format!(
            "DELETE FROM pull_through_rules WHERE registry_id = $1 AND region = $2 AND prefix = $3 \
             RETURNING {COLUMNS}"
        ))
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(prefix.as_str())
        .fetch_optional(&mut *self.writer().await?)
        .await?;
        row.map(|row| rule(registry, &row)).transpose()
    }
}
