//! Private image replication: the configuration (PutReplicationConfiguration,
//! DescribeRegistry), the copies a push queues (in `put_image`'s transaction), the job
//! that makes them, and their status (DescribeImageReplicationStatus). A copy goes to
//! a registry berth hosts (below), or to a remote one the `--replication-remotes`
//! file maps the destination to (`replication_remote.rs`).
//!
//! A copy acts for the source account's root: a destination of another account must
//! allow it `ecr:ReplicateImage` (and `ecr:CreateRepository` when the repository is
//! missing) in its registry policy, as ECR requires. The copy itself is made as the
//! destination's owner would push: the blobs linked first, then each manifest (an
//! index's children before it) through the store's one put.

use super::access::Target;
use super::images::new_image;
use super::jobs::{backoff, MAX_ATTEMPTS};
use super::{now, Caller, Error, Invalid, Result, Service};
use crate::domain::{
    AppliedFor, Digest, ImageSelector, ImageTag, Principal, Registry, RegistryId,
    ReplicationConfiguration, ReplicationFailure, Repository, RepositoryName,
};
use crate::store::{
    self, DestinationStatus, Key, NewImage, Queued, ReplicationTask, Stored, TagWrite,
};

/// Copies read from the queue at a time.
const BATCH: i64 = 100;

/// Where the copies of one image stand.
#[derive(Debug, Clone)]
pub struct ImageReplication {
    pub registry: Registry,
    pub name: RepositoryName,
    pub digest: Digest,
    pub tag: Option<ImageTag>,
    pub statuses: Vec<DestinationStatus>,
}

/// What one run of the replication job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationRun {
    pub completed: usize,
    pub failed: usize,
    /// Copies that met a fault and wait to be tried again.
    pub retrying: usize,
}

impl Service {
    /// Replaces the caller's registry's configuration.
    pub async fn put_replication_configuration(
        &self,
        caller: &Caller,
        config: ReplicationConfiguration,
    ) -> Result<ReplicationConfiguration> {
        let registry = caller.registry.clone();
        let target = Target::Registry(&registry);
        self.authorize(caller, "PutReplicationConfiguration", target, &[])
            .await?;
        config.check(&registry).map_err(Invalid::Replication)?;
        self.store()
            .put_replication_configuration(&registry, &config)
            .await?;
        Ok(config)
    }

    /// DescribeRegistry: the caller's registry and its replication configuration.
    pub async fn describe_registry(
        &self,
        caller: &Caller,
    ) -> Result<(Registry, ReplicationConfiguration)> {
        let registry = caller.registry.clone();
        self.authorize(caller, "DescribeRegistry", Target::Registry(&registry), &[])
            .await?;
        let config = self.store().replication_configuration(&registry).await?;
        Ok((registry, config))
    }

    /// DescribeImageReplicationStatus: one entry per destination the image was queued
    /// for, its latest copy there.
    pub async fn image_replication_status(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: RepositoryName,
        selector: ImageSelector,
    ) -> Result<ImageReplication> {
        let (registry, repo, image) = self
            .selected_image(
                caller,
                registry,
                name,
                &selector,
                "DescribeImageReplicationStatus",
            )
            .await?;
        let statuses = self
            .store()
            .replication_statuses(repo.key, &image.record.digest)
            .await?;
        Ok(ImageReplication {
            registry,
            name: repo.record.name,
            digest: image.record.digest,
            tag: selector.tag().cloned(),
            statuses,
        })
    }

    /// Makes the due copies, in one process at a time; `None` when another process
    /// is making them. The schedule calls it; tests call it to run it now.
    pub async fn run_replication_job(&self) -> Result<Option<ReplicationRun>> {
        self.exclusively("replication", self.replicate_due()).await
    }

    async fn replicate_due(&self) -> Result<ReplicationRun> {
        let mut run = ReplicationRun::default();
        loop {
            let due = self.store().due_replications(now(), BATCH).await?;
            for task in &due {
                let outcome = self.replicate(&task.record).await;
                let at = now();
                let (result, retry_at) = match outcome {
                    Ok(result) => (result, None),
                    Err(e) => {
                        tracing::warn!(error = ?e, digest = %task.record.digest, "a replication attempt failed");
                        let attempts = task.record.attempts + 1;
                        let retry = (attempts < MAX_ATTEMPTS).then(|| at + backoff(attempts));
                        (Err(ReplicationFailure::Internal), retry)
                    }
                };
                match (&result, retry_at) {
                    (Ok(()), _) => run.completed += 1,
                    (Err(_), Some(_)) => run.retrying += 1,
                    (Err(_), None) => run.failed += 1,
                }
                self.store()
                    .finish_replication(task.key, result, retry_at, at)
                    .await?;
            }
            // A full batch may leave more due; retried copies are due only later.
            if (due.len() as i64) < BATCH {
                return Ok(run);
            }
        }
    }

