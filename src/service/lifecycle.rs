//! Lifecycle policies: kept per repository, previewed, and run (on a schedule, or
//! on demand from the CLI). A preview and a run evaluate the same images the same
//! way (`domain::lifecycle::evaluate`), so a run with nothing changed in between
//! does what the preview showed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::error::{ImageFailure, Invalid};
use super::{now, Caller, Error, Page, PageRequest, Result, Service};
use crate::domain::lifecycle::{
    evaluate, Action, Candidate, Decision, PreviewResult, PreviewStatus, StorageClass,
};
use crate::domain::{
    Image, ImageSelector, ImageStatus, LifecyclePolicy, Registry, RegistryId, Repository,
    RepositoryName, TagStatus,
};
use crate::store::{LifecycleImage, Stored};

/// A repository's lifecycle policy and when a run last applied it.
#[derive(Debug, Clone)]
pub struct LifecyclePolicyInfo {
    pub repository: Repository,
    pub text: String,
    pub last_evaluated_at: Option<DateTime<Utc>>,
}

/// One page of a repository's latest preview.
#[derive(Debug, Clone)]
pub struct PreviewPage {
    pub repository: Repository,
    pub policy_text: String,
    pub status: PreviewStatus,
    pub results: Page<PreviewResult>,
    /// Over the whole preview, whatever the page and filters.
    pub expiring: usize,
    pub transitioning: usize,
}

/// What a run did (or, dry, would do) to one repository.
#[derive(Debug, Clone)]
pub struct LifecycleRun {
    pub registry: Registry,
    pub name: RepositoryName,
    pub actions: Vec<PreviewResult>,
}

/// The largest preview page, and the page when none is asked for.
const PREVIEW_PAGE: i64 = 100;

/// The storage class a lifecycle rule sees an image in. berth restores at once, so no
/// image is ever seen activating.
fn storage_class(image: &Image) -> StorageClass {
    match image.status {
        ImageStatus::Active | ImageStatus::Activating => StorageClass::Standard,
        ImageStatus::Archived => StorageClass::Archive,
    }
}

/// The policy's decisions on the images at `at`. A transition of an image that cannot
/// be archived (an index, an artifact) is no decision: UpdateImageStorageClass would
/// refuse it too, and the images an index lists are held with it by the evaluator.
fn decide(policy: &LifecyclePolicy, images: &[LifecycleImage], at: DateTime<Utc>) -> Vec<Decision> {
    let position: HashMap<&str, usize> = images
        .iter()
        .enumerate()
        .map(|(i, image)| (image.image.digest.as_str(), i))
        .collect();
    let candidates: Vec<Candidate> = images
        .iter()
        .map(
            |LifecycleImage {
                 image,
                 tags,
                 listed_by,
                 ..
             }| Candidate {
                tags: tags.iter().map(ToString::to_string).collect(),
                pushed_at: image.pushed_at,
                last_pulled_at: image.last_pulled_at,
                storage_class: storage_class(image),
                last_archived_at: image.last_archived_at,
                last_activated_at: image.last_activated_at,
                listed_by: listed_by
                    .iter()
                    .filter_map(|d| position.get(d.as_str()).copied())
                    .collect(),
            },
        )
        .collect();
    evaluate(policy, &candidates, at)
        .into_iter()
        .filter(|d| d.action != Action::Transition || images[d.image].image.archivable().is_ok())
        .collect()
}

fn result(image: &LifecycleImage, decision: &Decision) -> PreviewResult {
    PreviewResult {
        digest: image.image.digest.clone(),
        tags: image.tags.clone(),
        pushed_at: image.image.pushed_at,
        action: decision.action,
        rule_priority: decision.rule,
        storage_class: storage_class(&image.image),
    }
}

fn selected(selector: &ImageSelector, r: &PreviewResult) -> bool {
    let tagged = |t| r.tags.contains(t);
    match selector {
        ImageSelector::Digest(d) => r.digest == *d,
        ImageSelector::Tag(t) => tagged(t),
        ImageSelector::Both { digest, tag } => r.digest == *digest && tagged(tag),
    }
}

