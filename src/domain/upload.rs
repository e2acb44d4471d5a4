//! An upload's parts, as the blob store writes them and the metadata store records
//! them.

use super::{Digest, PartId};

/// One part of an upload: a file in the upload's area, written and synced by the one
/// request that created it, never written again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPart {
    pub id: PartId,
    pub size: u64,
    /// The sha256 of the part's bytes, computed as they were written.
    pub sha256: Digest,
}
