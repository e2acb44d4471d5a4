//! Images as the service and faces see them, and how a request names one.

use std::fmt;

use chrono::{DateTime, Utc};

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
