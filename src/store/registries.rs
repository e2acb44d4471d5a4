//! What belongs to a registry rather than to one of its repositories: its policy, its
//! account settings, the principals whose pulls leave pull times alone, and the rules
//! a push follows. Keyed by (account, region); the rows exist only once something is
//! set.

use sqlx::Row;

use super::statements::{args, Columns};
use super::{capped, millis, replication, scanning, signing, Result, Store};
use crate::domain::{
    AccountSetting, Registry, ReplicationConfiguration, ScanningConfiguration, SigningConfiguration,
};

/// The most principals one registry may exclude from pull-time updates.
pub const MAX_PULL_TIME_EXCLUSIONS: i64 = 100;

impl Store {
    /// Sets a registry's rules (replication's, signing's) in `table`, a row per
    /// (account, region) with the rules as JSON.
    pub(super) async fn put_registry_rules(
        &self,
        table: &'static str,
        registry: &Registry,
        rules: String,
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO {table} (registry_id, region, rules) VALUES ($1, $2, $3) \
             ON CONFLICT (registry_id, region) DO UPDATE SET rules = excluded.rules"
        ))
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(rules)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    pub async fn registry_policy(&self, registry: &Registry) -> Result<Option<String>> {
        Ok(sqlx::query(
            "SELECT policy_text FROM registry_policies WHERE registry_id = $1 AND region = $2",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
    }

    pub async fn put_registry_policy(&self, registry: &Registry, text: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO registry_policies (registry_id, region, policy_text) VALUES ($1, $2, $3) \
             ON CONFLICT (registry_id, region) DO UPDATE SET policy_text = excluded.policy_text",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(text)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Removes the policy, returning the text it had; `None` when there was none.
    pub async fn delete_registry_policy(&self, registry: &Registry) -> Result<Option<String>> {
        Ok(sqlx::query(
            "DELETE FROM registry_policies WHERE registry_id = $1 AND region = $2 RETURNING policy_text",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .fetch_optional(&mut *self.writer().await?)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
    }

    /// The value put for `setting`; `None` while it has its default.
    pub async fn account_setting(
        &self,
        registry: &Registry,
        setting: AccountSetting,
    ) -> Result<Option<String>> {
        Ok(sqlx::query(
            "SELECT value FROM account_settings WHERE registry_id = $1 AND region = $2 AND name = $3",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(setting.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
    }

    pub async fn put_account_setting(
        &self,
        registry: &Registry,
        setting: AccountSetting,
        value: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_settings (registry_id, region, name, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (registry_id, region, name) DO UPDATE SET value = excluded.value",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(setting.as_str())
        .bind(value)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Excludes `principal` from pull-time updates. `AlreadyExists` when it is;
    /// `LimitReached` when the registry holds `MAX_PULL_TIME_EXCLUSIONS` already.
    pub async fn register_pull_time_exclusion(
        &self,
        registry: &Registry,
        principal: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO pull_time_exclusions (registry_id, region, principal_arn, created_at) \
             SELECT $1, $2, $3, $4 WHERE (SELECT COUNT(*) FROM pull_time_exclusions \
             WHERE registry_id = $1 AND region = $2) < $5",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(principal)
        .bind(millis(now))
        .bind(MAX_PULL_TIME_EXCLUSIONS)
        .execute(&mut *self.writer().await?)
        .await;
        capped(inserted)
    }

    /// Ends the exclusion; false when there was none.
    pub async fn deregister_pull_time_exclusion(
        &self,
        registry: &Registry,
        principal: &str,
    ) -> Result<bool> {
        let deleted = sqlx::query(
            "DELETE FROM pull_time_exclusions WHERE registry_id = $1 AND region = $2 AND principal_arn = $3",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(principal)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// The excluded principals' ARNs in order after `after`; at most `limit`.
    pub async fn pull_time_exclusions(
        &self,
        registry: &Registry,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(&format!(
            "SELECT principal_arn FROM pull_time_exclusions \
             WHERE registry_id = $1 AND region = $2 AND principal_arn{c} > $3 \
             ORDER BY principal_arn{c} LIMIT $4",
            c = self.bytewise()
        ))
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    pub async fn pull_time_excluded(&self, registry: &Registry, principal: &str) -> Result<bool> {
        Ok(sqlx::query(
            "SELECT 1 FROM pull_time_exclusions WHERE registry_id = $1 AND region = $2 AND principal_arn = $3",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(principal)
        .fetch_optional(&mut *self.reader().await?)
        .await?
        .is_some())
    }
}

/// The rules a push into a registry follows: what to copy where, sign and scan. Every
/// push needs all three, so they are read together.
#[derive(Debug, Default)]
pub struct PushRules {
    pub replication: ReplicationConfiguration,
    pub signing: Option<SigningConfiguration>,
    pub scanning: Option<ScanningConfiguration>,
}

/// The registry's push rules as columns `replication_rules`, `signing_rules` and
/// `scanning_rules` (NULL where never put), for a statement whose placeholders
/// `account` and `region` name the registry.
pub(super) fn push_rules_columns(account: &str, region: &str) -> String {
    ["replication", "signing", "scanning"]
        .map(|kind| {
            format!(
                "(SELECT rules FROM {kind}_configurations \
                 WHERE registry_id = {account} AND region = {region}) AS {kind}_rules"
            )
        })
        .join(", ")
}

/// The rules of a row with `push_rules_columns`; those never put are empty.
pub(super) fn push_rules(row: &impl Columns) -> Result<PushRules> {
    Ok(PushRules {
        replication: match row.text("replication_rules")? {
            Some(text) => replication::from_json(&text)?,
            None => ReplicationConfiguration::default(),
        },
        signing: row
            .text("signing_rules")?
            .map(|text| signing::from_json(&text))
            .transpose()?,
        scanning: row
            .text("scanning_rules")?
            .map(|text| scanning::from_json(&text))
            .transpose()?,
    })
}

impl Store {
    /// The registry's push rules, in one statement.
    pub async fn push_rules(&self, registry: &Registry) -> Result<PushRules> {
        let rows = self
            .point_read(
                &format!("SELECT {}", push_rules_columns("$1", "$2")),
                &args![registry.account.as_str(), registry.region.as_str()],
            )
            .await?;
        rows.first()
            .map_or_else(|| Ok(PushRules::default()), push_rules)
    }
}
