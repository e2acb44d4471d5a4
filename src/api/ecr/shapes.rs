//! Wire shapes several ECR actions share. Absent members are left out, timestamps are
//! epoch seconds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::awsjson::Ctx;
use crate::domain::{ImageSelector, Repository};
use crate::service::{parse_image_id, ImageFailure, StoredImage};

pub fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIdentifier {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
}

impl ImageIdentifier {
    pub fn selector(&self) -> Result<ImageSelector, ImageFailure> {
        parse_image_id(self.image_digest.as_deref(), self.image_tag.as_deref())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageFailureOut {
    pub image_id: ImageIdentifier,
    pub failure_code: &'static str,
    pub failure_reason: String,
}

impl From<ImageFailure> for ImageFailureOut {
    fn from(f: ImageFailure) -> Self {
        let (failure_code, failure_reason) = super::error::image_failure(&f);
        Self {
            image_id: ImageIdentifier {
                image_digest: f.digest,
                image_tag: f.tag,
            },
            failure_code,
            failure_reason,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExclusionFilter {
    pub filter_type: String,
    pub filter: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanningConfiguration {
    #[serde(default)]
    pub scan_on_push: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionConfiguration {
    pub encryption_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryOut {
    repository_arn: String,
    registry_id: String,
    repository_name: String,
    repository_uri: String,
    created_at: f64,
    image_tag_mutability: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
    image_scanning_configuration: ScanningConfiguration,
    encryption_configuration: EncryptionConfiguration,
}

pub fn exclusion_filters(repo: &Repository) -> Vec<ExclusionFilter> {
    repo.mutability
        .filters()
        .iter()
        .map(|f| ExclusionFilter {
            filter_type: "WILDCARD".into(),
            filter: f.as_str().to_owned(),
        })
        .collect()
}

impl RepositoryOut {
    pub fn new(ctx: &Ctx, repo: &Repository) -> Self {
        Self {
            repository_arn: repo.arn(),
            registry_id: repo.registry.to_string(),
            repository_name: repo.name.to_string(),
            repository_uri: ctx.service.repository_uri(repo),
            created_at: epoch(repo.created_at),
            image_tag_mutability: repo.mutability.mode(),
            image_tag_mutability_exclusion_filters: exclusion_filters(repo),
            image_scanning_configuration: ScanningConfiguration {
                scan_on_push: repo.scan_on_push,
            },
            encryption_configuration: EncryptionConfiguration {
                encryption_type: repo.encryption_type.clone(),
                kms_key: repo.kms_key.clone(),
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageOut {
    registry_id: String,
    repository_name: String,
    image_id: ImageIdentifier,
    image_manifest: String,
    image_manifest_media_type: String,
}

impl From<StoredImage> for ImageOut {
    fn from(i: StoredImage) -> Self {
        Self {
            registry_id: i.registry.to_string(),
            repository_name: i.name.to_string(),
            image_id: ImageIdentifier {
                image_digest: Some(i.digest.to_string()),
                image_tag: i.tag.map(|t| t.to_string()),
            },
            // Manifests arrive as JSON strings, so their bytes are UTF-8.
            image_manifest: String::from_utf8_lossy(&i.manifest).into_owned(),
            image_manifest_media_type: i.media_type,
        }
    }
}
