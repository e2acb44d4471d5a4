//! The vulnerability database scans match against: an OSV directory
//! (`BERTH_VULN_DB`), loaded when first needed and loaded again when its files change
//! (any file's name, size or modification time), so an operator refreshes it by
//! replacing files, without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use crate::scan::VulnDb;

/// A loaded database.
#[derive(Debug)]
pub struct LoadedDb {
    pub db: VulnDb,
    /// When its newest file was written: ECR's `vulnerabilitySourceUpdatedAt`.
    pub updated_at: DateTime<Utc>,
    stamp: Stamp,
}

/// What a reload compares: every file's path, size and modification time.
type Stamp = Vec<(PathBuf, u64, SystemTime)>;

#[derive(Debug, Default)]
pub struct VulnDbCache {
    dir: Option<PathBuf>,
    current: tokio::sync::Mutex<Option<Arc<LoadedDb>>>,
}

/// The directory cannot be read, or a file in it is not OSV JSON.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct VulnDbError(pub String);

impl VulnDbCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            current: Default::default(),
        }
    }

    /// The database as its directory holds it now; `None` when none is configured.
    pub async fn current(&self) -> Result<Option<Arc<LoadedDb>>, VulnDbError> {
        let Some(dir) = self.dir.clone() else {
            return Ok(None);
        };
        let mut current = self.current.lock().await;
        let seen = current.as_ref().map(|db| db.stamp.clone());
        let reloaded = tokio::task::spawn_blocking(move || reload(&dir, seen))
            .await
            .map_err(|e| VulnDbError(format!("loading the vulnerability database: {e}")))??;
        if let Some(loaded) = reloaded {
            tracing::info!(
                advisories = loaded.db.len(),
                fingerprint = %loaded.db.fingerprint(),
                "loaded the vulnerability database"
            );
            *current = Some(Arc::new(loaded));
        }
        Ok(current.clone())
    }
}

/// The database in `dir`, unless its files are still those `seen` stamps.
fn reload(dir: &Path, seen: Option<Stamp>) -> Result<Option<LoadedDb>, VulnDbError> {
    let stamp = stamp(dir).map_err(|e| {
        VulnDbError(format!(
            "the vulnerability database {} cannot be read: {e}",
            dir.display()
        ))
    })?;
    if seen.as_ref() == Some(&stamp) {
        return Ok(None);
    }
    let db = VulnDb::load(dir).map_err(|e| VulnDbError(e.to_string()))?;
    let updated_at = stamp
        .iter()
        .map(|(_, _, modified)| *modified)
        .max()
        .map_or_else(Utc::now, DateTime::<Utc>::from);
    Ok(Some(LoadedDb {
        db,
        updated_at,
        stamp,
    }))
}

/// Every file under `dir`, with its size and modification time, in path order.
fn stamp(dir: &Path) -> std::io::Result<Stamp> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                out.push((entry.path(), meta.len(), meta.modified()?));
            }
        }
    }
    out.sort();
    Ok(out)
}
