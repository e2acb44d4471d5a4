//! How a request names an image.

use std::fmt;

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
