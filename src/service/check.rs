//! `berth check`: proves that the bytes behind every digest are still what the digest
//! names, by reading every blob back.

use std::collections::BTreeSet;

use super::Result;
use crate::blob::BlobStore;
use crate::domain::Digest;
use crate::store::Store;

/// What reading every blob back found.
#[derive(Debug, Default)]
pub struct BlobCheck {
    /// Blobs whose bytes hash to their digest and have their recorded size.
    pub verified: usize,
    /// Blobs whose bytes do not, with what was found instead.
    pub corrupt: Vec<(Digest, String)>,
    /// Recorded blobs with no bytes.
    pub missing: Vec<Digest>,
    /// Blob files no record names (left by a crash or a delete), verified too.
    pub unrecorded: Vec<Digest>,
}

impl BlobCheck {
    pub fn is_sound(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty()
    }
}

/// Re-hashes every blob file and compares it with its name and its record.
pub async fn check_blobs(store: &Store, blobs: &BlobStore) -> Result<BlobCheck> {
    let recorded = store.all_blobs().await?;
    let mut on_disk: BTreeSet<Digest> = blobs.digests().await?.into_iter().collect();
    let mut report = BlobCheck::default();
    for (digest, size) in recorded {
        if !on_disk.remove(&digest) {
            report.missing.push(digest);
            continue;
        }
        check_one(blobs, digest, Some(size), &mut report).await?;
    }
    for digest in on_disk {
        report.unrecorded.push(digest.clone());
        check_one(blobs, digest, None, &mut report).await?;
    }
    Ok(report)
}

async fn check_one(
    blobs: &BlobStore,
    digest: Digest,
    recorded_size: Option<i64>,
    report: &mut BlobCheck,
) -> Result<()> {
    let (actual, size) = blobs.rehash(&digest).await?;
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    match recorded_size {
        _ if actual != digest => report
            .corrupt
            .push((digest, format!("the bytes hash to {actual}"))),
        Some(recorded) if recorded != size => report.corrupt.push((
            digest,
            format!("{size} bytes where {recorded} are recorded"),
        )),
        _ => report.verified += 1,
    }
    Ok(())
}
