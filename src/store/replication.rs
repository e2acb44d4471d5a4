//! Replication: each registry's configuration (its rules as JSON), and the queue of
//! copies, one row per pushed image and destination (queued by `put_image` in the
//! push's own transaction).

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::images::{bad, digest};
use super::statements::{args, Statements};
use super::{millis, Key, Result, Store, Stored};
use crate::domain::{
    Destination, Digest, ImageTag, Region, Registry, RegistryId, ReplicationConfiguration,
    ReplicationFailure, ReplicationRule, ReplicationStatus, Repository, RepositoryName,
};

/// A queued copy as the replication job sees it.
#[derive(Debug, Clone)]
pub struct ReplicationTask {
    /// The source repository, and its registry and name.
    pub repository: Key<Repository>,
    pub source: Registry,
    pub name: RepositoryName,
    pub digest: Digest,
    pub tag: Option<ImageTag>,
    pub destination: Destination,
    /// How often it was tried before.
    pub attempts: i64,
}

/// Where the copy of an image to one destination stands.
#[derive(Debug, Clone)]
pub struct DestinationStatus {
    pub destination: Destination,
    pub status: ReplicationStatus,
    pub failure_code: Option<String>,
}

fn to_json(config: &ReplicationConfiguration) -> String {
    Value::Array(
        config
            .rules
            .iter()
            .map(|r| {
                json!({
                    "destinations": r.destinations.iter()
                        .map(|d| json!([d.region.as_str(), d.account.as_str()]))
                        .collect::<Vec<_>>(),
                    "filters": r.filters,
                })
            })
            .collect(),
    )
    .to_string()
}

