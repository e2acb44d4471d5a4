//! Upload sessions shared by both faces: ECR's parts and the registry API's chunks.
//!
//! Each part is written to a file of its own by the request that received it, hashed
//! as it is written, and counts only once the store records it where the upload stood
//! (one winner when requests race; the losers' files are removed). Completing seals
//! the upload against further parts, assembles the parts and checks the digest of
//! those bytes before anything is placed or made visible: bytes first, rows second.

use bytes::Bytes;
use chrono::Duration;
use futures_util::Stream;

use super::{now, Caller, Error, Result, Service};
use crate::blob::PartError;
use crate::domain::{Digest, Registry, RegistryId, RepositoryName, UploadId, UploadPart};
use crate::store::Upload;

/// How long an upload may sit before it is unknown.
pub(super) const UPLOAD_TTL: Duration = Duration::hours(24);

/// A part or chunk that does not continue the upload where it stands.
pub(super) fn misplaced(
    registry: &Registry,
    name: &RepositoryName,
    upload: &Upload,
    message: String,
) -> Error {
    Error::InvalidLayerPart {
        registry: registry.clone(),
        name: name.clone(),
        upload: upload.id.clone(),
        last_valid_byte: (upload.bytes_received - 1).max(0),
        message,
    }
}

pub(super) fn size(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What completing an upload did.
pub(super) enum Completed {
    /// The blob is now part of the repository.
    Linked(Digest),
    /// The repository already had the blob; the upload is gone all the same.
    AlreadyLinked(Digest),
}

impl Service {
    /// The upload, if it exists for this repository and has not expired.
    pub(super) async fn upload(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        id: &UploadId,
    ) -> Result<(Registry, Upload)> {
        let registry = self.registry(caller, registry)?;
        let repo = self.repository(&registry, name).await?;
        match self.store().upload(id).await? {
            Some(u) if u.repository_id == repo.id && u.created_at + UPLOAD_TTL > now() => {
                Ok((registry, u))
            }
            _ => Err(Error::UploadNotFound(id.clone())),
        }
    }

    /// Writes `body` as the upload's next part, after the bytes it held when read;
    /// with `expected`, the body must be exactly that long. Returns the new size. An
    /// empty body adds nothing.
    pub(super) async fn append<S, E>(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        upload: &Upload,
        body: S,
        expected: Option<u64>,
    ) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let offset = u64::try_from(upload.bytes_received).unwrap_or(0);
        let part = match self.blobs().write_part(&upload.id, body, expected).await {
            Ok(part) => part,
            Err(PartError::Body(m)) => return Err(Error::IncompleteBody(m)),
            Err(e @ PartError::Length { .. }) => {
                return Err(misplaced(registry, name, upload, e.to_string()))
            }
            Err(PartError::Io(e)) => return Err(e.into()),
        };
        if part.size == 0 {
            self.blobs().remove_part(&upload.id, &part.id).await?;
            return Ok(offset);
        }
        let recorded = self
            .store()
            .record_part(&upload.id, upload.bytes_received, &part)
            .await;
        if !matches!(recorded, Ok(true)) {
            self.blobs().remove_part(&upload.id, &part.id).await?;
        }
        if !recorded? {
            return Err(misplaced(
                registry,
                name,
                upload,
                format!("another part was recorded at byte {offset} first, or the upload is being completed"),
            ));
        }
        Ok(offset + part.size)
    }

    /// Completes an upload whose digest must be every one of `expected`: seals it
    /// against further parts at the size it had when read, checks its parts with
    /// `check`, assembles them, checks the digest, places the blob and links it to
    /// the repository. When the digest
    /// differs nothing is placed and the upload is unsealed (the caller may discard
    /// it); when its bytes are gone (a completion moved them, then the process died)
    /// the upload is forgotten.
    pub(super) async fn complete(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        upload: &Upload,
        expected: &[Digest],
        check: impl FnOnce(&[UploadPart]) -> Result<()>,
    ) -> Result<Completed> {
        let Some(wanted) = expected.first() else {
            return Err(Error::InvalidParameter(
                "Invalid parameter at 'layerDigests': at least one digest is required".into(),
            ));
        };
        if !self
            .store()
            .seal_upload(&upload.id, upload.bytes_received)
            .await?
        {
            return Err(misplaced(
                registry,
                name,
                upload,
                "another part was recorded while the upload was being completed".into(),
            ));
        }
        let parts = self.store().upload_parts(&upload.id).await?;
        if let Err(e) = check(&parts) {
            self.store().unseal_upload(&upload.id).await?;
            return Err(e);
        }
        let assembled = match self
            .blobs()
            .assemble(&upload.id, &parts, wanted.algorithm())
            .await
        {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.discard(&upload.id).await?;
                let present = self
                    .store()
                    .blob_in_repository(upload.repository_id, wanted)
                    .await?;
                return Err(if present.is_some() {
                    Error::LayerAlreadyExists(wanted.clone())
                } else {
                    Error::UploadNotFound(upload.id.clone())
                });
            }
            Err(e) => {
                self.store().unseal_upload(&upload.id).await?;
                return Err(e.into());
            }
        };
        let actual = assembled.digest.clone();
        if expected.iter().any(|d| *d != actual) {
            self.blobs().abandon(assembled).await?;
            self.store().unseal_upload(&upload.id).await?;
            return Err(Error::InvalidLayer(format!(
                "The calculated digest {actual} does not match the layer digest given, {wanted}"
            )));
        }
        self.blobs().place(assembled).await?;
        let linked = self.store().complete_upload(upload, &actual, now()).await?;
        self.blobs().discard_upload(&upload.id).await?;
        Ok(if linked {
            Completed::Linked(actual)
        } else {
            Completed::AlreadyLinked(actual)
        })
    }

    pub(super) async fn discard(&self, id: &UploadId) -> Result<()> {
        self.store().delete_upload(id).await?;
        Ok(self.blobs().discard_upload(id).await?)
    }

    /// Registry API: opens an upload session.
    pub async fn start_upload(&self, caller: &Caller, name: &RepositoryName) -> Result<UploadId> {
        Ok(self.initiate_layer_upload(caller, None, name).await?.1)
    }

    /// Registry API: how many bytes the session holds.
    pub async fn upload_status(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        id: &UploadId,
    ) -> Result<u64> {
        let (_, upload) = self.upload(caller, None, name, id).await?;
        Ok(u64::try_from(upload.bytes_received).unwrap_or(0))
    }

    /// Registry API: appends a chunk. With `range`, the chunk must start where the
    /// session ends and be exactly as long as the range says. Returns the new size.
    pub async fn append_chunk<S, E>(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        id: &UploadId,
        range: Option<(u64, u64)>,
        body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (registry, upload) = self.upload(caller, None, name, id).await?;
        let expected = self.chunk_length(&registry, name, &upload, range)?;
        self.append(&registry, name, &upload, body, expected).await
    }

    /// The length a chunk covering `range` (first and last byte) must have, checking
    /// that it starts where the upload ends.
    fn chunk_length(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        upload: &Upload,
        range: Option<(u64, u64)>,
    ) -> Result<Option<u64>> {
        let Some((first, last)) = range else {
            return Ok(None);
        };
        let received = upload.bytes_received;
        if size(first) != received {
            return Err(misplaced(
                registry,
                name,
                upload,
                format!("the chunk must start at byte {received}"),
            ));
        }
        Ok(Some(last - first + 1))
    }

    /// Registry API: appends a last chunk (possibly empty; with `range`, it must
    /// continue the session exactly), checks the digest and makes the blob visible in
    /// the repository. A session whose bytes are not the digest's is discarded.
    pub async fn finish_upload<S, E>(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        id: &UploadId,
        digest: &Digest,
        range: Option<(u64, u64)>,
        last_chunk: S,
    ) -> Result<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (registry, mut upload) = self.upload(caller, None, name, id).await?;
        let expected = self.chunk_length(&registry, name, &upload, range)?;
        upload.bytes_received = size(
            self.append(&registry, name, &upload, last_chunk, expected)
                .await?,
        );
        match self
            .complete(
                &registry,
                name,
                &upload,
                std::slice::from_ref(digest),
                |_| Ok(()),
            )
            .await
        {
            Ok(_) => Ok(()),
            // As distribution does: a session whose bytes are not what the client
            // meant is abandoned rather than kept for a retry that cannot succeed.
            Err(e @ Error::InvalidLayer(_)) => {
                self.discard(id).await?;
                Err(e)
            }
            // The registry API has no "already exists" for a finished upload.
            Err(Error::LayerAlreadyExists(_)) => Err(Error::UploadNotFound(id.clone())),
            Err(e) => Err(e),
        }
    }

    /// Registry API: a blob in one request (`POST ?digest=`). Whatever fails, the
    /// session it opened leaves nothing behind.
    pub async fn put_blob<S, E>(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        digest: &Digest,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let id = self.start_upload(caller, name).await?;
        let finished = self
            .finish_upload(caller, name, &id, digest, None, body)
            .await;
        if finished.is_err() {
            if let Err(e) = self.discard(&id).await {
                tracing::warn!(error = ?e, upload = %id, "cannot discard a failed blob upload");
            }
        }
        finished
    }

    /// Registry API: abandons an upload session.
    pub async fn cancel_upload(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        id: &UploadId,
    ) -> Result<()> {
        self.upload(caller, None, name, id).await?;
        self.discard(id).await
    }
}
