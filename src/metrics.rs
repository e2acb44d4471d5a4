//! What an operator watches on `/metrics` (the Prometheus text format): requests by
//! face, operation, method and status with their latency, body bytes, open uploads,
//! store faults, background jobs and the process.
//!
//! Built on the `prometheus` crate rather than the `metrics` facade: each `Metrics`
//! owns its registry (the test suite runs many servers in one process, each scraped
//! on its own, where the facade installs one recorder per process), its label
//! vectors hand out children that are resolved once and kept, and it collects the
//! process's own numbers from /proc.
//!
//! Every label value comes from a fixed set (faces, dispatched action names, route
//! names, methods, status codes, job names), never from a path or a header as sent,
//! so the number of series stays bounded whatever clients send.

use std::future::Future;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime};

use prometheus::core::Collector;
use prometheus::{
    Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Which face a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// ECR's JSON API.
    Ecr,
    /// ECR Public's JSON API.
    EcrPublic,
    /// The private registry's `/v2/` (main listener).
    Registry,
    /// The public registry's `/v2/` and its token endpoint (public listener).
    PublicRegistry,
    /// berth's own URLs: health, readiness, metrics, downloads, logos.
    Berth,
}

impl Face {
    const ALL: [Face; 5] = [
        Face::Ecr,
        Face::EcrPublic,
        Face::Registry,
        Face::PublicRegistry,
        Face::Berth,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Face::Ecr => "ecr",
            Face::EcrPublic => "ecr_public",
            Face::Registry => "registry",
            Face::PublicRegistry => "public_registry",
            Face::Berth => "berth",
        }
    }
}

/// Which store a fault was met in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// No room left.
    Full,
    /// Cannot be reached (a database that is down).
    Unavailable,
    /// Any other failure.
    Failed,
}

impl FaultKind {
    fn label(self) -> &'static str {
        match self {
            FaultKind::Full => "full",
            FaultKind::Unavailable => "unavailable",
            FaultKind::Failed => "failed",
        }
    }
}

/// How a background job's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobResult {
    /// It ran to its end.
    Ok,
    /// Another process was running it (it holds the job's lease), or this one lost
    /// the lease while working.
    Skipped,
    /// It failed; the log has why.
    Failed,
}

impl JobResult {
    fn label(self) -> &'static str {
        match self {
            JobResult::Ok => "ok",
            JobResult::Skipped => "skipped",
            JobResult::Failed => "error",
        }
    }
}

/// Request latencies, from a cached read to a long blob transfer, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Job run times, from an empty queue to a long collection, in seconds.
const JOB_BUCKETS: &[f64] = &[0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0];

/// Store faults are met where the service classifies them (`service::Error`'s
/// conversions from the store's and the blob store's errors), which no service
/// instance reaches: they are counted per process, and every registry in the
/// process reports the same counters (in production there is one).
static DATABASE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    faults(
        "berth_database_errors_total",
        "Faults met in the metadata store (SQLite or Postgres), by kind",
        &[FaultKind::Full, FaultKind::Unavailable, FaultKind::Failed],
    )
});

static BLOB_STORE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    faults(
        "berth_blob_store_errors_total",
        "Faults met in the blob store, by kind",
        &[FaultKind::Full, FaultKind::Failed],
    )
});

static SQLITE_COMMITS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "berth_sqlite_commits_total",
        "Transactions SQLite's writer thread committed (image pushes)",
    )
});

static SQLITE_COMMITTED_WRITES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "berth_sqlite_committed_writes_total",
        "Writes those transactions held: over berth_sqlite_commits_total, how many \
         concurrent pushes shared one commit",
    )
});

static PULL_TIME_WRITES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "berth_pull_time_writes_total",
        "Writes of gathered pull times (DescribeImages' lastRecordedPullTime)",
    )
});

static PULL_TIMES_WRITTEN: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "berth_pull_times_written_total",
        "Images' pull times those writes recorded: over berth_pull_time_writes_total, how \
         many pulled images one write gathered",
    )
});

/// Counts a write of gathered pull times recording `images` images'.
pub fn pull_times_written(images: usize) {
    PULL_TIME_WRITES.inc();
    PULL_TIMES_WRITTEN.inc_by(images as u64);
}

/// Counts a commit of SQLite's writer thread holding `writes` writes.
pub fn sqlite_commit(writes: usize) {
    SQLITE_COMMITS.inc();
    SQLITE_COMMITTED_WRITES.inc_by(writes as u64);
}

/// A fault counter with a series for each kind from the start, so that a rate over
/// it is defined before the first fault.
fn faults(name: &str, help: &str, kinds: &[FaultKind]) -> IntCounterVec {
    let vec = counter_vec(name, help, &["kind"]);
    for kind in kinds {
        vec.with_label_values(&[kind.label()]);
    }
    vec
}

/// Counts a fault met in the metadata store.
pub fn database_fault(kind: FaultKind) {
    DATABASE_ERRORS.with_label_values(&[kind.label()]).inc();
}

/// Counts a fault met in the blob store.
pub fn blob_store_fault(kind: FaultKind) {
    BLOB_STORE_ERRORS.with_label_values(&[kind.label()]).inc();
}

// The names and labels below are fixed at compile time: building them cannot fail.
fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid metric")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric")
}

fn histogram_vec(name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    HistogramVec::new(opts, labels).expect("a valid metric")
}

