//! Upload sessions shared by both faces: ECR's parts and the registry API's chunks.
//!
//! A part is written by the request holding the upload's bytes (`HeldUpload`), which
//! reads the upload's row after taking the hold and writes only where the upload
//! stands; it continues the upload's sha256 as its bytes arrive, and counts only once
//! the store records it there with that sha256 (one winner when requests race; a
//! loser's bytes are removed). Completing holds the bytes too, seals the upload
//! against further parts, assembles them and checks their digest before anything is
//! placed or made visible: bytes first, rows second.

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

use super::error::{Invalid, PartProblem};
use super::{now, Caller, Error, Result, Service, MIN_PART_SIZE};
use crate::blob::{HeldUpload, PartError};
use crate::domain::{
    Algorithm, Digest, Hasher, Registry, RegistryId, Repository, RepositoryName, UploadId,
    UploadPart,
};
use crate::store::{Key, Stored, Upload};

/// The most parts one upload may have.
const MAX_PARTS: i64 = 4200;

/// A part or chunk that does not continue the upload where it stands.
fn misplaced(
    registry: &Registry,
    name: &RepositoryName,
    upload: &Upload,
    problem: PartProblem,
) -> Error {
    Error::MisplacedPart {
        registry: registry.clone(),
        name: name.clone(),
        upload: upload.id.clone(),
        received: u64::try_from(upload.bytes_received).unwrap_or(0),
        problem,
    }
}

