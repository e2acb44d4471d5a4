//! Garbage collection, while pushes go on: upload sessions older than the grace, links
//! older than the grace that no image of their repository uses, blob rows nothing
//! links or references, and then the files of blobs without a row.
//!
//! A blob's row and its file change only under the blob's lock in the store: the row
//! is deleted first and the file removed in a later transaction that finds no row,
//! so a crash anywhere leaves at worst a file without a row, which the next run
//! removes once it is older than the grace. Uploads place their file and commit their
//! row under the same lock; PutImage reads the links it needs `FOR SHARE`, which a
//! link's removal waits for (see `Store::drop_link`).

use std::time::SystemTime;

use super::{now, Result, Service};
use crate::store::Link;

/// How many candidates one query reads.
const BATCH: i64 = 500;

/// What a collection removed (or, dry, would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Upload sessions past the grace, and upload areas without a session.
    pub uploads: usize,
    /// Repository links to blobs no image of the repository uses.
    pub links: usize,
    /// Blobs removed: their rows, then their files.
    pub blobs: usize,
    /// Blob files without a row (left by a crash), older than the grace.
    pub unrecorded: usize,
    /// The bytes of both.
    pub bytes: u64,
}

impl Service {
    /// Collects garbage once, in this process only if no other is collecting (the
    /// `gc` lease); `None` when another is. A dry run changes nothing and needs no
    /// lease: it counts what a run would remove now.
    pub async fn collect_garbage(&self, dry_run: bool) -> Result<Option<GcReport>> {
        if dry_run {
            return self.gc_pass(true).await.map(Some);
        }
        self.exclusively("gc", self.gc_pass(false)).await
    }

    async fn gc_pass(&self, dry_run: bool) -> Result<GcReport> {
        let started = now();
        let before = started
            .checked_sub_signed(self.gc_grace())
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let settled = SystemTime::from(before);
        let mut report = GcReport::default();
        self.collect_uploads(before, dry_run, &mut report).await?;
        self.collect_links(before, dry_run, &mut report).await?;
        self.collect_blobs(before, dry_run, &mut report).await?;
        self.collect_unrecorded(settled, dry_run, &mut report)
            .await?;
        tracing::info!(
            dry_run,
            uploads = report.uploads,
            links = report.links,
            blobs = report.blobs,
            unrecorded = report.unrecorded,
            bytes = report.bytes,
            took_ms = (now() - started).num_milliseconds(),
            "garbage collection"
        );
        Ok(report)
    }

    /// Sessions started before the grace, and upload areas no session owns (a crash
    /// between a completion's rows and its clean-up, a repository deleted mid-upload).
    async fn collect_uploads(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        dry_run: bool,
        report: &mut GcReport,
    ) -> Result<()> {
        let mut after = None;
        loop {
            let stale = self
                .store()
                .stale_uploads(before, after.as_ref(), BATCH)
                .await?;
            for id in &stale {
                if !dry_run {
                    self.discard(id).await?;
                }
                report.uploads += 1;
            }
            match stale.last() {
                Some(last) if stale.len() as i64 == BATCH => after = Some(last.clone()),
                _ => break,
            }
        }
        let on_disk = self.blobs().upload_ids().await?;
        for id in self.store().unknown_uploads(&on_disk).await? {
            if !dry_run {
                self.blobs().discard_upload(&id).await?;
            }
            report.uploads += 1;
        }
        Ok(())
    }

    async fn collect_links(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        dry_run: bool,
        report: &mut GcReport,
    ) -> Result<()> {
        let mut after: Option<Link> = None;
        loop {
            let links = self
                .store()
                .unused_links(before, after.as_ref(), BATCH)
                .await?;
            for link in &links {
                if dry_run || self.store().drop_link(link, before).await? {
                    report.links += 1;
                }
            }
            match links.last() {
                Some(last) if links.len() as i64 == BATCH => after = Some(last.clone()),
                _ => break,
            }
        }
        Ok(())
    }

    /// Blobs nothing references any more: the row goes, then the file.
    async fn collect_blobs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        dry_run: bool,
        report: &mut GcReport,
    ) -> Result<()> {
        let mut after = None;
        loop {
            let blobs = self
                .store()
                .unreferenced_blobs(before, after.as_ref(), BATCH)
                .await?;
            for (digest, size) in &blobs {
                let size = if dry_run {
                    Some(*size)
                } else {
                    self.store().drop_blob(digest).await?
                };
                let Some(size) = size else { continue };
                report.blobs += 1;
                report.bytes += u64::try_from(size).unwrap_or(0);
                if !dry_run {
                    let blobs = self.blobs();
                    self.store()
                        .remove_unrecorded(digest, || async move {
                            Ok::<_, super::Error>(blobs.remove_blob(digest, None).await?)
                        })
                        .await?;
                }
            }
            match blobs.last() {
                Some((last, _)) if blobs.len() as i64 == BATCH => after = Some(last.clone()),
                _ => break,
            }
        }
        Ok(())
    }

    /// Blob files without a row: left by a crash between a blob's row and its file,
    /// or an upload's placing and its row. Removed once older than the grace.
    async fn collect_unrecorded(
        &self,
        settled: SystemTime,
        dry_run: bool,
        report: &mut GcReport,
    ) -> Result<()> {
        for shelf in self.blobs().shelves().await? {
            let on_shelf = self.blobs().digests_on(&shelf).await?;
            let recorded = self.store().recorded_blobs(&on_shelf).await?;
            for digest in on_shelf.iter().filter(|d| !recorded.contains(*d)) {
                let removed = if dry_run {
                    self.blobs().settled(digest, Some(settled)).await?
                } else {
                    let blobs = self.blobs();
                    self.store()
                        .remove_unrecorded(digest, || async move {
                            Ok::<_, super::Error>(blobs.remove_blob(digest, Some(settled)).await?)
                        })
                        .await?
                        .flatten()
                };
                if let Some(size) = removed {
                    report.unrecorded += 1;
                    report.bytes += size;
                }
            }
        }
        Ok(())
    }
}
