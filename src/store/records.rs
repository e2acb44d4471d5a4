//! What the store hands back: plain data in domain types, never a sqlx row.

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use crate::domain::{
    Descriptor, Digest, ImageTag, Registry, RepositoryName, TagMutability, UploadId,
};

#[derive(Debug, Clone)]
pub struct Repository {
    pub id: i64,
    pub registry: Registry,
    pub name: RepositoryName,
    pub created_at: DateTime<Utc>,
    pub mutability: TagMutability,
    pub scan_on_push: bool,
    pub encryption_type: String,
    pub kms_key: Option<String>,
    /// The repository policy, exactly as it was set.
    pub policy: Option<String>,
    /// ECR Public's catalog data, once set.
    pub catalog: Option<CatalogData>,
    pub has_logo: bool,
}

/// ECR Public's description of a repository for its gallery (the logo is kept apart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogData {
    pub description: Option<String>,
    pub architectures: Vec<String>,
    pub operating_systems: Vec<String>,
    pub about_text: Option<String>,
    pub usage_text: Option<String>,
}

/// The settings a new repository starts with.
#[derive(Debug, Clone)]
pub struct NewRepository {
    pub registry: Registry,
    pub name: RepositoryName,
    pub mutability: TagMutability,
    pub scan_on_push: bool,
    pub encryption_type: String,
    pub kms_key: Option<String>,
    pub tags: Vec<(String, String)>,
    pub catalog: Option<CatalogData>,
    pub logo: Option<Vec<u8>>,
}

/// One stored manifest (image or index), without its bytes.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: i64,
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    pub size: i64,
    pub pushed_at: DateTime<Utc>,
    pub last_pulled_at: Option<DateTime<Utc>>,
}

/// A manifest to register, already parsed and checked by the service.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    pub body: Vec<u8>,
    /// For an image, config plus layers; `None` for an index, sized by its largest child.
    pub size: Option<i64>,
    /// Blobs that must be in the repository, as the manifest describes them.
    pub blobs: Vec<Descriptor>,
    /// Manifests that must be in the repository (an index's children).
    pub children: Vec<Digest>,
}

/// Where a tag goes in `put_image`, and whether an existing one may move.
#[derive(Debug, Clone)]
pub struct TagWrite {
    pub tag: ImageTag,
    pub immutable: bool,
}

/// Which images a listing includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

/// One ListImages entry: an image under one of its tags, or untagged.
#[derive(Debug, Clone)]
pub struct ImageListing {
    pub image_id: i64,
    pub digest: Digest,
    pub tag: Option<ImageTag>,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: UploadId,
    pub repository_id: i64,
    pub bytes_received: i64,
    /// How many parts are recorded.
    pub parts: i64,
    pub created_at: DateTime<Utc>,
}

/// What deleting by tag or digest removed.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub digest: Digest,
    pub tags: Vec<ImageTag>,
}
