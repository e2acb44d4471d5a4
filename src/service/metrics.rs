//! What `/metrics` reports: the service's metrics, with what only the store knows
//! filled in at each scrape.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{now, Error, Service};
use crate::metrics::Metrics;

impl Service {
    /// The metrics every face, job and fault of this service counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Every metric in the text format, the open uploads counted in the store now
    /// (those started within the grace: older ones can no longer be used).
    pub async fn render_metrics(&self) -> anyhow::Result<String> {
        let since = now()
            .checked_sub_signed(self.gc_grace())
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        // Through the service's error, so that a fault met here is counted too.
        let open = self
            .store()
            .count_uploads_since(since)
            .await
            .map_err(Error::from);
        if let Err(e) = &open {
            tracing::warn!(error = ?e, "cannot count open uploads for /metrics");
        }
        self.metrics().set_open_uploads(open.ok());
        self.metrics().render()
    }
}
