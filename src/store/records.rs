//! What the store hands back: plain data in domain types, never a sqlx row.

use chrono::{DateTime, Utc};

use super::{Key, Stored};
use crate::domain::lifecycle::PreviewResult;
use crate::domain::{
    CatalogData, Descriptor, Destination, Digest, Image, ImageTag, Registry, Repository,
    RepositoryName, RunningSha256, ScanType, SigningProfileArn, TagMutability, UploadId,
};

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
    /// The repository policy and lifecycle policy, as their texts (a template's).
    pub policy: Option<String>,
    pub lifecycle_policy: Option<String>,
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
    pub presence: Presence,
}

/// Whether a new image's blobs and children must already be in its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// A push: every reference is there, or the put is refused.
    Required,
    /// An image cached from a pull-through upstream: its references are recorded, and
    /// each arrives from the upstream when a client first pulls it. The repository is
    /// marked as a cache (which `berth check` knows to hold such images).
    Deferred,
}

/// Where a tag goes in `put_image`, and whether an existing one may move.
#[derive(Debug, Clone)]
pub struct TagWrite {
    pub tag: ImageTag,
    pub immutable: bool,
}

/// The work a push queues in its own transaction, when it changes anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Queued<'a> {
    /// Where the image is copied.
    pub replicate_to: &'a [Destination],
    /// The profiles that sign it.
    pub sign_with: &'a [SigningProfileArn],
    /// The scan it gets on push, if any.
    pub scan: Option<ScanType>,
}

/// One ListImages entry: an image under one of its tags, or untagged.
#[derive(Debug, Clone)]
pub struct ImageListing {
    pub image: Key<Image>,
    pub digest: Digest,
    pub tag: Option<ImageTag>,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: UploadId,
    pub repository: Key<Repository>,
    pub bytes_received: i64,
    /// The sha256 of the bytes received, to be continued by the next part.
    pub sha256: RunningSha256,
    /// How many parts are recorded.
    pub parts: i64,
    /// A completion has begun: no part may be added.
    pub sealed: bool,
    pub created_at: DateTime<Utc>,
}

/// What deleting by tag or digest removed.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub digest: Digest,
    pub tags: Vec<ImageTag>,
}

/// An image as a lifecycle run or preview sees it: with its tags and the indexes of
/// the same repository that list it.
#[derive(Debug, Clone)]
pub struct LifecycleImage {
    pub key: Key<Image>,
    pub image: Image,
    pub tags: Vec<ImageTag>,
    pub listed_by: Vec<Digest>,
}

/// A repository's latest lifecycle preview.
#[derive(Debug, Clone)]
pub struct StoredPreview {
    pub policy_text: String,
    pub created_at: DateTime<Utc>,
    pub results: Vec<PreviewResult>,
}

/// An image found by its repository's name, with the policies that govern a pull of it.
#[derive(Debug, Clone)]
pub struct NamedManifest {
    pub image: Stored<Image>,
    pub body: Vec<u8>,
    pub repository_policy: Option<String>,
    pub registry_policy: Option<String>,
    /// When the image's tag was last checked against a pull-through upstream; `None`
    /// for a digest, or a tag the upstream did not place.
    pub upstream_checked_at: Option<chrono::DateTime<chrono::Utc>>,
}
