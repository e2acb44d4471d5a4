//! What the registry face (`/v2/`) reads and removes beyond ECR's actions: manifests by
//! reference, blobs, tag and repository listings, referrers, cross-repository mounts.
//! Writes go through the same functions as ECR's (`put_image`, the upload sessions).

use serde_json::Value;

use super::{now, pull_due, BlobReader, Caller, Error, Result, Service, StoredImage};
use crate::domain::{Digest, ImageSelector, ImageTag, Repository, RepositoryName};
use crate::store::{self, Stored};

/// One listing page and whether more follow.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub more: bool,
}

/// A manifest that refers to another through `subject`, as an index descriptor.
#[derive(Debug, Clone)]
pub struct ReferrerDescriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: i64,
    pub artifact_type: Option<String>,
    pub annotations: Option<Value>,
}

/// The default and largest page of a tag or repository listing.
const MAX_LISTING: i64 = 1000;

fn cut<T>(mut items: Vec<T>, limit: i64) -> Listing<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = items.len() > limit;
    items.truncate(limit);
    Listing { items, more }
}

impl Service {
    async fn own_repository(
        &self,
        caller: &Caller,
        name: &RepositoryName,
    ) -> Result<Stored<Repository>> {
        self.repository(&caller.registry(), name).await
    }

    /// A manifest with its exact bytes. A pull (`record_pull`) updates
    /// `lastRecordedPullTime`; a HEAD does not.
    pub async fn manifest(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        selector: &ImageSelector,
        record_pull: bool,
    ) -> Result<StoredImage> {
        let registry = caller.registry();
        let found = self.select_manifest(&registry, name, selector).await?;
        let Some(Ok((Stored { key, record: image }, manifest))) = found else {
            if found.is_none() {
                // Which is missing: the repository, or the image?
                self.repository(&registry, name).await?;
            }
            return Err(Error::ImageNotFound {
                registry,
                name: name.clone(),
                image: selector.clone(),
            });
        };
        let at = now();
        if record_pull && pull_due(&image, at) {
            self.record_pull(&[key], at).await;
        }
        Ok(StoredImage {
            registry,
            name: name.clone(),
            tag: selector.tag().cloned(),
            manifest,
            digest: image.digest,
            media_type: image.media_type,
            subject: image.subject,
        })
    }

    /// By tag removes only the tag; by digest removes the image and its tags.
    pub async fn delete_manifest(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        selector: &ImageSelector,
    ) -> Result<()> {
        let repo = self.own_repository(caller, name).await?;
        let found = match selector {
            ImageSelector::Digest(digest) => {
                match self.store().delete_image(repo.key, digest).await {
                    Ok(deleted) => deleted.is_some(),
                    Err(store::Error::ReferencedByIndex) => {
                        return Err(Error::ImageReferencedByIndex(digest.clone()))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            ImageSelector::Tag(tag) => self.store().untag(repo.key, tag).await?,
            ImageSelector::Both { tag, .. } => {
                self.select(&repo, selector).await?.is_ok()
                    && self.store().untag(repo.key, tag).await?
            }
        };
        if found {
            Ok(())
        } else {
            Err(Error::ImageNotFound {
                registry: repo.record.registry,
                name: repo.record.name,
                image: selector.clone(),
            })
        }
    }

    /// A blob the repository may read, open for streaming.
    pub async fn blob(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<BlobReader> {
        let repo = self.own_repository(caller, name).await?;
        if self
            .store()
            .blob_in_repository(repo.key, digest)
            .await?
            .is_none()
        {
            return Err(Error::BlobNotFound(digest.clone()));
        }
        Ok(self.blobs().read(digest).await?)
    }

    /// Makes a blob invisible to the repository (its bytes stay for others).
    pub async fn delete_blob(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<()> {
        let repo = self.own_repository(caller, name).await?;
        if self.store().unlink_blob(repo.key, digest).await? {
            Ok(())
        } else {
            Err(Error::BlobNotFound(digest.clone()))
        }
    }

    /// Links a blob the caller can read in `from` into `name` without moving bytes;
    /// without `from`, one it can read in any repository of its registry (every
    /// repository of the caller's registry is one it may read). False when no such
    /// repository holds the blob.
    pub async fn mount_blob(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        digest: &Digest,
        from: Option<&RepositoryName>,
    ) -> Result<bool> {
        let target = self.own_repository(caller, name).await?;
        let size = match from {
            Some(from) => match self.store().repository(&caller.registry(), from).await? {
                Some(source) => self.store().blob_in_repository(source.key, digest).await?,
                None => None,
            },
            None => {
                self.store()
                    .blob_in_registry(&caller.registry(), digest)
                    .await?
            }
        };
        let Some(size) = size else {
            return Ok(false);
        };
        self.store()
            .link_blob(target.key, digest, size, now())
            .await?;
        Ok(true)
    }

    /// Tags in lexical order after `last`, at most `n` (default and cap 1000).
    pub async fn tag_listing(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        last: Option<&str>,
        n: Option<i64>,
    ) -> Result<Listing<ImageTag>> {
        let repo = self.own_repository(caller, name).await?;
        let limit = n.unwrap_or(MAX_LISTING).clamp(0, MAX_LISTING);
        let tags = self
            .store()
            .tags_page(repo.key, last.unwrap_or(""), limit + 1)
            .await?;
        Ok(cut(tags, limit))
    }

    /// The caller's repositories in name order after `last`, at most `n`.
    pub async fn catalog(
        &self,
        caller: &Caller,
        last: Option<&str>,
        n: Option<i64>,
    ) -> Result<Listing<RepositoryName>> {
        let limit = n.unwrap_or(MAX_LISTING).clamp(0, MAX_LISTING);
        let repos = self
            .store()
            .repositories(&caller.registry(), last, limit + 1)
            .await?;
        Ok(cut(
            repos.into_iter().map(|r| r.record.name).collect(),
            limit,
        ))
    }

    /// Manifests whose subject is `subject`, optionally only of one artifact type.
    pub async fn referrers(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerDescriptor>> {
        let repo = self.own_repository(caller, name).await?;
        let referrers = self.store().referrers(repo.key, subject).await?;
        Ok(referrers
            .into_iter()
            .filter(|r| artifact_type.is_none_or(|t| r.artifact_type.as_deref() == Some(t)))
            .map(|r| {
                let annotations = serde_json::from_slice::<Value>(&r.body)
                    .ok()
                    .and_then(|v| v.get("annotations").cloned())
                    .filter(Value::is_object);
                ReferrerDescriptor {
                    size: i64::try_from(r.body.len()).unwrap_or(i64::MAX),
                    media_type: r.media_type,
                    digest: r.digest,
                    artifact_type: r.artifact_type,
                    annotations,
                }
            })
            .collect())
    }
}
