//! Layer uploads in ECR's style (initiate, parts, complete), availability checks and
//! download URLs.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use bytes::Bytes;

use super::uploads::{misplaced, size, Completed, UPLOAD_TTL};
use super::{now, Caller, Error, Result, Service, MIN_PART_SIZE, PART_SIZE};
use crate::domain::{Digest, Registry, RegistryId, RepositoryName, UploadId, UploadPart};
use crate::service::BlobReader;

/// The most parts one upload may have.
const MAX_PARTS: i64 = 4200;
/// How long a download URL works.
const DOWNLOAD_TTL: Duration = Duration::hours(1);
const DOWNLOAD_PURPOSE: &str = "download";

#[derive(Debug, Clone)]
pub struct LayerAvailability {
    pub digest: Digest,
    pub size: i64,
    /// As an image in the repository describes the layer; none before one does.
    pub media_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LayerFailure {
    pub digest: String,
    /// `InvalidLayerDigest` or `MissingLayerDigest`.
    pub code: &'static str,
    pub reason: String,
}

/// What a download URL grants: one blob of one repository until it expires.
#[derive(Serialize, Deserialize)]
struct DownloadGrant {
    r: i64,
    d: String,
    e: i64,
}

impl Service {
    pub async fn initiate_layer_upload(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
    ) -> Result<(Registry, UploadId, i64)> {
        let registry = self.registry(caller, registry)?;
        let repo = self.repository(&registry, name).await?;
        let id = UploadId::new();
        self.store().create_upload(&id, repo.id, now()).await?;
        Ok((registry, id, PART_SIZE))
    }

    /// Appends one part. Parts must follow each other exactly; returns the last byte
    /// received so far.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_layer_part(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        id: &UploadId,
        first_byte: i64,
        last_byte: i64,
        bytes: Bytes,
    ) -> Result<(Registry, i64)> {
        let (registry, upload) = self.upload(caller, registry, name, id).await?;
        let received = upload.bytes_received;
        let invalid = |message| misplaced(&registry, name, &upload, message);
        let len = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        if first_byte != received {
            return Err(invalid(format!("The part's first byte {first_byte} must follow the last byte received: it should be {received}")));
        }
        // Checked: partLastByte may be i64::MAX.
        let range = last_byte
            .checked_sub(first_byte)
            .and_then(|d| d.checked_add(1));
        if last_byte < first_byte || range != Some(len) {
            return Err(invalid(format!(
                "The part's byte range {first_byte}-{last_byte} does not match the {len} bytes sent"
            )));
        }
        if upload.parts >= MAX_PARTS {
            return Err(Error::LimitExceeded(format!(
                "An upload may have at most {MAX_PARTS} parts"
            )));
        }
        let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(bytes)]);
        self.append(&registry, name, &upload, body, None).await?;
        Ok((registry, last_byte))
    }

    /// Joins the parts, checks the digest and makes the layer part of the repository.
    pub async fn complete_layer_upload(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        id: &UploadId,
        digests: &[Digest],
    ) -> Result<(Registry, Digest)> {
        let (registry, upload) = self.upload(caller, registry, name, id).await?;
        let parts_rule = |parts: &[UploadPart]| match parts.split_last() {
            None => Err(Error::EmptyUpload(id.clone())),
            Some((_, inner)) if inner.iter().any(|p| size(p.size) < MIN_PART_SIZE) => {
                Err(Error::LayerPartTooSmall)
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

    /// Removes uploads past their lifetime and upload bytes no row refers to (left by
    /// a crash or an abandoned session). Returns how many were removed.
    pub async fn sweep_uploads(&self) -> Result<usize> {
        let on_disk = self.blobs().upload_ids().await?;
        let stale = self
            .store()
            .forget_stale_uploads(&on_disk, now() - UPLOAD_TTL)
            .await?;
        for id in &stale {
            self.discard(id).await?;
        }
        Ok(stale.len())
    }

    /// Which layers the repository holds; malformed digests are per-item failures.
    pub async fn batch_check_layer_availability(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        digests: &[String],
    ) -> Result<(Vec<LayerAvailability>, Vec<LayerFailure>)> {
        let registry = self.registry(caller, registry)?;
        let repo = self.repository(&registry, name).await?;
        let (mut layers, mut failures) = (Vec::new(), Vec::new());
        for raw in digests {
            let digest = match Digest::parse(raw) {
                Ok(d) => d,
                Err(e) => {
                    failures.push(LayerFailure {
                        digest: raw.clone(),
                        code: "InvalidLayerDigest",
                        reason: format!("Invalid layer digest: {e}"),
                    });
                    continue;
                }
            };
            match self.store().blob_in_repository(repo.id, &digest).await? {
                Some(size) => {
                    let media_type = self.store().blob_media_type(repo.id, &digest).await?;
                    layers.push(LayerAvailability {
                        digest,
                        size,
                        media_type,
                    })
                }
                None => failures.push(LayerFailure {
                    digest: raw.clone(),
                    code: "MissingLayerDigest",
                    reason: "Requested layer digest is not available in the repository".into(),
                }),
            }
        }
        Ok((layers, failures))
    }

    /// A URL on berth itself that serves the layer without credentials for an hour.
    pub async fn layer_download_url(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<String> {
        let registry = self.registry(caller, registry)?;
        let repo = self.repository(&registry, name).await?;
        if self
            .store()
            .blob_in_repository(repo.id, digest)
            .await?
            .is_none()
        {
            return Err(Error::LayersNotFound(vec![digest.clone()]));
        }
        if !self.store().blob_referenced(repo.id, digest).await? {
            return Err(Error::LayerInaccessible(digest.clone()));
        }
        let grant = DownloadGrant {
            r: repo.id,
            d: digest.to_string(),
            e: (now() + DOWNLOAD_TTL).timestamp(),
        };
        let payload = serde_json::to_vec(&grant).map_err(anyhow::Error::from)?;
        let token = self.inner.signer.seal(DOWNLOAD_PURPOSE, &payload);
        Ok(format!(
            "{}/_berth/download/{token}",
            self.settings().public_url.trim_end_matches('/')
        ))
    }

    /// Opens the blob a download token grants; `None` when the token is forged,
    /// expired, or the blob has left the repository since.
    pub async fn download(&self, token: &str) -> Result<Option<BlobReader>> {
        let Some(grant) = self
            .inner
            .signer
            .open(DOWNLOAD_PURPOSE, token)
            .and_then(|p| serde_json::from_slice::<DownloadGrant>(&p).ok())
        else {
            return Ok(None);
        };
        let Ok(digest) = Digest::parse(&grant.d) else {
            return Ok(None);
        };
        if grant.e < now().timestamp()
            || self
                .store()
                .blob_in_repository(grant.r, &digest)
                .await?
                .is_none()
        {
            return Ok(None);
        }
        Ok(Some(self.blobs().read(&digest).await?))
    }
}
