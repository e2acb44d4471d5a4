//! Background jobs that must run in one process at a time across every process
//! sharing the store (lifecycle runs, garbage collection): each holds a lease on its
//! name while it works.

use std::future::Future;
use std::time::Duration;

use super::{now, Result, Service};

/// How many times queued work (a copy, a signature) that meets a fault is tried
/// before it is FAILED.
pub(super) const MAX_ATTEMPTS: i64 = 5;
/// The wait after a first failed attempt; it doubles with each one after.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);

/// The wait before attempt `attempts + 1` of queued work.
pub(super) fn backoff(attempts: i64) -> chrono::Duration {
    let factor = 1u32 << attempts.clamp(1, 10).saturating_sub(1);
    chrono::Duration::from_std(FIRST_BACKOFF * factor).unwrap_or(chrono::Duration::MAX)
}

/// How long a lease lasts unless renewed: a process that dies mid-job holds the job
/// up at most this long.
const LEASE: Duration = Duration::from_secs(60);

impl Service {
    /// Runs `work` unless another process is running the job `name`; `None` when it
    /// is, or when this process lost the lease while working (the work is dropped
    /// then: jobs change state in transactions, so stopping between two is safe).
    /// Each run is counted in the metrics (`berth_job_runs_total` and the rest).
    pub async fn exclusively<T>(
        &self,
        name: &str,
        work: impl Future<Output = Result<T>>,
    ) -> Result<Option<T>> {
        self.metrics().job(name, self.leased(name, work)).await
    }

    async fn leased<T>(
        &self,
        name: &str,
        work: impl Future<Output = Result<T>>,
    ) -> Result<Option<T>> {
        let holder = self.instance();
        if !self.renew_lease(name).await? {
            return Ok(None);
        }
        let outcome = {
            let renewals = async {
                let mut every = tokio::time::interval(LEASE / 3);
                every.tick().await;
                loop {
                    every.tick().await;
                    match self.renew_lease(name).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        // Unreachable store: the work's own writes fail too; keep
                        // trying until the lease runs out.
                        Err(e) => {
                            tracing::warn!(job = name, error = ?e, "could not renew a job's lease")
                        }
                    }
                }
            };
            tokio::select! {
                done = work => done.map(Some),
                () = renewals => {
                    tracing::warn!(job = name, "lost the job's lease; stopped");
                    Ok(None)
                }
            }
        };
        if let Err(e) = self.store().release_lease(name, holder).await {
            tracing::warn!(job = name, error = ?e, "could not release a job's lease");
        }
        outcome
    }

    async fn renew_lease(&self, name: &str) -> Result<bool> {
        let now = now();
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        Ok(self
            .store()
            .acquire_lease(name, self.instance(), now, until)
            .await?)
    }
}
