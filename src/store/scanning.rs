//! Image scanning: each registry's configuration (its scan type and rules as JSON), and
//! each image's latest scan, one row per manifest: queued by a push (in its own
//! transaction), by StartImageScan, or by the continuous sweep; its findings as JSON.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::images::bad;
use super::replication::queued_image;
use super::statements::{args, Statements};
use super::{from_millis, millis, Key, Result, Store};
use crate::domain::{
    Digest, Image, Registry, Repository, RepositoryName, ScanFrequency, ScanStatus, ScanType,
    ScanningConfiguration, ScanningRule,
};
use crate::scan::{Finding, Severity};

/// A finding as kept: the scanner's, and when it was first seen on this image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObservedFinding {
    #[serde(flatten)]
    pub finding: Finding,
    pub first_observed_at: DateTime<Utc>,
}

/// An image's latest scan.
#[derive(Debug, Clone)]
pub struct ImageScan {
    pub scan_type: ScanType,
    pub status: ScanStatus,
    pub description: String,
    /// The last finished scan's findings (none while the first one is queued).
    pub findings: Vec<ObservedFinding>,
    pub severity_counts: BTreeMap<Severity, i64>,
    pub completed_at: Option<DateTime<Utc>>,
    pub database_updated_at: Option<DateTime<Utc>>,
    /// Whether a scan or rescan is queued.
    pub queued: bool,
}

/// What DescribeImages shows of an image's scan.
#[derive(Debug, Clone)]
pub struct ScanSummary {
    pub status: ScanStatus,
    pub description: String,
    pub severity_counts: BTreeMap<Severity, i64>,
    pub completed_at: Option<DateTime<Utc>>,
    pub database_updated_at: Option<DateTime<Utc>>,
}

/// A queued scan as the scanning job sees it.
#[derive(Debug, Clone)]
pub struct ScanTask {
    /// The image (its manifest row), which keys its scan.
    pub image: Key<Image>,
    pub repository: Key<Repository>,
    pub registry: Registry,
    pub name: RepositoryName,
    pub digest: Digest,
    pub scan_type: ScanType,
    /// When it was queued: a scan queued again meanwhile stays queued when this ends.
    pub requested_at: i64,
    pub attempts: i64,
}

