//! `berth check`: proves that the bytes behind every digest are still what the digest
//! names, by reading every blob back, and that every reference between rows has its
//! target; with `--repair`, removes what is dangling.

use super::{Error, Result};
use crate::blob::BlobStore;
use crate::domain::Digest;
use crate::store::{Dangling, Store};

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

/// How many records or files one step reads.
const BATCH: i64 = 500;

/// Re-hashes every blob file and compares it with its name and its record: the
/// records in batches, then the files a directory at a time, so memory stays bounded.
/// It may run beside a serving (and collecting) berth: a record whose file is not
/// found is looked at again under the blob's lock, where a collection in progress
/// cannot be half done.
pub async fn check_blobs(store: &Store, blobs: &BlobStore) -> Result<BlobCheck> {
    let mut report = BlobCheck::default();
    let mut after = None;
    loop {
        let recorded = store.blobs_after(after.as_ref(), BATCH).await?;
        for (digest, size) in &recorded {
            if blobs.settled(digest, None).await?.is_none() {
                let look = || async { Ok::<_, Error>(blobs.settled(digest, None).await?) };
                // Otherwise placed again, or collected, meanwhile.
                if let Some(None) = store.while_recorded(digest, look).await? {
                    report.missing.push(digest.clone());
                }
                continue;
            }
            check_one(blobs, digest.clone(), Some(*size), &mut report).await?;
        }
        match recorded.last() {
            Some((last, _)) if recorded.len() as i64 == BATCH => after = Some(last.clone()),
            _ => break,
        }
    }
    for shelf in blobs.shelves().await? {
        let on_shelf = blobs.digests_on(&shelf).await?;
        let recorded = store.recorded_blobs(&on_shelf).await?;
        for digest in on_shelf.into_iter().filter(|d| !recorded.contains(d)) {
            report.unrecorded.push(digest.clone());
            check_one(blobs, digest, None, &mut report).await?;
        }
    }
    Ok(report)
}

async fn check_one(
    blobs: &BlobStore,
    digest: Digest,
    recorded_size: Option<i64>,
    report: &mut BlobCheck,
) -> Result<()> {
    let (actual, size) = match blobs.rehash(&digest).await {
        Ok(found) => found,
        // Collected while it was being read (its record went first).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
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

/// What `berth check` found wrong with the references between rows.
#[derive(Debug, Default)]
pub struct ReferenceCheck {
    /// Links to blobs with no row.
    pub dangling_links: Vec<Dangling>,
    /// Blobs that manifests list and that have no row.
    pub dangling_references: Vec<Dangling>,
    /// Blobs that manifests list whose row has no file (`BlobCheck::missing`).
    pub unreadable_references: Vec<Dangling>,
    /// Child manifests of an index that its repository does not hold.
    pub missing_children: Vec<Dangling>,
}

impl ReferenceCheck {
    pub fn is_sound(&self) -> bool {
        self.dangling_links.is_empty()
            && self.dangling_references.is_empty()
            && self.unreadable_references.is_empty()
            && self.missing_children.is_empty()
    }
}

/// Checks that every link's and every manifest reference's blob has a row, names the
/// images that list a blob whose row has no file (`missing`, found by `check_blobs`),
/// and checks that every index's children are in its repository.
pub async fn check_references(store: &Store, missing: &[Digest]) -> Result<ReferenceCheck> {
    let mut unreadable_references = Vec::new();
    for digest in missing {
        unreadable_references.extend(store.images_listing(digest).await?);
    }
    Ok(ReferenceCheck {
        dangling_links: store.dangling_links().await?,
        dangling_references: store.dangling_references().await?,
        unreadable_references,
        missing_children: store.missing_children().await?,
    })
}

/// What `berth check --repair` removed.
#[derive(Debug, Default)]
pub struct Repaired {
    /// Blob rows whose file was gone, removed with their links (images that list
    /// them stay, and are reported).
    pub forgotten: Vec<Digest>,
    /// Links removed: those of the forgotten blobs, and those whose blob had no row.
    pub links: u64,
    /// Blob files without a row, removed.
    pub unrecorded: Vec<Digest>,
}

/// Removes what is dangling: rows of blobs whose file is gone (and their links), links
/// to blobs without a row, and blob files without a row. Each under the blob's lock,
/// checking again that the file is still gone, or that there is still no row: a file
/// that has a row is never removed, and neither is an image.
pub async fn repair(
    store: &Store,
    blobs: &BlobStore,
    found: &BlobCheck,
    references: &ReferenceCheck,
) -> Result<Repaired> {
    let mut repaired = Repaired::default();
    for digest in &found.missing {
        let gone = || async move { Ok::<_, Error>(blobs.settled(digest, None).await?.is_none()) };
        if let Some(links) = store.forget_blob(digest, gone).await? {
            repaired.links += links;
            repaired.forgotten.push(digest.clone());
        }
    }
    if !references.dangling_links.is_empty() {
        repaired.links += store.drop_dangling_links().await?;
    }
    for digest in &found.unrecorded {
        let remove = || async move { Ok::<_, Error>(blobs.remove_blob(digest, None).await?) };
        if let Some(Some(_)) = store.remove_unrecorded(digest, remove).await? {
            repaired.unrecorded.push(digest.clone());
        }
    }
    Ok(repaired)
}
