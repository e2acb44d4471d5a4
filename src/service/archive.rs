//! Archival storage: images moved out of the pullable set and back. An archived image
//! is still described and listed (as `ARCHIVED`) and may be deleted, but not pulled
//! through any face until it is restored, by UpdateImageStorageClass or by pushing it
//! again. Its blobs stay where they are.

use super::{now, Caller, Error, Result, Service};
use crate::domain::{
    Image, ImageSelector, ImageStatus, NotArchivable, Registry, RegistryId, RepositoryName,
    StorageClass,
};
use crate::store;

impl Service {
    /// Moves the image to `target`; returns its status after the move. Restoring
    /// completes before this returns, so a restored image is `ACTIVE` at once.
    pub async fn update_image_storage_class(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        selector: &ImageSelector,
        target: StorageClass,
    ) -> Result<(Registry, Image)> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "UpdateImageStorageClass")
            .await?;
        let not_found = || Error::ImageNotFound {
            registry: registry.clone(),
            name: name.clone(),
            image: selector.clone(),
        };
        let not_supported = |reason| Error::StorageClassUpdateNotSupported {
            image: selector.clone(),
            reason,
        };
        let image = self
            .select(&repo, selector)
            .await?
            .map_err(|_| not_found())?;
        let status = match target {
            StorageClass::Archive => {
                image.record.archivable().map_err(not_supported)?;
                ImageStatus::Archived
            }
            StorageClass::Standard => ImageStatus::Active,
        };
        match self
            .store()
            .set_image_status(repo.key, image.key, status, now())
            .await
        {
            Ok(Some(moved)) => Ok((registry, moved.record)),
            Ok(None) => Err(not_found()),
            Err(store::Error::ReferencedByIndex) => {
                Err(not_supported(NotArchivable::ListedByIndex))
            }
            Err(e) => Err(e.into()),
        }
    }
}
