//! What the registry API does with manifests by reference beyond ECR's actions: read
//! one (a pull), and delete by tag or digest. Pushes run `put_image`, as PutImage does.

use super::images::pullable;
use super::{now, pull_due, Caller, Error, ImageProblem, Result, Service, StoredImage};
use crate::domain::{Image, ImageSelector, RepositoryName};
use crate::store::{self, Stored};

impl Service {
    /// A manifest with its exact bytes. A pull (`record_pull`) updates
    /// `lastRecordedPullTime`; a HEAD does not. In a repository a pull-through cache
    /// rule covers, an image missing here (the repository too) comes from the
    /// upstream, and a tag it placed is checked there once its check is due.
    pub async fn manifest(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        selector: &ImageSelector,
        record_pull: bool,
    ) -> Result<StoredImage> {
        let registry = caller.registry.clone();
        // The hot path of every pull: one read finds the image and the policies that
        // govern it; where none does and the caller owns the registry, it decides.
        let (found, checked) = match self
            .store()
            .manifest_by_name(&registry, name, selector)
            .await?
        {
            Some(f) if Service::unrestricted(caller, &registry, &f) => {
                let checked = f.upstream_checked_at;
                (Some(pullable(selector, (f.image, f.body))), checked)
            }
            _ => match self.named_repository(caller, name, "BatchGetImage").await {
                Ok(repo) => {
                    let found = self.select_manifest(repo.key, selector).await?;
                    let checked = match (selector.tag(), &found) {
                        (Some(tag), Some(Ok(_))) => {
                            self.store().upstream_checked_at(repo.key, tag).await?
                        }
                        _ => None,
                    };
                    (found, checked)
                }
                // A pull-through cache creates its repositories on first pull.
                Err(missing @ Error::RepositoryNotFound { .. }) => {
                    return match self
                        .through_upstream(caller, &registry, name, selector, None)
                        .await?
                    {
                        Some(found) => self.pulled(caller, name, selector, found, record_pull),
                        None => Err(missing),
                    };
                }
                Err(e) => return Err(e),
            },
        };
        let due = checked.is_some_and(|at| now() - at >= self.pull_through_ttl());
        let found = match found {
            None => self
                .through_upstream(caller, &registry, name, selector, None)
                .await?
                .map(Ok),
            Some(Ok(cached)) if due => self
                .through_upstream(caller, &registry, name, selector, Some(cached))
                .await?
                .map(Ok),
            found => found,
        };
        let found = match found {
            Some(Ok(found)) => found,
            Some(Err(failure)) if failure.problem == ImageProblem::Archived => {
                return Err(Error::ImageArchived {
                    registry,
                    name: name.clone(),
                    image: selector.clone(),
                })
            }
            _ => {
                return Err(Error::ImageNotFound {
                    registry,
                    name: name.clone(),
                    image: selector.clone(),
                });
            }
        };
        self.pulled(caller, name, selector, found, record_pull)
    }

    /// The image a pull found, its pull recorded when `record_pull`.
    fn pulled(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        selector: &ImageSelector,
        (Stored { key, record: image }, manifest): (Stored<Image>, Vec<u8>),
        record_pull: bool,
    ) -> Result<StoredImage> {
        let registry = caller.registry.clone();
        let at = now();
        if record_pull && pull_due(&image, at) {
            self.record_pull(caller, &registry, &[key], at);
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
        let repo = self
            .named_repository(caller, name, "BatchDeleteImage")
            .await?;
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
}
