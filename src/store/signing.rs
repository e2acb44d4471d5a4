//! Managed signing: each registry's configuration (its rules as JSON), and the queue
//! of signatures, one row per pushed image and signing profile (queued by `put_image`
//! in the push's own transaction).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::images::bad;
use super::replication::queued_image;
use super::statements::{args, Statements};
use super::{millis, Key, Result, Store, Stored};
use crate::domain::{
    Digest, Registry, Repository, RepositoryName, SigningConfiguration, SigningFailure,
    SigningProfileArn, SigningRule, SigningStatus,
};

/// A queued signature as the signing job sees it.
#[derive(Debug, Clone)]
pub struct SigningTask {
    /// The image's repository, and its registry and name.
    pub repository: Key<Repository>,
    pub registry: Registry,
    pub name: RepositoryName,
    pub digest: Digest,
    pub profile: SigningProfileArn,
    /// How often it was tried before.
    pub attempts: i64,
}

/// Where an image's signature by one profile stands.
#[derive(Debug, Clone)]
pub struct ProfileStatus {
    pub profile: SigningProfileArn,
    pub status: SigningStatus,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
}

/// How a failed attempt ends: for good, or to be tried again at a time.
#[derive(Debug, Clone)]
pub enum SigningOutcome {
    Signed,
    Failed {
        failure: SigningFailure,
        reason: String,
    },
    Retry {
        at: chrono::DateTime<chrono::Utc>,
    },
}

#[derive(Serialize, Deserialize)]
struct RuleJson {
    profile: String,
    filters: Vec<String>,
}

fn to_json(config: &SigningConfiguration) -> String {
    let rules: Vec<RuleJson> = config
        .rules
        .iter()
        .map(|r| RuleJson {
            profile: r.profile.to_string(),
            filters: r.filters.clone(),
        })
        .collect();
    serde_json::to_string(&rules).unwrap_or_else(|_| "[]".into())
}

pub(super) fn from_json(text: &str) -> Result<SigningConfiguration> {
    let broken = || bad("signing configuration");
    let rules: Vec<RuleJson> = serde_json::from_str(text).map_err(|_| broken())?;
    let rules = rules
        .into_iter()
        .map(|r| {
            Ok(SigningRule {
                profile: SigningProfileArn::parse(&r.profile).map_err(|_| broken())?,
                filters: r.filters,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SigningConfiguration { rules })
}

fn profile(text: &str) -> Result<SigningProfileArn> {
    SigningProfileArn::parse(text).map_err(|_| bad("signing profile"))
}

/// The configuration `sql` (bound to the registry) answers, if any.
async fn configuration_row(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
    registry: &Registry,
) -> Result<Option<SigningConfiguration>> {
    let row = sqlx::query(sql)
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| from_json(&row.try_get::<String, _>(0)?))
        .transpose()
}

/// Queues a signature of the image by each profile, inside a push's transaction.
pub(super) async fn queue(
    tx: &mut impl Statements,
    repository: Key<Repository>,
    image: &Digest,
    profiles: &[SigningProfileArn],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    for p in profiles {
        tx.execute(
            "INSERT INTO signing_tasks (repository_id, digest, profile_arn, status, attempts, \
             due_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, $5, $5)",
            &args![
                repository.id(),
                image.as_str(),
                p.as_str(),
                SigningStatus::InProgress.as_str(),
                millis(now),
            ],
        )
        .await?;
    }
    Ok(())
}

impl Store {
    /// The registry's configuration; `None` when none was put (or it was deleted).
    pub async fn signing_configuration(
        &self,
        registry: &Registry,
    ) -> Result<Option<SigningConfiguration>> {
        let sql = "SELECT rules FROM signing_configurations WHERE registry_id = $1 AND region = $2";
        let mut conn = self.reader().await?;
        configuration_row(&mut conn, sql, registry).await
    }

    pub async fn put_signing_configuration(
        &self,
        registry: &Registry,
        config: &SigningConfiguration,
    ) -> Result<()> {
        self.put_registry_rules("signing_configurations", registry, to_json(config))
            .await
    }

    /// Removes the registry's configuration and returns it; `None` when it had none.
    pub async fn delete_signing_configuration(
        &self,
        registry: &Registry,
    ) -> Result<Option<SigningConfiguration>> {
        let sql = "DELETE FROM signing_configurations WHERE registry_id = $1 AND region = $2 RETURNING rules";
        let mut conn = self.writer().await?;
        configuration_row(&mut conn, sql, registry).await
    }

    /// Up to `limit` signatures due at `now`, oldest first.
    pub async fn due_signatures(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> Result<Vec<Stored<SigningTask>>> {
        let rows = sqlx::query(
            "SELECT t.id, t.repository_id, t.digest, t.profile_arn, t.attempts, r.registry_id, r.region, r.name \
             FROM signing_tasks t JOIN repositories r ON r.id = t.repository_id \
             WHERE t.status = $1 AND t.due_at <= $2 ORDER BY t.due_at, t.id LIMIT $3",
        )
        .bind(SigningStatus::InProgress.as_str())
        .bind(millis(now))
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let (repository, registry, name, digest) = queued_image(row)?;
                let record = SigningTask {
                    repository,
                    registry,
                    name,
                    digest,
                    profile: profile(&row.try_get::<String, _>("profile_arn")?)?,
                    attempts: row.try_get("attempts")?,
                };
                Ok(Stored {
                    key: Key::new(row.try_get("id")?),
                    record,
                })
            })
            .collect()
    }

    /// Records an attempt's outcome: COMPLETE, FAILED with its code and reason, or
    /// still IN_PROGRESS, due again at the retry's time.
    pub async fn finish_signing(
        &self,
        task: Key<SigningTask>,
        outcome: &SigningOutcome,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let (status, code, reason, due) = match outcome {
            SigningOutcome::Signed => (SigningStatus::Complete, None, None, now),
            SigningOutcome::Failed { failure, reason } => (
                SigningStatus::Failed,
                Some(failure.as_str()),
                Some(reason.as_str()),
                now,
            ),
            SigningOutcome::Retry { at } => (SigningStatus::InProgress, None, None, *at),
        };
        sqlx::query(
            "UPDATE signing_tasks SET status = $1, failure_code = $2, failure_reason = $3, \
             attempts = attempts + 1, due_at = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(status.as_str())
        .bind(code)
        .bind(reason)
        .bind(millis(due))
        .bind(millis(now))
        .bind(task.id())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Where an image's signatures stand, per profile: its latest signing there.
    pub async fn signing_statuses(
        &self,
        repository: Key<Repository>,
        image: &Digest,
    ) -> Result<Vec<ProfileStatus>> {
        let rows = sqlx::query(
            "SELECT t.profile_arn, t.status, t.failure_code, t.failure_reason FROM signing_tasks t \
             WHERE t.repository_id = $1 AND t.digest = $2 AND t.id = \
             (SELECT MAX(u.id) FROM signing_tasks u WHERE u.repository_id = t.repository_id \
              AND u.digest = t.digest AND u.profile_arn = t.profile_arn) ORDER BY t.id",
        )
        .bind(repository.id())
        .bind(image.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ProfileStatus {
                    profile: profile(&row.try_get::<String, _>("profile_arn")?)?,
                    status: SigningStatus::parse(&row.try_get::<String, _>("status")?)
                        .ok_or_else(|| bad("signing status"))?,
                    failure_code: row.try_get("failure_code")?,
                    failure_reason: row.try_get("failure_reason")?,
                })
            })
            .collect()
    }
}
