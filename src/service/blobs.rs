//! Blobs as the registry API reads, removes and mounts them.

use super::{now, BlobReader, Caller, Error, Result, Service};
use crate::domain::{Digest, RepositoryName};

impl Service {
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
}