impl Service {
    pub async fn put_lifecycle_policy(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        policy: LifecyclePolicy,
    ) -> Result<(Repository, String)> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "PutLifecyclePolicy")
            .await?;
        self.store()
            .set_lifecycle_policy(repo.key, Some(policy.as_str()))
            .await?;
        Ok((repo.record, policy.as_str().to_owned()))
    }

    pub async fn lifecycle_policy(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
    ) -> Result<LifecyclePolicyInfo> {
        Ok(self
            .lifecycle_policy_of(caller, registry, name, "GetLifecyclePolicy")
            .await?
            .1)
    }

    async fn lifecycle_policy_of(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        action: &'static str,
    ) -> Result<(Stored<Repository>, LifecyclePolicyInfo)> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, action)
            .await?;
        match self.store().lifecycle_policy(repo.key).await? {
            Some((text, last_evaluated_at)) => Ok((
                repo.clone(),
                LifecyclePolicyInfo {
                    repository: repo.record,
                    text,
                    last_evaluated_at,
                },
            )),
            None => Err(Error::LifecyclePolicyNotFound {
                registry,
                name: name.clone(),
            }),
        }
    }

    /// Removes the policy, returning what it was.
    pub async fn delete_lifecycle_policy(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
    ) -> Result<LifecyclePolicyInfo> {
        let (repo, info) = self
            .lifecycle_policy_of(caller, registry, name, "DeleteLifecyclePolicy")
            .await?;
        self.store().set_lifecycle_policy(repo.key, None).await?;
        Ok(info)
    }

    /// Evaluates `policy`, or the repository's own, against its images now and keeps
    /// the result as the repository's preview (replacing the last one).
    pub async fn start_lifecycle_policy_preview(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        policy: Option<LifecyclePolicy>,
    ) -> Result<(Repository, String, PreviewStatus)> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "StartLifecyclePolicyPreview")
            .await?;
        let policy = match policy {
            Some(p) => p,
            None => match self.store().lifecycle_policy(repo.key).await? {
                Some((text, _)) => LifecyclePolicy::parse(&text)?,
                None => {
                    return Err(Error::LifecyclePolicyNotFound {
                        registry,
                        name: name.clone(),
                    })
                }
            },
        };
        let at = now();
        self.pulls_recorded().await;
        let images = self.store().lifecycle_images(repo.key).await?;
        let results: Vec<PreviewResult> = decide(&policy, &images, at)
            .iter()
            .map(|d| result(&images[d.image], d))
            .collect();
        self.store()
            .save_lifecycle_preview(repo.key, policy.as_str(), &results, at)
            .await?;
        Ok((
            repo.record,
            policy.as_str().to_owned(),
            PreviewStatus::Complete,
        ))
    }

    /// The repository's latest preview: the named images, or a page of those with the
    /// tag status asked for.
    pub async fn lifecycle_policy_preview(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        ids: Option<Vec<Result<ImageSelector, ImageFailure>>>,
        status: TagStatus,
        page: PageRequest,
    ) -> Result<PreviewPage> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "GetLifecyclePolicyPreview")
            .await?;
        let Some(preview) = self.store().lifecycle_preview(repo.key).await? else {
            return Err(Error::LifecyclePolicyPreviewNotFound {
                registry,
                name: name.clone(),
            });
        };
        let count = |action| {
            preview
                .results
                .iter()
                .filter(|r| r.action == action)
                .count()
        };
        let (expiring, transitioning) = (count(Action::Expire), count(Action::Transition));
        let by_status = |r: &PreviewResult| match status {
            TagStatus::Any => true,
            TagStatus::Tagged => !r.tags.is_empty(),
            TagStatus::Untagged => r.tags.is_empty(),
        };
        let results = if let Some(ids) = ids {
            if page.next_token.is_some() || page.max_results.is_some() {
                return Err(Invalid::PagingWithImageIds.into());
            }
            let selectors = ids
                .into_iter()
                .map(|id| id.map_err(Invalid::ImageId))
                .collect::<Result<Vec<_>, _>>()?;
            Page {
                items: preview
                    .results
                    .into_iter()
                    .filter(|r| by_status(r) && selectors.iter().any(|s| selected(s, r)))
                    .collect(),
                next_token: None,
            }
        } else {
            // A new preview replaces the results a token pointed into: tokens name
            // the preview they page through.
            let scope = format!(
                "GetLifecyclePolicyPreview:{}/{}:{status:?}:{}",
                repo.registry,
                repo.name,
                preview.created_at.timestamp_millis()
            );
            let from: usize = self.resume(&scope, &page)?.unwrap_or(0);
            let limit = page
                .max_results
                .unwrap_or(PREVIEW_PAGE)
                .clamp(1, PREVIEW_PAGE);
            let items: Vec<(usize, PreviewResult)> = preview
                .results
                .into_iter()
                .filter(|r| by_status(r))
                .enumerate()
                .skip(from)
                .take(usize::try_from(limit + 1).unwrap_or(usize::MAX))
                .collect();
            let page = self.paginate(&scope, items, limit, |(i, _)| i + 1);
            Page {
                items: page.items.into_iter().map(|(_, r)| r).collect(),
                next_token: page.next_token,
            }
        };
        Ok(PreviewPage {
            repository: repo.record,
            policy_text: preview.policy_text,
            status: PreviewStatus::Complete,
            results,
            expiring,
            transitioning,
        })
    }

    /// Applies every private repository's lifecycle policy, or those of the
    /// repositories named `only`; `dry_run` evaluates without changing anything.
    /// Each repository is one transaction (see `Store::apply_lifecycle`).
    pub async fn run_lifecycle(
        &self,
        only: Option<&RepositoryName>,
        dry_run: bool,
    ) -> Result<Vec<LifecycleRun>> {
        // Decided on the pull times of every pull answered so far.
        self.pulls_recorded().await;
        let mut runs = Vec::new();
        for (repo, text) in self.store().lifecycle_repositories(only).await? {
            let policy = match LifecyclePolicy::parse(&text) {
                Ok(p) => p,
                Err(problem) => {
                    tracing::warn!(repository = %repo.name, ?problem, "stored lifecycle policy no longer parses; skipped");
                    continue;
                }
            };
            let at = now();
            let actions = if dry_run {
                let images = self.store().lifecycle_images(repo.key).await?;
                decide(&policy, &images, at)
                    .iter()
                    .map(|d| result(&images[d.image], d))
                    .collect()
            } else {
                self.store()
                    .apply_lifecycle(repo.key, at, |images| decide(&policy, images, at))
                    .await?
                    .iter()
                    .map(|(image, d)| result(image, d))
                    .collect()
            };
            runs.push(LifecycleRun {
                registry: repo.record.registry,
                name: repo.record.name,
                actions,
            });
        }
        Ok(runs)
    }

    /// One scheduled run, unless another process is running one: `None` then.
    pub async fn run_lifecycle_job(&self) -> Result<Option<Vec<LifecycleRun>>> {
        self.exclusively("lifecycle", self.run_lifecycle(None, false))
            .await
    }
}