pub(super) fn from_json(text: &str) -> Result<ReplicationConfiguration> {
    let broken = || bad("replication configuration");
    let rules: Value = serde_json::from_str(text).map_err(|_| broken())?;
    let rules = rules
        .as_array()
        .ok_or_else(broken)?
        .iter()
        .map(|rule| {
            let destinations = rule["destinations"]
                .as_array()
                .ok_or_else(broken)?
                .iter()
                .map(|d| {
                    Ok(Destination {
                        region: Region::parse(d[0].as_str().ok_or_else(broken)?)
                            .map_err(|_| broken())?,
                        account: RegistryId::parse(d[1].as_str().ok_or_else(broken)?)
                            .map_err(|_| broken())?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let filters = rule["filters"]
                .as_array()
                .ok_or_else(broken)?
                .iter()
                .map(|f| f.as_str().map(str::to_owned).ok_or_else(broken))
                .collect::<Result<Vec<_>>>()?;
            Ok(ReplicationRule {
                destinations,
                filters,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ReplicationConfiguration { rules })
}

fn destination(row: &AnyRow) -> Result<Destination> {
    Ok(Destination {
        region: Region::parse(&row.try_get::<String, _>("destination_region")?)
            .map_err(|_| bad("region"))?,
        account: RegistryId::parse(&row.try_get::<String, _>("destination_id")?)
            .map_err(|_| bad("registry id"))?,
    })
}

/// The image a queued row (of copies, of signatures) names: its repository's key,
/// registry and name (`repository_id`, `registry_id`, `region`, `name`) and its
/// `digest`.
pub(super) fn queued_image(
    row: &AnyRow,
) -> Result<(Key<Repository>, Registry, RepositoryName, Digest)> {
    let registry = Registry::private(
        RegistryId::parse(&row.try_get::<String, _>("registry_id")?)
            .map_err(|_| bad("registry id"))?,
        Region::parse(&row.try_get::<String, _>("region")?).map_err(|_| bad("region"))?,
    );
    let name = RepositoryName::parse(&row.try_get::<String, _>("name")?)
        .map_err(|_| bad("repository name"))?;
    let image = digest(&row.try_get::<String, _>("digest")?)?;
    Ok((
        Key::new(row.try_get("repository_id")?),
        registry,
        name,
        image,
    ))
}

/// Queues a copy of the image to each destination, inside a push's transaction.
pub(super) async fn queue(
    tx: &mut impl Statements,
    repository: Key<Repository>,
    image: &Digest,
    tag: Option<&ImageTag>,
    destinations: &[Destination],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    for d in destinations {
        tx.execute(
            "INSERT INTO replication_tasks (repository_id, digest, tag, destination_id, destination_region, \
             status, attempts, due_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, $7)",
            &args![
                repository.id(),
                image.as_str(),
                tag.map(ImageTag::as_str),
                d.account.as_str(),
                d.region.as_str(),
                ReplicationStatus::InProgress.as_str(),
                millis(now),
            ],
        )
        .await?;
    }
    Ok(())
}

impl Store {
    /// The registry's configuration; no rules when none was put.
    pub async fn replication_configuration(
        &self,
        registry: &Registry,
    ) -> Result<ReplicationConfiguration> {
        let row = sqlx::query(
            "SELECT rules FROM replication_configurations WHERE registry_id = $1 AND region = $2",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        match row {
            Some(row) => from_json(&row.try_get::<String, _>(0)?),
            None => Ok(ReplicationConfiguration::default()),
        }
    }

    pub async fn put_replication_configuration(
        &self,
        registry: &Registry,
        config: &ReplicationConfiguration,
    ) -> Result<()> {
        self.put_registry_rules("replication_configurations", registry, to_json(config))
            .await
    }

    /// Up to `limit` copies due at `now`, oldest first.
    pub async fn due_replications(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> Result<Vec<Stored<ReplicationTask>>> {
        let rows = sqlx::query(
            "SELECT t.id, t.repository_id, t.digest, t.tag, t.destination_id, t.destination_region, t.attempts, \
             r.registry_id, r.region, r.name FROM replication_tasks t JOIN repositories r ON r.id = t.repository_id \
             WHERE t.status = $1 AND t.due_at <= $2 ORDER BY t.due_at, t.id LIMIT $3",
        )
        .bind(ReplicationStatus::InProgress.as_str())
        .bind(millis(now))
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let (repository, source, name, digest) = queued_image(row)?;
                let record = ReplicationTask {
                    repository,
                    source,
                    name,
                    digest,
                    tag: row
                        .try_get::<Option<String>, _>("tag")?
                        .map(|t| ImageTag::parse(&t).map_err(|_| bad("tag")))
                        .transpose()?,
                    destination: destination(row)?,
                    attempts: row.try_get("attempts")?,
                };
                Ok(Stored {
                    key: Key::new(row.try_get("id")?),
                    record,
                })
            })
            .collect()
    }

    /// Records a copy's outcome: COMPLETE, FAILED with its code, or (`retry_at`) one
    /// more attempt that failed, to be tried again then.
    pub async fn finish_replication(
        &self,
        task: Key<ReplicationTask>,
        outcome: Result<(), ReplicationFailure>,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let (status, code) = match (outcome, retry_at) {
            (Ok(()), _) => (ReplicationStatus::Complete, None),
            (Err(_), Some(_)) => (ReplicationStatus::InProgress, None),
            (Err(f), None) => (ReplicationStatus::Failed, Some(f.as_str())),
        };
        sqlx::query(
            "UPDATE replication_tasks SET status = $1, failure_code = $2, attempts = attempts + 1, \
             due_at = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(code)
        .bind(millis(retry_at.unwrap_or(now)))
        .bind(millis(now))
        .bind(task.id())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Where the copies of an image stand, per destination: its latest copy there.
    pub async fn replication_statuses(
        &self,
        repository: Key<Repository>,
        image: &Digest,
    ) -> Result<Vec<DestinationStatus>> {
        let rows = sqlx::query(
            "SELECT t.destination_id, t.destination_region, t.status, t.failure_code \
             FROM replication_tasks t WHERE t.repository_id = $1 AND t.digest = $2 AND t.id = \
             (SELECT MAX(u.id) FROM replication_tasks u WHERE u.repository_id = t.repository_id \
              AND u.digest = t.digest AND u.destination_id = t.destination_id \
              AND u.destination_region = t.destination_region) ORDER BY t.id",
        )
        .bind(repository.id())
        .bind(image.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DestinationStatus {
                    destination: destination(row)?,
                    status: ReplicationStatus::parse(&row.try_get::<String, _>("status")?)
                        .ok_or_else(|| bad("replication status"))?,
                    failure_code: row.try_get("failure_code")?,
                })
            })
            .collect()
    }
}