/// How a scan ends.
#[derive(Debug, Clone)]
pub enum ScanOutcome {
    /// Finished (COMPLETE, ACTIVE, FAILED or UNSUPPORTED_IMAGE) against a database.
    Done {
        status: ScanStatus,
        description: String,
        findings: Vec<ObservedFinding>,
        database: Option<String>,
        database_updated_at: Option<DateTime<Utc>>,
    },
    /// A fault: tried again at `at`.
    Retry { at: DateTime<Utc> },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigJson {
    scan_type: String,
    rules: Vec<RuleJson>,
}

#[derive(Serialize, Deserialize)]
struct RuleJson {
    frequency: String,
    filters: Vec<String>,
}

fn to_json(config: &ScanningConfiguration) -> String {
    let json = ConfigJson {
        scan_type: config.scan_type.as_str().to_owned(),
        rules: config
            .rules
            .iter()
            .map(|r| RuleJson {
                frequency: r.frequency.as_str().to_owned(),
                filters: r.filters.clone(),
            })
            .collect(),
    };
    serde_json::to_string(&json).unwrap_or_else(|_| "{}".into())
}

pub(super) fn from_json(text: &str) -> Result<ScanningConfiguration> {
    let broken = || bad("scanning configuration");
    let json: ConfigJson = serde_json::from_str(text).map_err(|_| broken())?;
    let rules = json
        .rules
        .into_iter()
        .map(|r| {
            Ok(ScanningRule {
                frequency: ScanFrequency::parse(&r.frequency).ok_or_else(broken)?,
                filters: r.filters,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    ScanningConfiguration::new(ScanType::parse(&json.scan_type).ok_or_else(broken)?, rules)
        .map_err(|_| broken())
}

fn scan_type(row: &sqlx::any::AnyRow) -> Result<ScanType> {
    ScanType::parse(&row.try_get::<String, _>("scan_type")?).ok_or_else(|| bad("scan type"))
}

fn status(row: &sqlx::any::AnyRow) -> Result<ScanStatus> {
    ScanStatus::parse(&row.try_get::<String, _>("status")?).ok_or_else(|| bad("scan status"))
}

fn counts(row: &sqlx::any::AnyRow) -> Result<BTreeMap<Severity, i64>> {
    match row.try_get::<Option<String>, _>("severity_counts")? {
        Some(text) => serde_json::from_str(&text).map_err(|_| bad("severity counts")),
        None => Ok(BTreeMap::new()),
    }
}

fn optional_time(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
}

/// Queues the scan of a newly pushed image, inside the push's transaction.
pub(super) async fn queue(
    tx: &mut impl Statements,
    image: Key<Image>,
    scan: Option<ScanType>,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(scan_type) = scan else {
        return Ok(());
    };
    tx.execute(
        "INSERT INTO image_scans (manifest_id, scan_type, status, description, requested_at, due_at, attempts) \
         VALUES ($1, $2, $3, '', $4, $4, 0) ON CONFLICT (manifest_id) DO NOTHING",
        &args![
            image.id(),
            scan_type.as_str(),
            ScanStatus::queued(scan_type).as_str(),
            millis(now),
        ],
    )
    .await?;
    Ok(())
}

impl Store {
    /// The registry's configuration; `None` when none was put.
    pub async fn scanning_configuration(
        &self,
        registry: &Registry,
    ) -> Result<Option<ScanningConfiguration>> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT rules FROM scanning_configurations WHERE registry_id = $1 AND region = $2",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        text.map(|t| from_json(&t)).transpose()
    }

    pub async fn put_scanning_configuration(
        &self,
        registry: &Registry,
        config: &ScanningConfiguration,
    ) -> Result<()> {
        self.put_registry_rules("scanning_configurations", registry, to_json(config))
            .await
    }

    /// Queues a requested scan unless the image's last one was queued after
    /// `not_since`: `false` then (one winner among racing requests).
    pub async fn request_scan(
        &self,
        image: Key<Image>,
        scan_type: ScanType,
        not_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO image_scans (manifest_id, scan_type, status, description, requested_at, due_at, attempts) \
             VALUES ($1, $2, $3, '', $4, $4, 0) ON CONFLICT (manifest_id) DO UPDATE SET \
             scan_type = excluded.scan_type, status = excluded.status, description = '', \
             requested_at = excluded.requested_at, due_at = excluded.due_at, attempts = 0 \
             WHERE image_scans.requested_at <= $5",
        )
        .bind(image.id())
        .bind(scan_type.as_str())
        .bind(ScanStatus::queued(scan_type).as_str())
        .bind(millis(now))
        .bind(millis(not_since))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Queues an ENHANCED scan of every image of `repository` not yet matched against
    /// `database` by one (new images, a database that changed, a registry that turned
    /// to continuous scanning); a rescan keeps the last findings until it ends.
    /// Returns how many were queued.
    pub async fn queue_rescans(
        &self,
        repository: Key<Repository>,
        database: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let done = sqlx::query(
            "INSERT INTO image_scans (manifest_id, scan_type, status, description, requested_at, due_at, attempts) \
             SELECT m.id, $2, $3, '', $4, $4, 0 FROM manifests m WHERE m.repository_id = $1 AND m.status = $6 \
             ON CONFLICT (manifest_id) DO UPDATE SET scan_type = excluded.scan_type, \
             requested_at = excluded.requested_at, due_at = excluded.due_at, attempts = 0 \
             WHERE image_scans.due_at IS NULL AND (image_scans.database IS NULL \
             OR image_scans.database <> $5 OR image_scans.scan_type <> excluded.scan_type)",
        )
        .bind(repository.id())
        .bind(ScanType::Enhanced.as_str())
        .bind(ScanStatus::queued(ScanType::Enhanced).as_str())
        .bind(millis(now))
        .bind(database)
        .bind(crate::domain::ImageStatus::Active.as_str())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected())
    }

    /// Up to `limit` scans due at `now`, oldest first.
    pub async fn due_scans(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<ScanTask>> {
        let rows = sqlx::query(
            "SELECT s.manifest_id, s.scan_type, s.requested_at, s.attempts, m.digest, m.repository_id, \
             r.registry_id, r.region, r.name FROM image_scans s JOIN manifests m ON m.id = s.manifest_id \
             JOIN repositories r ON r.id = m.repository_id \
             WHERE s.due_at IS NOT NULL AND s.due_at <= $1 ORDER BY s.due_at, s.manifest_id LIMIT $2",
        )
        .bind(millis(now))
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let (repository, registry, name, digest) = queued_image(row)?;
                Ok(ScanTask {
                    image: Key::new(row.try_get("manifest_id")?),
                    repository,
                    registry,
                    name,
                    digest,
                    scan_type: scan_type(row)?,
                    requested_at: row.try_get("requested_at")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Records a scan's end. A scan queued again while this one ran stays queued.
    pub async fn finish_scan(
        &self,
        task: &ScanTask,
        outcome: &ScanOutcome,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self.writer().await?;
        match outcome {
            ScanOutcome::Retry { at } => {
                sqlx::query(
                    "UPDATE image_scans SET attempts = attempts + 1, due_at = $1 \
                     WHERE manifest_id = $2 AND requested_at = $3",
                )
                .bind(millis(*at))
                .bind(task.image.id())
                .bind(task.requested_at)
                .execute(&mut *conn)
                .await?;
            }
            ScanOutcome::Done {
                status,
                description,
                findings,
                database,
                database_updated_at,
            } => {
                let mut by_severity: BTreeMap<Severity, i64> = BTreeMap::new();
                for f in findings {
                    *by_severity.entry(f.finding.severity).or_default() += 1;
                }
                let encode =
                    |e: serde_json::Error| super::Error::Database(sqlx::Error::Encode(e.into()));
                sqlx::query(
                    "UPDATE image_scans SET scan_type = $1, status = $2, description = $3, findings = $4, \
                     severity_counts = $5, database = $6, database_updated_at = $7, completed_at = $8, \
                     due_at = CASE WHEN requested_at = $10 THEN NULL ELSE due_at END, attempts = 0 \
                     WHERE manifest_id = $9",
                )
                .bind(task.scan_type.as_str())
                .bind(status.as_str())
                .bind(description)
                .bind(serde_json::to_string(findings).map_err(encode)?)
                .bind(serde_json::to_string(&by_severity).map_err(encode)?)
                .bind(database.clone())
                .bind(database_updated_at.map(millis))
                .bind(millis(now))
                .bind(task.image.id())
                .bind(task.requested_at)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    /// The image's latest scan, with its findings; `None` when it was never scanned.
    pub async fn image_scan(&self, image: Key<Image>) -> Result<Option<ImageScan>> {
        let row = sqlx::query(
            "SELECT scan_type, status, description, findings, severity_counts, completed_at, \
             database_updated_at, due_at FROM image_scans WHERE manifest_id = $1",
        )
        .bind(image.id())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let findings = match row.try_get::<Option<String>, _>("findings")? {
            Some(text) => serde_json::from_str(&text).map_err(|_| bad("scan findings"))?,
            None => Vec::new(),
        };
        Ok(Some(ImageScan {
            scan_type: scan_type(&row)?,
            status: status(&row)?,
            description: row.try_get("description")?,
            findings,
            severity_counts: counts(&row)?,
            completed_at: optional_time(&row, "completed_at")?,
            database_updated_at: optional_time(&row, "database_updated_at")?,
            queued: row.try_get::<Option<i64>, _>("due_at")?.is_some(),
        }))
    }

    /// The scans of the given images, for DescribeImages.
    pub async fn scan_summaries(
        &self,
        images: &[Key<Image>],
    ) -> Result<HashMap<Key<Image>, ScanSummary>> {
        let mut out = HashMap::new();
        let mut conn = self.reader().await?;
        for chunk in images.chunks(500) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT manifest_id, status, description, severity_counts, completed_at, database_updated_at \
                 FROM image_scans WHERE manifest_id IN ({})",
                params.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for key in chunk {
                q = q.bind(key.id());
            }
            for row in q.fetch_all(&mut *conn).await? {
                out.insert(
                    Key::new(row.try_get("manifest_id")?),
                    ScanSummary {
                        status: status(&row)?,
                        description: row.try_get("description")?,
                        severity_counts: counts(&row)?,
                        completed_at: optional_time(&row, "completed_at")?,
                        database_updated_at: optional_time(&row, "database_updated_at")?,
                    },
                );
            }
        }
        Ok(out)
    }

    /// The private repositories of a registry, by key and name (the continuous sweep
    /// applies the registry's rules to each).
    pub async fn repository_names(
        &self,
        registry: &Registry,
    ) -> Result<Vec<(Key<Repository>, RepositoryName, bool)>> {
        let rows = sqlx::query(
            "SELECT id, name, scan_on_push FROM repositories WHERE registry_id = $1 AND region = $2 \
             AND namespace = $3 ORDER BY id",
        )
        .bind(registry.account.as_str())
        .bind(registry.region.as_str())
        .bind(registry.namespace.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    Key::new(row.try_get("id")?),
                    RepositoryName::parse(&row.try_get::<String, _>("name")?)
                        .map_err(|_| bad("repository name"))?,
                    row.try_get::<i64, _>("scan_on_push")? != 0,
                ))
            })
            .collect()
    }

    /// The registries with a scanning configuration of `scan_type`.
    pub async fn registries_scanning(
        &self,
        scan_type: ScanType,
    ) -> Result<Vec<(Registry, ScanningConfiguration)>> {
        let rows = sqlx::query("SELECT registry_id, region, rules FROM scanning_configurations")
            .fetch_all(&mut *self.reader().await?)
            .await?;
        let mut out = Vec::new();
        for row in &rows {
            let config = from_json(&row.try_get::<String, _>("rules")?)?;
            if config.scan_type != scan_type {
                continue;
            }
            let registry = Registry::private(
                crate::domain::RegistryId::parse(&row.try_get::<String, _>("registry_id")?)
                    .map_err(|_| bad("registry id"))?,
                crate::domain::Region::parse(&row.try_get::<String, _>("region")?)
                    .map_err(|_| bad("region"))?,
            );
            out.push((registry, config));
        }
        Ok(out)
    }
}
