//! Layers as ECR shows them: availability checks and download URLs. (Uploads are
//! `uploads.rs`'s, for both faces.)

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::error::{LayerFailure, LayerProblem};
use super::{now, Caller, Error, Result, Service};
use crate::domain::{Digest, RegistryId, Repository, RepositoryName};
use crate::service::BlobReader;
use crate::store::Key;

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

/// What a download URL grants: one blob of one repository until it expires.
#[derive(Serialize, Deserialize)]
struct DownloadGrant {
    r: Key<Repository>,
    d: String,
    e: i64,
}

impl Service {
    /// Which layers the repository holds; malformed digests are per-item failures.
    pub async fn batch_check_layer_availability(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        digests: &[String],
    ) -> Result<(Vec<LayerAvailability>, Vec<LayerFailure>)> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "BatchCheckLayerAvailability")
            .await?;
        let (mut layers, mut failures) = (Vec::new(), Vec::new());
        for raw in digests {
            let digest = match Digest::parse(raw) {
                Ok(d) => d,
                Err(e) => {
                    failures.push(LayerFailure {
                        digest: raw.clone(),
                        problem: LayerProblem::InvalidDigest(e.to_string()),
                    });
                    continue;
                }
            };
            match self.linked_blob(repo.key, &digest).await? {
                Some(size) => {
                    let media_type = self.store().blob_media_type(repo.key, &digest).await?;
                    layers.push(LayerAvailability {
                        digest,
                        size,
                        media_type,
                    })
                }
                None => failures.push(LayerFailure {
                    digest: raw.clone(),
                    problem: LayerProblem::Missing,
                }),
            }
        }
        Ok((layers, failures))
    }

    /// A URL on berth itself (the download listener when it runs) that serves the layer
    /// without credentials for an hour.
    pub async fn layer_download_url(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<String> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "GetDownloadUrlForLayer")
            .await?;
        if self
            .store()
            .blob_in_repository(repo.key, digest)
            .await?
            .is_none()
        {
            return Err(Error::LayersNotFound(vec![digest.clone()]));
        }
        if !self.store().blob_referenced(repo.key, digest).await? {
            return Err(Error::LayerInaccessible(digest.clone()));
        }
        let base = match &self.settings().download_url {
            Some(url) => url.clone(),
            None => self.registry_url(&repo.record.registry),
        };
        Ok(self.download_link(&base, repo.key, digest))
    }

    /// `base`'s download URL for the blob in the repository: its token, sealed, is the
    /// only credential it needs, for an hour.
    pub(super) fn download_link(
        &self,
        base: &str,
        repository: Key<Repository>,
        digest: &Digest,
    ) -> String {
        let grant = DownloadGrant {
            r: repository,
            d: digest.to_string(),
            e: (now() + DOWNLOAD_TTL).timestamp(),
        };
        let token = self.sealer().seal_json(DOWNLOAD_PURPOSE, &grant);
        format!("{}/_berth/download/{token}", base.trim_end_matches('/'))
    }

    /// Opens the blob a download token grants; `None` when the token is forged,
    /// expired, or the blob has left the repository since.
    pub async fn download(&self, token: &str) -> Result<Option<BlobReader>> {
        let Some(grant) = self
            .sealer()
            .open_json::<DownloadGrant>(DOWNLOAD_PURPOSE, token)
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
        match self.blobs().read(&digest).await {
            Ok(reader) => Ok(Some(reader)),
            // Collected since the link was read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
