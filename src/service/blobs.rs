//! Blobs as the registry API reads, removes and mounts them.

use super::upstream::{Arriving, FromUpstream};
use super::{now, BlobReader, Caller, Error, Result, Service};
use crate::domain::{Digest, Repository, RepositoryName};
use crate::store::Key;

/// What a blob is read for: its bytes (a GET, ECR's GetDownloadUrlForLayer), or
/// whether it is there and how large (a HEAD, ECR's BatchCheckLayerAvailability).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobRead {
    /// All its bytes: they may stream from a pull-through upstream as they arrive.
    Download,
    /// Its bytes from an offset: only once stored.
    DownloadRange,
    Check,
}

/// A blob's bytes: stored, on their way from a pull-through upstream, or to be
/// fetched elsewhere (`--blob-redirect`): from the object store at a presigned URL, or
/// from the download listener.
pub enum Blob {
    Stored(BlobReader),
    Arriving(Arriving),
    Elsewhere(String),
}

impl Service {
    /// A blob the repository may read, open for streaming.
    pub async fn blob(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        digest: &Digest,
        read: BlobRead,
    ) -> Result<Blob> {
        let action = match read {
            BlobRead::Download | BlobRead::DownloadRange => "GetDownloadUrlForLayer",
            BlobRead::Check => "BatchCheckLayerAvailability",
        };
        let repo = self.named_repository(caller, name, action).await?;
        if self.linked_blob(repo.key, digest).await?.is_none() {
            let stream = read == BlobRead::Download;
            match self.blob_from_upstream(&repo, digest, stream).await? {
                FromUpstream::NoRule => return Err(Error::BlobNotFound(digest.clone())),
                FromUpstream::Arriving(arriving) => return Ok(Blob::Arriving(arriving)),
                FromUpstream::Cached => {}
            }
        }
        if read == BlobRead::Download && self.settings().blob_redirect {
            if let Some(url) = self.blobs().redirect(digest).await? {
                return Ok(Blob::Elsewhere(url));
            }
            if let Some(base) = &self.settings().download_url {
                return Ok(Blob::Elsewhere(self.download_link(base, repo.key, digest)));
            }
        }
        match self.blobs().read(digest).await {
            Ok(reader) => Ok(Blob::Stored(reader)),
            // Collected since the link was read: an open file would have stayed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The size of a blob the repository may see. Telling a client that a blob is
    /// there lets it skip the upload and put its manifest later, so a link past half
    /// the collection grace is refreshed: the push has the grace again to use it.
    /// Younger links stay as they are, so repeated reads write nothing. Best effort,
    /// as a read must not fail because its bookkeeping write did.
    pub(super) async fn linked_blob(
        &self,
        repository: Key<Repository>,
        digest: &Digest,
    ) -> Result<Option<i64>> {
        let Some((size, linked_at)) = self.store().blob_link(repository, digest).await? else {
            return Ok(None);
        };
        let at = now();
        if at - linked_at < self.gc_grace() / 2 {
            return Ok(Some(size));
        }
        match self.store().refresh_link(repository, digest, at).await {
            Ok(true) => Ok(Some(size)),
            // Collected meanwhile.
            Ok(false) => Ok(None),
            Err(e) => {
                tracing::warn!(error = ?e, blob = %digest, "could not refresh a blob's link");
                Ok(Some(size))
            }
        }
    }

    /// Makes a blob invisible to the repository (its bytes stay for others).
    pub async fn delete_blob(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<()> {
        let repo = self
            .named_repository(caller, name, "BatchDeleteImage")
            .await?;
        if self.store().unlink_blob(repo.key, digest).await? {
            Ok(())
        } else {
            Err(Error::BlobNotFound(digest.clone()))
        }
    }

    /// Links a blob the caller may download from `from` into `name` without moving
    /// bytes; without `from`, one in any repository of the registry, for its owner
    /// only. Only where the registry has blob mounting enabled (`BLOB_MOUNTING`), as
    /// ECR. False when the blob is not mounted: the client uploads it instead.
    pub async fn mount_blob(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        digest: &Digest,
        from: Option<&RepositoryName>,
    ) -> Result<bool> {
        let target = self
            .pushed_repository(caller, &caller.registry, name, "InitiateLayerUpload")
            .await?;
        if !self.blob_mounting(&caller.registry).await? {
            return Ok(false);
        }
        let size = match from {
            Some(from) => {
                let source = self
                    .named_repository(caller, from, "GetDownloadUrlForLayer")
                    .await;
                match source {
                    Ok(source) => self.store().blob_in_repository(source.key, digest).await?,
                    Err(Error::RepositoryNotFound { .. } | Error::AccessDenied { .. }) => None,
                    Err(e) => return Err(e),
                }
            }
            None if caller.principal.account == caller.registry.account => {
                self.store()
                    .blob_in_registry(&caller.registry, digest)
                    .await?
            }
            None => None,
        };
        if size.is_none() {
            return Ok(false);
        }
        // False when the blob was collected since: the client uploads it instead.
        Ok(self.store().mount_blob(target.key, digest, now()).await?)
    }
}
