//! What the registry API does with manifests by reference beyond ECR's actions: read
//! one (a pull), and delete by tag or digest. Pushes run `put_image`, as PutImage does.

use super::images::pullable;
use super::{now, pull_due, Caller, Error, ImageProblem, Result, Service, StoredImage};
use crate::domain::{ImageSelector, RepositoryName};
use crate::store::{self, Stored};

impl Service {
    /// A manifest with its exact bytes. A pull (`record_pull`) updates
    /// `lastRecordedPullTime`; a HEAD does not.
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
        let found = match self
            .store()
            .manifest_by_name(&registry, name, selector)
            .await?
        {
            Some(f) if Service::unrestricted(caller, &registry, &f) => {
                Some(pullable(selector, (f.image, f.body)))
            }
            _ => {
                let repo = self.named_repository(caller, name, "BatchGetImage").await?;
                self.select_manifest(repo.key, selector).await?
            }
        };
        let (Stored { key, record: image }, manifest) = match found {
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
        let at = now();
        if record_pull && pull_due(&image, at) {
            self.record_pull(caller, &registry, &[key], at).await;
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
