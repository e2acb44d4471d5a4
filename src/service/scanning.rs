//! Image scanning: the registry's scanning configuration
//! (Put/GetRegistryScanningConfiguration, BatchGetRepositoryScanningConfiguration),
//! scans (StartImageScan, queued by a push in its own transaction, queued again by the
//! continuous sweep), their findings (DescribeImageScanFindings), and the job that
//! runs them.
//!
//! A scan streams the image's layers from the blob store through `crate::scan`, which
//! inventories the packages (OS packages; for ENHANCED, language packages too) and
//! matches them against the vulnerability database. The job runs in one process at a
//! time (a lease) and scans a bounded number of images at once.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::access::Target;
use super::jobs::{backoff, MAX_ATTEMPTS};
use super::pagination::{Page, PageRequest};
use super::vuln_db::LoadedDb;
use super::{now, Caller, Error, Result, Service};
use crate::domain::{
    AppliedScanning, Digest, Image, ImageSelector, ImageStatus, ImageTag, Manifest, Namespace,
    Registry, RegistryId, Repository, RepositoryName, ScanFrequency, ScanStatus, ScanType,
    ScanningConfiguration,
};
use crate::scan;
use crate::store::{ImageScan, ObservedFinding, ScanOutcome, ScanTask, Stored};

/// Scans read from the queue at a time.
const BATCH: i64 = 100;
/// How long after a scan the same image may be scanned again on request.
const MANUAL_SCAN_EVERY: chrono::Duration = chrono::Duration::hours(24);
/// The fingerprint recorded for scans made with no database configured.
const NO_DATABASE: &str = "none";

/// What a registry's configuration makes of one repository.
#[derive(Debug, Clone)]
pub struct RepositoryScanning {
    pub repository: Stored<Repository>,
    pub applied: AppliedScanning,
}

/// An image's scan and one page of its findings.
#[derive(Debug, Clone)]
pub struct ImageScanFindings {
    pub registry: Registry,
    pub name: RepositoryName,
    pub image: Image,
    pub tag: Option<ImageTag>,
    /// The image's tags (the resource an ENHANCED finding names).
    pub tags: Vec<ImageTag>,
    pub scan: ImageScan,
    /// This page's findings, taken out of `scan.findings`.
    pub findings: Page<ObservedFinding>,
}

/// What one run of the scanning job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanRun {
    /// Images queued by the continuous sweep.
    pub rescans_queued: u64,
    pub scanned: usize,
    pub failed: usize,
    /// Scans that met a fault and wait to be tried again.
    pub retrying: usize,
}

impl Service {
    /// Replaces the caller's registry's scanning configuration.
    pub async fn put_registry_scanning_configuration(
        &self,
        caller: &Caller,
        config: ScanningConfiguration,
    ) -> Result<(Registry, ScanningConfiguration)> {
        let registry = caller.registry.clone();
        self.authorize(
            caller,
            "PutRegistryScanningConfiguration",
            Target::Registry(&registry),
            &[],
        )
        .await?;
        self.store()
            .put_scanning_configuration(&registry, &config)
            .await?;
        Ok((registry, config))
    }

    /// The caller's registry's scanning configuration (BASIC with no rules when none
    /// was put).
    pub async fn registry_scanning_configuration(
        &self,
        caller: &Caller,
    ) -> Result<(Registry, ScanningConfiguration)> {
        let registry = caller.registry.clone();
        self.authorize(
            caller,
            "GetRegistryScanningConfiguration",
            Target::Registry(&registry),
            &[],
        )
        .await?;
        let config = self.scanning_configuration(&registry).await?;
        Ok((registry, config))
    }

