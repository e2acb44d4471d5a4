//! The readiness probe of the filesystem blob store.

use std::io;

use tokio::fs::{self, File};
use tokio::io::AsyncWriteExt;

use super::FileStore;

/// A page: on a full disk even this does not fit.
const PROBE_BYTES: usize = 4096;

impl FileStore {
    /// Writes, syncs and removes a small file in the root: whether the blob store can
    /// take bytes now. (The root, not `uploads/`, whose files are all uploads.)
    pub async fn probe_write(&self) -> io::Result<()> {
        let path = self
            .root
            .join(format!(".probe-{}", uuid::Uuid::new_v4().simple()));
        let mut file = File::create(&path).await?;
        let written = async {
            file.write_all(&[0; PROBE_BYTES]).await?;
            file.sync_data().await
        }
        .await;
        drop(file);
        let removed = fs::remove_file(&path).await;
        written.and(removed)
    }
}