    /// One copy: `Ok(Err(_))` when it fails for good (no retry helps), `Err` on a
    /// fault worth retrying.
    async fn replicate(&self, task: &ReplicationTask) -> Result<Result<(), ReplicationFailure>> {
        // A remote registry decides what it accepts; the policies below are this
        // berth's registries'.
        let remotes = &self.settings().replication_remotes;
        if let Some(remote) = remotes.find(&task.destination) {
            return self.replicate_remote(remote, task).await;
        }
        let destination = task.destination.registry();
        let source = Caller {
            principal: Principal::root(task.source.account.clone()),
            registry: task.source.clone(),
            access_key: None,
            source_ip: None,
            secure_transport: true,
        };
        // Evaluated against the destination repository's ARN: the registry policies
        // AWS documents grant ReplicateImage on `repository/*` (or a prefix of names).
        let target = Target::Named {
            registry: &destination,
            name: &task.name,
        };
        let allowed = self.authorize(&source, "ReplicateImage", target, &[]).await;
        let repo = match allowed {
            Ok(()) => {
                self.replica_repository(&source, &destination, &task.name)
                    .await
            }
            Err(e) => Err(e),
        };
        let repo = match repo {
            Ok(repo) => repo,
            Err(Error::AccessDenied { .. }) => return Ok(Err(ReplicationFailure::AccessDenied)),
            Err(e) => return Err(e),
        };
        self.copy_image(task.repository, &repo, &task.digest, task.tag.as_ref())
            .await
    }

    /// The destination's repository, created for `source` when it is missing: from
    /// the destination's REPLICATION template for the name, else with the defaults.
    async fn replica_repository(
        &self,
        source: &Caller,
        destination: &Registry,
        name: &RepositoryName,
    ) -> Result<Stored<Repository>> {
        if let Some(repo) = self.store().repository(destination, name).await? {
            return Ok(repo);
        }
        self.create_for(source, destination, name, AppliedFor::Replication)
            .await
    }

    /// The image `digest` of the source repository `from`, as a copy puts it; the
    /// failure when it is gone, or is a manifest no registry would take.
    pub(super) async fn source_image(
        &self,
        from: Key<Repository>,
        digest: &Digest,
    ) -> Result<Result<NewImage, ReplicationFailure>> {
        let selector = ImageSelector::Digest(digest.clone());
        let Some((image, body)) = self.store().manifest(from, &selector).await? else {
            return Ok(Err(ReplicationFailure::SourceImageGone));
        };
        match new_image(digest.clone(), body, Some(&image.record.media_type)) {
            Ok(new) => Ok(Ok(new)),
            Err(Error::InvalidManifest(_)) => Ok(Err(ReplicationFailure::ImageRejected)),
            Err(e) => Err(e),
        }
    }

    /// Copies the image `digest` of the source repository `from` into `to`: its
    /// children first (an index), then its blobs linked, then its manifest put with
    /// `tag`. An image already there is a copy made.
    async fn copy_image(
        &self,
        from: Key<Repository>,
        to: &Stored<Repository>,
        digest: &Digest,
        tag: Option<&ImageTag>,
    ) -> Result<Result<(), ReplicationFailure>> {
        let new = match self.source_image(from, digest).await? {
            Ok(new) => new,
            Err(failure) => return Ok(Err(failure)),
        };
        for child in &new.children {
            let copied = Box::pin(self.copy_image(from, to, child, None)).await?;
            if copied.is_err() {
                return Ok(copied);
            }
        }
        for blob in &new.blobs {
            if !self.store().mount_blob(to.key, &blob.digest, now()).await? {
                return Ok(Err(ReplicationFailure::SourceImageGone));
            }
        }
        let tag = tag.map(|tag| TagWrite {
            tag: tag.clone(),
            immutable: to.record.mutability.is_immutable(tag),
        });
        // Replicas are not replicated again (ECR copies only what was pushed), nor
        // signed; the destination's scanning rules apply to them.
        let work = Queued {
            scan: Service::scan_on_push(
                self.scanning_configuration(&to.record.registry).await?,
                &to.record,
            ),
            ..Queued::default()
        };
        match self
            .store()
            .put_image(to.key, &new, tag.as_ref(), work, now())
            .await
        {
            Ok(_) | Err(store::Error::ImageAlreadyExists) => Ok(Ok(())),
            Err(store::Error::TagAlreadyExists) => Ok(Err(ReplicationFailure::TagImmutable)),
            Err(store::Error::MissingBlobs(_) | store::Error::MissingImages(_)) => {
                Ok(Err(ReplicationFailure::SourceImageGone))
            }
            Err(e) => Err(e.into()),
        }
    }
}