    /// BatchGetRepositoryScanningConfiguration: each named repository's scanning, or
    /// the name when it does not exist.
    pub async fn repository_scanning_configurations(
        &self,
        caller: &Caller,
        names: Vec<RepositoryName>,
    ) -> Result<Vec<std::result::Result<RepositoryScanning, RepositoryName>>> {
        let registry = caller.registry.clone();
        let config = self.scanning_configuration(&registry).await?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            match self
                .authorized_repository(
                    caller,
                    &registry,
                    &name,
                    "BatchGetRepositoryScanningConfiguration",
                )
                .await
            {
                Ok(repository) => out.push(Ok(RepositoryScanning {
                    applied: config.applied(&name, repository.record.scan_on_push),
                    repository,
                })),
                Err(Error::RepositoryNotFound { .. }) => out.push(Err(name)),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// StartImageScan: queues a BASIC scan of the image, at most once a day per image
    /// (a scan on push counts). Returns the image's digest and the scan's status.
    pub async fn start_image_scan(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: RepositoryName,
        selector: ImageSelector,
    ) -> Result<(Registry, Digest, ScanStatus)> {
        let (registry, _, image) = self
            .selected_image(caller, registry, name, &selector, "StartImageScan")
            .await?;
        if self.scanning_configuration(&registry).await?.scan_type == ScanType::Enhanced {
            return Err(Error::ManualScanWithEnhanced);
        }
        if image.record.status != ImageStatus::Active {
            return Err(Error::ScanOfArchivedImage { image: selector });
        }
        if !image.record.scannable() {
            return Err(Error::UnsupportedImageType { image: selector });
        }
        let now = now();
        if !self
            .store()
            .request_scan(image.key, ScanType::Basic, now - MANUAL_SCAN_EVERY, now)
            .await?
        {
            return Err(Error::ScanLimitExceeded { image: selector });
        }
        Ok((
            registry,
            image.record.digest,
            ScanStatus::queued(ScanType::Basic),
        ))
    }

    /// DescribeImageScanFindings: the image's latest scan, and a page of its findings
    /// (none while its first scan is queued).
    pub async fn image_scan_findings(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: RepositoryName,
        selector: ImageSelector,
        page: PageRequest,
    ) -> Result<ImageScanFindings> {
        let (registry, repo, image) = self
            .selected_image(
                caller,
                registry,
                name.clone(),
                &selector,
                "DescribeImageScanFindings",
            )
            .await?;
        let Some(mut scan) = self.store().image_scan(image.key).await? else {
            return Err(Error::ScanNotFound {
                registry,
                name,
                image: selector,
            });
        };
        let scope = format!(
            "DescribeImageScanFindings:{registry}/{name}@{}",
            image.record.digest
        );
        let skip: usize = self.resume(&scope, &page)?.unwrap_or(0);
        let limit = usize::try_from(page.limit()).unwrap_or(usize::MAX);
        let all = std::mem::take(&mut scan.findings);
        let next_token = (all.len() > skip + limit).then(|| self.page_token(&scope, skip + limit));
        let items = all.into_iter().skip(skip).take(limit).collect();
        let tags = self
            .store()
            .tags_of(&[image.key])
            .await?
            .remove(&image.key)
            .unwrap_or_default();
        Ok(ImageScanFindings {
            registry,
            name: repo.record.name,
            tag: selector.tag().cloned(),
            image: image.record,
            tags,
            scan,
            findings: Page { items, next_token },
        })
    }

    /// The scan an image put into `repo` gets: its registry's scanning `configuration`
    /// (or the repository's own `scanOnPush`) decides; none in a public registry.
    pub(super) fn scan_on_push(
        configuration: ScanningConfiguration,
        repo: &Repository,
    ) -> Option<ScanType> {
        match repo.registry.namespace {
            Namespace::Private => configuration
                .applied(&repo.name, repo.scan_on_push)
                .on_push(),
            Namespace::Public => None,
        }
    }

    pub(super) async fn scanning_configuration(
        &self,
        registry: &Registry,
    ) -> Result<ScanningConfiguration> {
        Ok(self
            .store()
            .scanning_configuration(registry)
            .await?
            .unwrap_or_default())
    }

    /// Queues the continuous sweep's rescans, then makes the due scans; in one process
    /// at a time (`None` when another process is scanning). The schedule calls it;
    /// tests call it to run it now.
    pub async fn run_scanning_job(&self) -> Result<Option<ScanRun>> {
        self.exclusively("scanning", self.scan_due()).await
    }

    async fn scan_due(&self) -> Result<ScanRun> {
        let mut run = ScanRun::default();
        let db = self.inner.vuln_db.current().await;
        if let Err(e) = &db {
            tracing::warn!(error = %e, "scans fail until the vulnerability database can be read");
        }
        let fingerprint = match &db {
            Ok(Some(loaded)) => loaded.db.fingerprint(),
            Ok(None) => NO_DATABASE.to_owned(),
            // Nothing to compare against: the sweep waits for a readable database.
            Err(_) => String::new(),
        };
        if !fingerprint.is_empty() {
            run.rescans_queued = self.queue_continuous_rescans(&fingerprint).await?;
        }
        let concurrency = self.settings().scan_concurrency.max(1);
        loop {
            let due = self.store().due_scans(now(), BATCH).await?;
            let count = due.len();
            // Each scan is recorded as it ends, so a stop loses only those running.
            let mut outcomes = futures_util::stream::iter(due)
                .map(|task| async {
                    let outcome = self.scan_outcome(&task, &db, &fingerprint).await;
                    (task, outcome)
                })
                .buffer_unordered(concurrency);
            while let Some((task, outcome)) = outcomes.next().await {
                let outcome = match outcome {
                    // The image went, and its scan's row with it.
                    Ok(None) => continue,
                    Ok(Some(outcome)) => outcome,
                    Err(e) => {
                        tracing::warn!(error = ?e, digest = %task.digest, "a scan failed");
                        let attempts = task.attempts + 1;
                        if attempts < MAX_ATTEMPTS {
                            ScanOutcome::Retry {
                                at: now() + backoff(attempts),
                            }
                        } else {
                            done(
                                ScanStatus::Failed,
                                format!("The scan failed {attempts} times: {e}"),
                                Vec::new(),
                                None,
                            )
                        }
                    }
                };
                match &outcome {
                    ScanOutcome::Retry { .. } => run.retrying += 1,
                    ScanOutcome::Done {
                        status: ScanStatus::Failed,
                        ..
                    } => run.failed += 1,
                    ScanOutcome::Done { .. } => run.scanned += 1,
                }
                self.store().finish_scan(&task, &outcome, now()).await?;
            }
            // A full batch may leave more due; retried scans are due only later.
            if (count as i64) < BATCH {
                return Ok(run);
            }
        }
    }

    /// Queues a rescan of every image, in the repositories an ENHANCED configuration
    /// scans continuously, not yet matched against the database `fingerprint`. New
    /// images there are queued by their push, so the sweep is needed only when the
    /// database or the configurations changed since this process last swept.
    async fn queue_continuous_rescans(&self, fingerprint: &str) -> Result<u64> {
        let continuous: Vec<(Registry, ScanningConfiguration)> = self
            .store()
            .registries_scanning(ScanType::Enhanced)
            .await?
            .into_iter()
            .filter(|(_, config)| {
                config
                    .rules
                    .iter()
                    .any(|r| r.frequency == ScanFrequency::ContinuousScan)
            })
            .collect();
        let sweep = format!("{fingerprint} {continuous:?}");
        if self.inner.last_sweep.lock().await.as_deref() == Some(sweep.as_str()) {
            return Ok(0);
        }
        let mut queued = 0;
        for (registry, config) in continuous {
            for (repository, name, scan_on_push) in self.store().repository_names(&registry).await?
            {
                if config.applied(&name, scan_on_push).frequency == ScanFrequency::ContinuousScan {
                    queued += self
                        .store()
                        .queue_rescans(repository, fingerprint, now())
                        .await?;
                }
            }
        }
        *self.inner.last_sweep.lock().await = Some(sweep);
        Ok(queued)
    }

    /// One scan's outcome, `None` when the image is gone; `Err` on a fault worth
    /// retrying. The database is the one the run loaded (`fingerprint` names it).
    async fn scan_outcome(
        &self,
        task: &ScanTask,
        db: &std::result::Result<Option<Arc<LoadedDb>>, super::vuln_db::VulnDbError>,
        fingerprint: &str,
    ) -> Result<Option<ScanOutcome>> {
        let Some(repo) = self.store().repository(&task.registry, &task.name).await? else {
            return Ok(None);
        };
        let selector = ImageSelector::Digest(task.digest.clone());
        let Some((image, body)) = self.store().manifest(repo.key, &selector).await? else {
            return Ok(None);
        };
        if !image.record.scannable() {
            return Ok(Some(done(
                ScanStatus::UnsupportedImage,
                "The image is an index or an artifact (a signature, an SBOM); scan the images it lists or refers to".into(),
                Vec::new(),
                Some(fingerprint.to_owned()),
            )));
        }
        let db = match db {
            Ok(db) => db.clone(),
            Err(e) => {
                return Ok(Some(done(
                    ScanStatus::Failed,
                    e.to_string(),
                    Vec::new(),
                    None,
                )))
            }
        };
        let manifest = match Manifest::parse(&body, Some(&image.record.media_type)) {
            Ok(manifest) => manifest,
            Err(e) => {
                return Ok(Some(done(
                    ScanStatus::Failed,
                    format!("The image manifest cannot be read: {e}"),
                    Vec::new(),
                    Some(fingerprint.to_owned()),
                )))
            }
        };
        let mut layers: Vec<Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>> =
            Vec::new();
        for layer in manifest.layers.iter().filter(|l| !l.is_non_distributable()) {
            match self.blobs().read(&layer.digest).await {
                Ok(reader) => layers.push(Box::pin(reader.into_stream())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Some(done(
                        ScanStatus::Failed,
                        format!(
                            "The layer {} is not stored here (a pull-through cache stores a layer when it is first pulled)",
                            layer.digest
                        ),
                        Vec::new(),
                        Some(fingerprint.to_owned()),
                    )))
                }
                Err(e) => return Err(anyhow::Error::from(e).into()),
            }
        }
        let inventory = match scan::inventory(layers, task.scan_type == ScanType::Enhanced).await {
            Ok(inventory) => inventory,
            // A layer that is not a tar archive (or its blob cannot be read): scanning it
            // again would not help.
            Err(scan::ScanError::Layer { layer, source }) => {
                return Ok(Some(done(
                    ScanStatus::Failed,
                    format!("Layer {layer} of the image cannot be read as a tar archive: {source}"),
                    Vec::new(),
                    Some(fingerprint.to_owned()),
                )))
            }
            Err(e) => return Err(anyhow::Error::from(e).into()),
        };
        let findings = db
            .as_ref()
            .map(|db| scan::matches(&db.db, &inventory))
            .unwrap_or_default();
        let previous = self.store().image_scan(task.image).await?;
        let findings = observed(findings, previous.as_ref(), now());
        let applied = self
            .scanning_configuration(&task.registry)
            .await?
            .applied(&task.name, repo.record.scan_on_push);
        let continuous = task.scan_type == ScanType::Enhanced
            && applied.frequency == ScanFrequency::ContinuousScan;
        let (status, mut description) = if continuous {
            (
                ScanStatus::Active,
                "Continuous scan is selected for the image: it is scanned again when the vulnerability database changes."
                    .to_owned(),
            )
        } else {
            (
                ScanStatus::Complete,
                "The scan was completed successfully.".to_owned(),
            )
        };
        if db.is_none() {
            description.push_str(&format!(
                " No vulnerability database is configured (BERTH_VULN_DB), so its {} packages were not matched against advisories.",
                inventory.packages.len()
            ));
        }
        if !inventory.notes.is_empty() {
            description.push_str(&format!(" Not read: {}.", inventory.notes.join("; ")));
        }
        Ok(Some(ScanOutcome::Done {
            status,
            description,
            findings,
            database: Some(fingerprint.to_owned()),
            database_updated_at: db.map(|db| db.updated_at),
        }))
    }
}

fn done(
    status: ScanStatus,
    description: String,
    findings: Vec<ObservedFinding>,
    database: Option<String>,
) -> ScanOutcome {
    ScanOutcome::Done {
        status,
        description,
        findings,
        database,
        database_updated_at: None,
    }
}

/// The findings with when each was first seen: as the previous scan saw it, else now.
fn observed(
    findings: Vec<scan::Finding>,
    previous: Option<&ImageScan>,
    now: DateTime<Utc>,
) -> Vec<ObservedFinding> {
    let seen: HashMap<(&str, &str, &str), DateTime<Utc>> = previous
        .map(|scan| {
            scan.findings
                .iter()
                .map(|f| {
                    (
                        (
                            f.finding.id.as_str(),
                            f.finding.package.name.as_str(),
                            f.finding.package.path.as_str(),
                        ),
                        f.first_observed_at,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    findings
        .into_iter()
        .map(|finding| {
            let key = (
                finding.id.as_str(),
                finding.package.name.as_str(),
                finding.package.path.as_str(),
            );
            let first_observed_at = seen.get(&key).copied().unwrap_or(now);
            ObservedFinding {
                finding,
                first_observed_at,
            }
        })
        .collect()
}
