//! Images as the service and faces see them, and how a request names one.

use std::fmt;

use chrono::{DateTime, Utc};

use super::manifest::{DOCKER_LIST, OCI_INDEX};
use super::{Digest, ImageTag};

/// Which image a request names: by tag, by digest, or by both (the tag must then
/// name that digest). The registry API's references are a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSelector {
    Tag(ImageTag),
    Digest(Digest),
    Both { digest: Digest, tag: ImageTag },
}

impl ImageSelector {
    pub fn tag(&self) -> Option<&ImageTag> {
        match self {
            Self::Tag(tag) | Self::Both { tag, .. } => Some(tag),
            Self::Digest(_) => None,
        }
    }

    pub fn digest(&self) -> Option<&Digest> {
        match self {
            Self::Digest(digest) | Self::Both { digest, .. } => Some(digest),
            Self::Tag(_) => None,
        }
    }
}

impl fmt::Display for ImageSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(tag) => write!(f, "tag {tag}"),
            Self::Digest(digest) => write!(f, "{digest}"),
            Self::Both { digest, tag } => write!(f, "{digest} tagged {tag}"),
        }
    }
}

/// One stored manifest (image or index), without its bytes.
#[derive(Debug, Clone)]
pub struct Image {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    pub size: i64,
    pub pushed_at: DateTime<Utc>,
    pub last_pulled_at: Option<DateTime<Utc>>,
    pub status: ImageStatus,
    pub last_archived_at: Option<DateTime<Utc>>,
    pub last_activated_at: Option<DateTime<Utc>>,
}

/// The config media types of container images; any other config makes an artifact.
const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.config.v1+json",
];

/// Why an image cannot go to archival storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotArchivable {
    /// An image index or manifest list: its platforms' images are archived one by one.
    Index,
    /// A signature, SBOM or other artifact (it has a subject, or a config that is not
    /// an image's): it follows the image it is about.
    Artifact,
    /// One platform's image of an index in the repository: it goes with its index.
    ListedByIndex,
}

impl Image {
    /// Whether a scan can read this image: a single image, not an index or an
    /// artifact (the same kinds archival storage takes).
    pub fn scannable(&self) -> bool {
        self.archivable().is_ok()
    }

    /// Whether this image may be moved to archival storage.
    pub fn archivable(&self) -> Result<(), NotArchivable> {
        if [DOCKER_LIST, OCI_INDEX].contains(&self.media_type.as_str()) {
            return Err(NotArchivable::Index);
        }
        let artifact_config = self
            .artifact_type
            .as_deref()
            .is_some_and(|t| !IMAGE_CONFIGS.contains(&t));
        if self.subject.is_some() || artifact_config {
            return Err(NotArchivable::Artifact);
        }
        Ok(())
    }
}

/// Where an image is kept: pullable, or in archival storage (described and listed,
/// not pullable) until it is restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageStatus {
    Active,
    Archived,
    /// Being restored. berth restores at once, so it records no image in this state;
    /// it exists for the wire and for filters.
    Activating,
}

impl ImageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Archived => "ARCHIVED",
            Self::Activating => "ACTIVATING",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Archived, Self::Activating]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// Where an image's bytes are kept: standard storage (pullable) or the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageClass {
    Standard,
    Archive,
}

/// Which images a listing includes: by whether they are tagged, and by status
/// (`None`: any status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFilter {
    pub tags: TagStatus,
    pub status: Option<ImageStatus>,
}

impl Default for ImageFilter {
    /// ECR's default: every active image.
    fn default() -> Self {
        Self {
            tags: TagStatus::Any,
            status: Some(ImageStatus::Active),
        }
    }
}

/// Which images a listing includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

/// A tag, when it was last set, and its image.
#[derive(Debug, Clone)]
pub struct TagDetail {
    pub tag: ImageTag,
    pub created_at: DateTime<Utc>,
    pub image: Image,
}