/// One process's (one application's) metrics and the registry that reports them.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Request and response body bytes, one counter per face, resolved once.
    received: [IntCounter; 5],
    sent: [IntCounter; 5],
    open_uploads: Gauge,
    job_runs: IntCounterVec,
    job_duration: HistogramVec,
    job_last_success: GaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = counter_vec(
            "berth_requests_total",
            "Requests answered, by face, operation (the action on the JSON faces, the route \
             on /v2/), method and status",
            &["face", "operation", "method", "status"],
        );
        let latency = histogram_vec(
            "berth_request_duration_seconds",
            "Time from a request's arrival to its response's head (a blob's bytes stream \
             after), by face, operation, method and status",
            LATENCY_BUCKETS,
            &["face", "operation", "method", "status"],
        );
        let received = counter_vec(
            "berth_request_body_bytes_total",
            "Request body bytes read, by face",
            &["face"],
        );
        let sent = counter_vec(
            "berth_response_body_bytes_total",
            "Response body bytes sent, by face",
            &["face"],
        );
        let open_uploads = Gauge::new(
            "berth_uploads_open",
            "Blob upload sessions open in the store (every process sharing it), not yet \
             completed, cancelled or past the grace; NaN when the store cannot be asked",
        )
        .expect("a valid metric");
        let job_runs = counter_vec(
            "berth_job_runs_total",
            "Background job runs, by job and result (ok, skipped: another process runs it, \
             error)",
            &["job", "result"],
        );
        let job_duration = histogram_vec(
            "berth_job_duration_seconds",
            "How long background job runs that ran took, by job",
            JOB_BUCKETS,
            &["job"],
        );
        let job_last_success = GaugeVec::new(
            Opts::new(
                "berth_job_last_success_timestamp_seconds",
                "When each background job last ran to its end in this process (Unix time)",
            ),
            &["job"],
        )
        .expect("a valid metric");
        let build = IntGaugeVec::new(
            Opts::new("berth_build_info", "berth's version; always 1"),
            &["version"],
        )
        .expect("a valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let by_face = |vec: &IntCounterVec| Face::ALL.map(|f| vec.with_label_values(&[f.label()]));
        #[allow(unused_mut)] // Only Linux adds the process collector.
        let mut collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(received.clone()),
            Box::new(sent.clone()),
            Box::new(open_uploads.clone()),
            Box::new(job_runs.clone()),
            Box::new(job_duration.clone()),
            Box::new(job_last_success.clone()),
            Box::new(build),
            Box::new(DATABASE_ERRORS.clone()),
            Box::new(BLOB_STORE_ERRORS.clone()),
            Box::new(SQLITE_COMMITS.clone()),
            Box::new(SQLITE_COMMITTED_WRITES.clone()),
            Box::new(PULL_TIME_WRITES.clone()),
            Box::new(PULL_TIMES_WRITTEN.clone()),
        ];
        // The standard `process_*` names (CPU, memory, open files, start time), as
        // every exporter reports them and dashboards expect; read from /proc.
        #[cfg(target_os = "linux")]
        collectors.push(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        for collector in collectors {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Self {
            registry,
            received: by_face(&received),
            sent: by_face(&sent),
            requests,
            latency,
            open_uploads,
            job_runs,
            job_duration,
            job_last_success,
        }
    }

    /// The counter of `face`'s request body bytes.
    pub fn received(&self, face: Face) -> &IntCounter {
        &self.received[face as usize]
    }

    /// The counter of `face`'s response body bytes.
    pub fn sent(&self, face: Face) -> &IntCounter {
        &self.sent[face as usize]
    }

    /// Counts one answered request. Every value comes from a fixed set (see the module
    /// documentation); a series is looked up without allocating once it exists.
    pub fn observe_request(
        &self,
        face: Face,
        operation: &str,
        method: &str,
        status: &str,
        took: Duration,
    ) {
        let labels = [face.label(), operation, method, status];
        self.requests.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
    }

    /// Sets the number of open upload sessions; `None` when it could not be found.
    pub fn set_open_uploads(&self, open: Option<u64>) {
        self.open_uploads.set(open.map_or(f64::NAN, |n| n as f64));
    }

    /// Runs a background job's `work`, counting the run by how it ended: `Ok(None)`
    /// is a run another process made instead (`skipped`). A job wraps its work in
    /// this in one line (`Service::exclusively` does it for every leased job).
    pub async fn job<T, E>(
        &self,
        name: &str,
        work: impl Future<Output = Result<Option<T>, E>>,
    ) -> Result<Option<T>, E> {
        let started = Instant::now();
        let outcome = work.await;
        let result = match &outcome {
            Ok(Some(_)) => JobResult::Ok,
            Ok(None) => JobResult::Skipped,
            Err(_) => JobResult::Failed,
        };
        self.job_runs
            .with_label_values(&[name, result.label()])
            .inc();
        if result != JobResult::Skipped {
            self.job_duration
                .with_label_values(&[name])
                .observe(started.elapsed().as_secs_f64());
        }
        if result == JobResult::Ok {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            self.job_last_success
                .with_label_values(&[name])
                .set(now.as_secs_f64());
        }
        outcome
    }

    /// Everything registered, in the text format.
    pub fn render(&self) -> anyhow::Result<String> {
        Ok(TextEncoder::new().encode_to_string(&self.registry.gather())?)
    }
}
