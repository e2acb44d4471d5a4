//! Liveness and readiness: what each dependency can do right now.

use std::time::{Duration, Instant};

use super::{Error, Service};

/// How long a readiness result is reused. Its checks write and sync, and anyone may
/// ask, so however often they ask the checks run at most once in this time.
const REUSE_READINESS: Duration = Duration::from_secs(1);

/// What a check found for one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Ok,
    /// No room left for bytes.
    Full,
    /// Cannot be reached (a database that is down).
    Unreachable,
    /// Any other failure; the log has its cause.
    Failing,
}

/// Whether berth can serve every request now, dependency by dependency.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    /// The metadata store answers reads.
    pub metadata: Probe,
    /// The metadata store commits a write.
    pub metadata_writes: Probe,
    /// The blob store takes a synced write.
    pub blob_writes: Probe,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        [self.metadata, self.metadata_writes, self.blob_writes] == [Probe::Ok; 3]
    }
}

/// The last readiness result and when it was found.
#[derive(Default)]
pub(super) struct LastReadiness(tokio::sync::Mutex<Option<(Instant, Readiness)>>);

fn probe(checked: Result<(), Error>) -> Probe {
    match checked {
        Ok(()) => Probe::Ok,
        Err(Error::StorageFull) => Probe::Full,
        Err(Error::Unavailable(_)) => Probe::Unreachable,
        Err(e) => {
            tracing::warn!(error = ?e, "readiness check failed");
            Probe::Failing
        }
    }
}

impl Service {
    /// Whether the metadata store answers (liveness: `/healthz`).
    pub async fn healthy(&self) -> bool {
        self.store().ping().await.is_ok()
    }

    /// Whether every dependency can serve reads and writes (`/readyz`), found at most
    /// `REUSE_READINESS` ago; callers that arrive during a check wait for its result.
    pub async fn readiness(&self) -> Readiness {
        let mut last = self.inner.readiness.0.lock().await;
        if let Some((at, readiness)) = *last {
            if at.elapsed() < REUSE_READINESS {
                return readiness;
            }
        }
        let readiness = self.check_readiness().await;
        *last = Some((Instant::now(), readiness));
        readiness
    }

    /// Checks every dependency at once: reads and a committed write on the metadata
    /// store, a synced write on the blob store.
    async fn check_readiness(&self) -> Readiness {
        let (metadata, metadata_writes, blob_writes) = tokio::join!(
            async { self.store().ping().await.map_err(Error::from) },
            async { self.store().probe_write().await.map_err(Error::from) },
            async { self.blobs().probe_write().await.map_err(Error::from) },
        );
        Readiness {
            metadata: probe(metadata),
            metadata_writes: probe(metadata_writes),
            blob_writes: probe(blob_writes),
        }
    }
}
