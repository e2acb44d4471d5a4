//! Upload sessions shared by both faces: ECR's parts and the registry API's chunks
//! append to one file per upload, hashed as the bytes pass so that finishing reads
//! nothing back in the common case; then bytes first, rows second.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use chrono::Duration;
use futures_util::Stream;

use super::{now, Caller, Error, Result, Service, MIN_PART_SIZE};
use crate::blob::AppendError;
use crate::domain::{Algorithm, Digest, Hasher, Registry, RegistryId, RepositoryName, UploadId};
use crate::store::Upload;

/// How long an upload may sit before it is unknown.
pub(super) const UPLOAD_TTL: Duration = Duration::hours(24);

/// Running sha256 state of uploads being written by this process, keyed by upload
/// and valid at the recorded offset. Missing state (another process took the
/// previous chunk, a restart) only costs a read-back at the end.
#[derive(Default)]
pub(super) struct Hashers(Mutex<HashMap<UploadId, (u64, Hasher)>>);

impl Hashers {
    fn take(&self, id: &UploadId, offset: u64) -> Option<Hasher> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.remove(id) {
            Some((at, h)) if at == offset => Some(h),
            _ if offset == 0 => Some(Hasher::new(Algorithm::Sha256)),
            _ => None,
        }
    }

    fn put(&self, id: &UploadId, offset: u64, hasher: Hasher) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), (offset, hasher));
    }

    fn forget(&self, id: &UploadId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// Converts a failed append: a broken request body is the client's, the rest ours.
fn append_error(e: AppendError) -> Error {
    match e {
        AppendError::Body(m) => Error::IncompleteBody(m),
        AppendError::Io(e) => e.into(),
    }
}

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

fn size(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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

    /// Appends `body` after the bytes the upload has recorded; returns the new total.
    /// `None` when a concurrent append to the same upload won the race.
    pub(super) async fn append<S, E>(&self, upload: &Upload, body: S) -> Result<Option<u64>>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let offset = u64::try_from(upload.bytes_received).unwrap_or(0);
        let mut hasher = self.inner.hashers.take(&upload.id, offset);
        let written = match self
            .blobs()
            .append_upload(&upload.id, offset, body, hasher.as_mut())
            .await
        {
            Ok(n) => n,
            // Bytes were recorded but their file is gone (see `upload_digest`): the
            // upload cannot continue.
            Err(AppendError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                self.store().delete_upload(&upload.id).await?;
                return Err(Error::UploadNotFound(upload.id.clone()));
            }
            Err(e) => return Err(append_error(e)),
        };
        // Only the append that moves the row forward counts; a concurrent duplicate
        // loses here (and the digest check when finishing catches any mixed bytes).
        if !self
            .store()
            .advance_upload(
                &upload.id,
                upload.bytes_received,
                size(written),
                MIN_PART_SIZE,
            )
            .await?
        {
            return Ok(None);
        }
        if let Some(h) = hasher {
            self.inner.hashers.put(&upload.id, offset + written, h);
        }
        Ok(Some(offset + written))
    }

    /// The digest of an upload's `len` recorded bytes; `None` when its bytes are gone
    /// (a completion moved them and the process died before forgetting the upload).
    pub(super) async fn upload_digest(
        &self,
        id: &UploadId,
        len: u64,
        algorithm: Algorithm,
    ) -> Result<Option<Digest>> {
        match self.inner.hashers.take(id, len) {
            Some(h) if algorithm == Algorithm::Sha256 => Ok(Some(h.finish())),
            _ => match self.blobs().hash_upload(id, len, algorithm).await {
                Ok(digest) => Ok(Some(digest)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Moves a verified upload into place and makes it visible in the repository.
    pub(super) async fn commit_upload(&self, upload: &Upload, digest: &Digest) -> Result<()> {
        let len = u64::try_from(upload.bytes_received).unwrap_or(0);
        // Bytes first, then the rows that make them visible.
        match self.blobs().commit_upload(&upload.id, len, digest).await {
            // Another completion (or one before a crash) already moved the bytes.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.discard(&upload.id).await?;
                return Err(Error::UploadNotFound(upload.id.clone()));
            }
            other => other?,
        }
        self.store()
            .link_blob(upload.repository_id, digest, upload.bytes_received, now())
            .await?;
        self.discard(&upload.id).await
    }

    pub(super) async fn discard(&self, id: &UploadId) -> Result<()> {
        self.inner.hashers.forget(id);
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

    /// Registry API: appends a chunk, which must start where the session ends when
    /// `start` is given. Returns the new size.
    pub async fn append_chunk<S, E>(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        id: &UploadId,
        start: Option<u64>,
        body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (registry, upload) = self.upload(caller, None, name, id).await?;
        let received = upload.bytes_received;
        let out_of_order = |message| misplaced(&registry, name, &upload, message);
        if start.is_some_and(|s| size(s) != received) {
            return Err(out_of_order(format!(
                "the chunk must start at byte {received}"
            )));
        }
        self.append(&upload, body)
            .await?
            .ok_or_else(|| out_of_order("a concurrent chunk was received".into()))
    }

    /// Registry API: appends a last chunk (possibly empty), checks the digest and
    /// makes the blob visible in the repository.
    pub async fn finish_upload<S, E>(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        id: &UploadId,
        digest: &Digest,
        last_chunk: S,
    ) -> Result<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.append_chunk(caller, name, id, None, last_chunk)
            .await?;
        let (_, upload) = self.upload(caller, None, name, id).await?;
        let len = u64::try_from(upload.bytes_received).unwrap_or(0);
        let Some(actual) = self.upload_digest(id, len, digest.algorithm()).await? else {
            self.store().delete_upload(id).await?;
            return Err(Error::UploadNotFound(id.clone()));
        };
        if actual != *digest {
            // As distribution does: a session whose bytes are not what the client
            // meant is abandoned rather than kept for a retry that cannot succeed.
            self.discard(id).await?;
            return Err(Error::InvalidLayer(format!(
                "the uploaded content has digest {actual}, not the {digest} given"
            )));
        }
        self.commit_upload(&upload, &actual).await
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