fn size(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The length a part covering `range` (its first and last byte) must have, once it
/// is checked to start where the upload ends.
fn part_length(upload: &Upload, range: Option<(u64, u64)>) -> Result<Option<u64>, PartProblem> {
    let Some((first, last)) = range else {
        return Ok(None);
    };
    if size(first) != upload.bytes_received {
        return Err(PartProblem::Start { first });
    }
    match last.checked_sub(first).and_then(|d| d.checked_add(1)) {
        Some(len) => Ok(Some(len)),
        None => Err(PartProblem::Range { first, last }),
    }
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
        action: &'static str,
    ) -> Result<(Registry, Upload)> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, action)
            .await?;
        match self.store().upload(id).await? {
            // An upload lives for the collection grace, after which it is collected.
            Some(u) if u.repository == repo.key && now() - u.created_at < self.gc_grace() => {
                Ok((registry, u))
            }
            _ => Err(Error::UploadNotFound(id.clone())),
        }
    }

    /// A new upload in `repository`: its row, then room for its bytes.
    pub(super) async fn new_upload(&self, repository: Key<Repository>) -> Result<UploadId> {
        let id = UploadId::new();
        self.store().create_upload(&id, repository, now()).await?;
        if let Err(e) = self.blobs().create_upload(&id).await {
            if let Err(e) = self.discard(&id).await {
                tracing::warn!(error = ?e, upload = %id, "cannot discard a failed upload");
            }
            return Err(e.into());
        }
        Ok(id)
    }

    /// Holds the upload's bytes for this request: while held, no other request writes
    /// or completes the upload.
    async fn hold(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        upload: &Upload,
    ) -> Result<HeldUpload> {
        match self.blobs().hold(&upload.id).await {
            Ok(Some(held)) => Ok(held),
            Ok(None) => Err(misplaced(registry, name, upload, PartProblem::Raced)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::UploadNotFound(upload.id.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `body` as the upload's next part, after the bytes it held when read;
    /// with `expected`, the body must be exactly that long. Returns the upload as it
    /// stands after the part. An empty body adds nothing.
    pub(super) async fn append<S, E>(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        upload: &Upload,
        body: S,
        expected: Option<u64>,
    ) -> Result<Upload>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // The hold is taken once bytes arrive: a request that sends its head and
        // waits holds nothing meanwhile.
        let mut body = body.peekable();
        if std::pin::Pin::new(&mut body).peek().await.is_none() && expected.unwrap_or(0) == 0 {
            return Ok(upload.clone());
        }
        let mut held = self.hold(registry, name, upload).await?;
        // Read again under the hold: the part goes after the bytes recorded now, and
        // only while the upload stands where the caller saw it, open to parts.
        match self.store().upload(&upload.id).await? {
            Some(now) if !now.sealed && now.bytes_received == upload.bytes_received => {}
            Some(_) => return Err(misplaced(registry, name, upload, PartProblem::Raced)),
            None => return Err(Error::UploadNotFound(upload.id.clone())),
        }
        let start = u64::try_from(upload.bytes_received).unwrap_or(0);
        let (part, sha256) = match held
            .write_part(start, upload.sha256.clone(), body, expected)
            .await
        {
            Ok(written) => written,
            Err(PartError::Body(m)) => return Err(Error::IncompleteBody(m)),
            Err(PartError::Length { expected, received }) => {
                let problem = PartProblem::Length {
                    announced: expected,
                    received,
                };
                return Err(misplaced(registry, name, upload, problem));
            }
            Err(PartError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::UploadNotFound(upload.id.clone()))
            }
            Err(PartError::Io(e)) => return Err(e.into()),
        };
        if part.size == 0 {
            held.remove_part(start, &part).await?;
            return Ok(upload.clone());
        }
        let recorded = self
            .store()
            .record_part(&upload.id, upload.bytes_received, &part, &sha256)
            .await;
        if !matches!(recorded, Ok(true)) {
            held.remove_part(start, &part).await?;
        }
        if !recorded? {
            return Err(misplaced(registry, name, upload, PartProblem::Raced));
        }
        Ok(Upload {
            bytes_received: upload.bytes_received + size(part.size),
            sha256,
            parts: upload.parts + 1,
            ..upload.clone()
        })
    }

    /// Completes an upload whose digest must be every one of `expected`: holds its
    /// bytes, seals it against further parts at the size it had when read, checks its
    /// parts with `check`, assembles them, checks the digest, places the blob and
    /// links it to the repository. When the digest differs nothing is placed and the
    /// upload is unsealed (the caller may discard it); when its bytes are gone (a
    /// completion moved them, then the process died) the upload is forgotten.
    pub(super) async fn complete(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        upload: &Upload,
        expected: &[Digest],
        check: impl FnOnce(&[UploadPart]) -> Result<()>,
    ) -> Result<Completed> {
        let Some(wanted) = expected.first() else {
            return Err(Invalid::NoLayerDigest.into());
        };
        let gone = || async {
            self.discard(&upload.id).await?;
            let present = self
                .store()
                .blob_in_repository(upload.repository, wanted)
                .await?;
            Err(if present.is_some() {
                Error::LayerAlreadyExists(wanted.clone())
            } else {
                Error::UploadNotFound(upload.id.clone())
            })
        };
        let mut held = match self.hold(registry, name, upload).await {
            Ok(held) => held,
            Err(Error::UploadNotFound(_)) => return gone().await,
            Err(e) => return Err(e),
        };
        if !self
            .store()
            .seal_upload(&upload.id, upload.bytes_received)
            .await?
        {
            return Err(misplaced(registry, name, upload, PartProblem::Raced));
        }
        let parts = self.store().upload_parts(&upload.id).await?;
        if let Err(e) = check(&parts) {
            self.store().unseal_upload(&upload.id).await?;
            return Err(e);
        }
        let assembled = match held
            .assemble(&parts, &upload.sha256, wanted.algorithm())
            .await
        {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return gone().await,
            Err(e) => {
                self.store().unseal_upload(&upload.id).await?;
                return Err(e.into());
            }
        };
        let actual = assembled.digest.clone();
        if let Some(given) = expected.iter().find(|d| **d != actual) {
            self.blobs().abandon(assembled).await?;
            self.store().unseal_upload(&upload.id).await?;
            return Err(Error::LayerDigestMismatch {
                given: given.clone(),
                actual,
            });
        }
        // NotFound: the upload's bytes were removed under it (collected as stale).
        let lost = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => Error::UploadNotFound(upload.id.clone()),
            _ => Error::from(e),
        };
        // Placed under the blob's lock, in the transaction that records it (see
        // `Store::complete_upload`); staged first, so that a slow copy runs outside it.
        let blobs = self.blobs();
        blobs.stage(&assembled).await.map_err(lost)?;
        let linked = self
            .store()
            .complete_upload(upload, &actual, now(), || async move {
                blobs.place(assembled).await.map(drop).map_err(lost)
            })
            .await?;
        self.blobs().discard_upload(&upload.id).await?;
        // Let go only now: until the upload is gone, nobody else writes its bytes.
        drop(held);
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

    /// Opens an upload in the repository.
    pub async fn start_upload(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
    ) -> Result<(Registry, UploadId)> {
        let registry = self.registry(caller, registry);
        let repo = self
            .pushed_repository(caller, &registry, name, "InitiateLayerUpload")
            .await?;
        Ok((registry, self.new_upload(repo.key).await?))
    }

    /// How many bytes the upload holds.
    pub async fn upload_status(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        id: &UploadId,
    ) -> Result<u64> {
        let (_, upload) = self
            .upload(caller, None, name, id, "UploadLayerPart")
            .await?;
        Ok(u64::try_from(upload.bytes_received).unwrap_or(0))
    }

    /// Appends a part. With `range` (its first and last byte), the part must start
    /// where the upload ends and be exactly that long. Returns the upload's new size.
    pub async fn append_to_upload<S, E>(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        id: &UploadId,
        range: Option<(u64, u64)>,
        body: S,
    ) -> Result<(Registry, u64)>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (registry, upload) = self
            .upload(caller, registry, name, id, "UploadLayerPart")
            .await?;
        if upload.parts >= MAX_PARTS {
            return Err(Error::TooManyParts { max: MAX_PARTS });
        }
        let expected = part_length(&upload, range)
            .map_err(|problem| misplaced(&registry, name, &upload, problem))?;
        let upload = self
            .append(&registry, name, &upload, body, expected)
            .await?;
        Ok((registry, u64::try_from(upload.bytes_received).unwrap_or(0)))
    }

    /// ECR's completion: every part but the last at least `MIN_PART_SIZE`, the bytes'
    /// digest every one of `digests`, and a layer the repository does not hold yet
    /// (`LayerAlreadyExists` otherwise; the upload is gone either way).
    pub async fn complete_upload(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        id: &UploadId,
        digests: &[Digest],
    ) -> Result<(Registry, Digest)> {
        let (registry, upload) = self
            .upload(caller, registry, name, id, "CompleteLayerUpload")
            .await?;
        let parts_rule = |parts: &[UploadPart]| match parts.split_last() {
            None => Err(Error::EmptyUpload(id.clone())),
            Some((_, inner)) if inner.iter().any(|p| size(p.size) < MIN_PART_SIZE) => {
                Err(Error::LayerPartTooSmall { min: MIN_PART_SIZE })
            }
            Some(_) => Ok(()),
        };
        match self
            .complete(&registry, name, &upload, digests, parts_rule)
            .await?
        {
            Completed::Linked(digest) => Ok((registry, digest)),
            Completed::AlreadyLinked(digest) => Err(Error::LayerAlreadyExists(digest)),
        }
    }

    /// The registry API's completion: appends a last chunk (possibly empty; with `range`, it must
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
        let (registry, upload) = self
            .upload(caller, None, name, id, "CompleteLayerUpload")
            .await?;
        let expected = part_length(&upload, range)
            .map_err(|problem| misplaced(&registry, name, &upload, problem))?;
        let upload = self
            .append(&registry, name, &upload, last_chunk, expected)
            .await?;
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
            Err(e @ Error::LayerDigestMismatch { .. }) => {
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
        let (_, id) = self.start_upload(caller, None, name).await?;
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
        self.upload(caller, None, name, id, "UploadLayerPart")
            .await?;
        self.discard(id).await
    }

    /// Writes `body` into the open upload `id` of `repo` as its one part and completes
    /// it, digest checked; a blob the repository already has is as good.
    pub(super) async fn fill_upload(
        &self,
        repo: &Stored<Repository>,
        id: &UploadId,
        digest: &Digest,
        size: Option<u64>,
        body: std::pin::Pin<Box<dyn futures_util::Stream<Item = std::io::Result<Bytes>> + Send>>,
    ) -> Result<()> {
        let (registry, name) = (&repo.record.registry, &repo.record.name);
        let Some(upload) = self.store().upload(id).await? else {
            return Err(Error::UploadNotFound(id.clone()));
        };
        let upload = self.append(registry, name, &upload, body, size).await?;
        match self
            .complete(
                registry,
                name,
                &upload,
                std::slice::from_ref(digest),
                |_| Ok(()),
            )
            .await
        {
            // Placed meanwhile by another request: as good.
            Ok(_) | Err(Error::LayerAlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Stores `bytes` as a blob of `repo` (one berth makes, such as a signature
    /// envelope) through an upload like any other; nothing is left behind on failure.
    pub(super) async fn put_bytes(
        &self,
        repo: &Stored<Repository>,
        bytes: Vec<u8>,
    ) -> Result<Digest> {
        let mut hasher = Hasher::new(Algorithm::Sha256);
        hasher.update(&bytes);
        let digest = hasher.finish();
        let id = self.new_upload(repo.key).await?;
        let size = bytes.len() as u64;
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))]);
        let filled = self
            .fill_upload(repo, &id, &digest, Some(size), Box::pin(body))
            .await;
        if filled.is_err() {
            if let Err(e) = self.discard(&id).await {
                tracing::warn!(error = ?e, upload = %id, "cannot discard a failed blob upload");
            }
        }
        filled.map(|()| digest)
    }
}
