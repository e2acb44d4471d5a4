//! An upload's parts, as the blob store writes them and the metadata store records
//! them.

use super::PartId;

/// One part of an upload: bytes written and synced by the one request that held the
/// upload, never written again once recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPart {
    /// Names the part's own object where parts are objects (S3).
    pub id: PartId,
    pub size: u64,
}
