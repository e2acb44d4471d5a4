//! `/metrics`: requests counted by face, operation, method and status with their
//! latency, body bytes, open uploads, background job runs and the process, read back
//! from the Prometheus text format as a scraper reads it.

use std::time::{Duration, Instant};

use prometheus_parse::{Sample, Value};

use crate::fixtures::{
    batch_get_image, by_tag, describe_image, initiate_upload, push_layer, put_image, Format, Image,
};
use crate::helpers::{
    fresh_postgres_database, spawn_app_with, Backend, TestApp, ECR_TARGET_PREFIX,
};
use crate::oci_client::Registry;
use crate::process::{ServerProcess, ServerState};

const REPO: &str = "metrics/app";

/// One scrape of `/metrics`.
pub(crate) struct Scrape(Vec<Sample>);

/// Scrapes the listener at `url`.
async fn scrape_at(app: &TestApp, url: &str) -> Scrape {
    scrape_with(&app.http, url).await
}

async fn scrape_with(http: &reqwest::Client, url: &str) -> Scrape {
    let resp = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers()["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.expect("body");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Scrape(
        prometheus_parse::Scrape::parse(lines)
            .expect("text format")
            .samples,
    )
}

pub(crate) async fn scrape(app: &TestApp) -> Scrape {
    scrape_at(app, &app.url).await
}

impl Scrape {
    /// The value of the series `name` with exactly `labels`; 0 when it is absent (a
    /// series is exported from its first event on).
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .0
            .iter()
            .filter(|s| {
                s.metric == name
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => panic!("{name} is a histogram or summary; ask for _count"),
            })
            .collect();
        assert!(found.len() <= 1, "{name}{labels:?} names one series");
        found.first().copied().unwrap_or(0.0)
    }

    /// Whether a series `name` is there at all.
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|s| s.metric == name)
    }
}

/// A request series' labels.
fn request(
    face: &'static str,
    operation: &'static str,
    method: &'static str,
    status: &'static str,
) -> [(&'static str, &'static str); 4] {
    [
        ("face", face),
        ("operation", operation),
        ("method", method),
        ("status", status),
    ]
}

/// Pushes an image through the SDK and pulls it on `/v2/`, with a failing call, an
/// action no face has and a route `/v2/` does not have among them: each request is
/// counted once, under its face, operation, method and status, with as many latency
/// observations; the bytes counters grow by at least the bodies sent.
async fn requests_are_counted_by_face_operation_and_status(app: TestApp) {
    let before = scrape(&app).await;
    app.create_repo(REPO).await;
    let image = Image::new(Format::Oci, &[4096, 2048]);
    let image = app.push_blobs(REPO, image).await;
    app.put_ok(REPO, &image.manifest, Some("v1")).await;
    let missing = app
        .ecr
        .describe_repositories()
        .repository_names("metrics/none")
        .send()
        .await;
    assert!(missing.is_err(), "no such repository");
    let unknown = app
        .call(&format!("{ECR_TARGET_PREFIX}.NoSuchAction"), b"{}")
        .await;
    assert_eq!(
        (unknown.status, unknown.error_type()),
        (400, "UnknownOperationException")
    );
    app.ecr_public
        .describe_registries()
        .send()
        .await
        .expect("describe registries");
    let v2 = Registry::login(&app).await;
    let pulled = v2.get(&format!("/v2/{REPO}/manifests/v1")).await;
    pulled.assert_status(200);
    assert_eq!(pulled.body, image.manifest.as_bytes());
    let layer = &image.layers[0];
    let blob = v2
        .get(&format!(
            "/v2/{REPO}/blobs/{}",
            crate::helpers::sha256(layer)
        ))
        .await;
    blob.assert_status(200);
    v2.get("/v2/no/such/endpoint/here").await.assert_status(404);
    let anonymous = Registry::at(&app.public_url, &app, None);
    anonymous.get("/v2/").await.assert_status(401);
    let after = scrape(&app).await;

    let blobs = image.blobs().count() as f64;
    let expected = [
        (request("ecr", "CreateRepository", "POST", "200"), 1.0),
        (request("ecr", "InitiateLayerUpload", "POST", "200"), blobs),
        (request("ecr", "UploadLayerPart", "POST", "200"), blobs),
        (request("ecr", "CompleteLayerUpload", "POST", "200"), blobs),
        (request("ecr", "PutImage", "POST", "200"), 1.0),
        (request("ecr", "DescribeRepositories", "POST", "400"), 1.0),
        (request("ecr", "other", "POST", "400"), 1.0),
        (request("ecr", "GetAuthorizationToken", "POST", "200"), 1.0),
        (
            request("ecr_public", "DescribeRegistries", "POST", "200"),
            1.0,
        ),
        (request("registry", "manifest", "GET", "200"), 1.0),
        (request("registry", "blob", "GET", "200"), 1.0),
        (request("registry", "other", "GET", "404"), 1.0),
        (request("public_registry", "base", "GET", "401"), 1.0),
        // The first scrape; the second is counted after its own answer was rendered.
        (request("berth", "metrics", "GET", "200"), 1.0),
    ];
    for (labels, count) in expected {
        let delta = after.value("berth_requests_total", &labels)
            - before.value("berth_requests_total", &labels);
        assert_eq!(delta, count, "berth_requests_total{labels:?}");
        assert_eq!(
            after.value("berth_request_duration_seconds_count", &labels),
            after.value("berth_requests_total", &labels),
            "one latency observation per request: {labels:?}"
        );
    }
    // Nothing else was asked of the registry face: no series but those above.
    let registry_requests: f64 = after
        .0
        .iter()
        .filter(|s| s.metric == "berth_requests_total" && s.labels.get("face") == Some("registry"))
        .map(|s| match s.value {
            Value::Counter(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(registry_requests, 3.0);

    let grew = |name: &str, face: &'static str| {
        after.value(name, &[("face", face)]) - before.value(name, &[("face", face)])
    };
    let pushed = image.blobs().map(<[u8]>::len).sum::<usize>() + image.manifest.len();
    let received = grew("berth_request_body_bytes_total", "ecr");
    assert!(
        received >= pushed as f64,
        "{received} bytes in for {pushed} pushed"
    );
    let pulled = image.manifest.len() + layer.len();
    let sent = grew("berth_response_body_bytes_total", "registry");
    assert!(
        sent >= pulled as f64,
        "{sent} bytes out for {pulled} pulled"
    );
    assert!(grew("berth_response_body_bytes_total", "ecr") > 0.0);
    // The metrics are the same on the public listener.
    let public = scrape_at(&app, &app.public_url).await;
    let labels = request("ecr", "PutImage", "POST", "200");
    assert_eq!(
        public.value("berth_requests_total", &labels),
        after.value("berth_requests_total", &labels)
    );
}

/// The open upload sessions are counted in the store at each scrape; the process's
/// own numbers and the build are there.
async fn uploads_and_the_process_are_reported(app: TestApp) {
    assert_eq!(scrape(&app).await.value("berth_uploads_open", &[]), 0.0);
    app.create_repo(REPO).await;
    initiate_upload(&app.ecr, REPO).await;
    let v2 = Registry::login(&app).await;
    v2.start_upload(REPO).await;
    assert_eq!(scrape(&app).await.value("berth_uploads_open", &[]), 2.0);
    app.push_blob(REPO, b"a completed upload is no longer open")
        .await;
    let scraped = scrape(&app).await;
    assert_eq!(scraped.value("berth_uploads_open", &[]), 2.0);

    // CPU time is counted in whole seconds: present, if perhaps 0 yet.
    assert!(scraped.has("process_cpu_seconds_total"));
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(scraped.value(name, &[]) > 0.0, "{name}");
    }
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(scraped.value("berth_build_info", &version), 1.0);
    for (name, kinds) in [
        (
            "berth_database_errors_total",
            &["full", "unavailable", "failed"][..],
        ),
        ("berth_blob_store_errors_total", &["full", "failed"][..]),
    ] {
        assert!(scraped.has(name), "{name}");
        for kind in kinds {
            // Counted per process: other cases' faults may be in it, never fewer than none.
            assert!(scraped.value(name, &[("kind", kind)]) >= 0.0);
        }
    }
}

/// Lifecycle, replication and signing run once as the server starts (their next
/// runs are an hour away here); a garbage collection the test runs on the server's
/// own service is counted, and one that another process's lease keeps from running
/// is counted as skipped.
async fn job_runs_are_counted(app: TestApp) {
    let job = |name: &'static str, result: &'static str| [("job", name), ("result", result)];
    for name in ["lifecycle", "replication", "signing"] {
        let mut ran = 0.0;
        for _ in 0..100 {
            ran = scrape(&app)
                .await
                .value("berth_job_runs_total", &job(name, "ok"));
            if ran > 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(ran, 1.0, "{name} ran once at start-up");
    }
    let before = scrape(&app).await;
    assert_eq!(before.value("berth_job_runs_total", &job("gc", "ok")), 0.0);

    let report = app.running.collect_garbage(false).await.expect("collect");
    assert!(report.is_some(), "no other process collects");
    let other = app.service().await;
    let held = other
        .exclusively("gc", app.running.collect_garbage(false))
        .await
        .expect("collect under another's lease");
    assert_eq!(
        held.map(|r| r.is_none()),
        Some(true),
        "the lease is the other's"
    );

    let after = scrape(&app).await;
    assert_eq!(after.value("berth_job_runs_total", &job("gc", "ok")), 1.0);
    assert_eq!(
        after.value("berth_job_runs_total", &job("gc", "skipped")),
        1.0
    );
    assert_eq!(
        after.value("berth_job_runs_total", &job("gc", "error")),
        0.0
    );
    // Only runs that ran are timed.
    let gc = [("job", "gc")];
    assert_eq!(after.value("berth_job_duration_seconds_count", &gc), 1.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let last = after.value("berth_job_last_success_timestamp_seconds", &gc);
    assert!(
        last > 0.0 && last <= now,
        "last success at {last}, now {now}"
    );
}

/// A server whose start-up runs are its only ones: every interval is an hour.
async fn spawn_quiet(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        let hour = Duration::from_secs(3600);
        c.jobs.lifecycle_interval = hour;
        c.jobs.replication_interval = hour;
        c.jobs.signing_interval = hour;
        c.jobs.gc_interval = hour;
    })
    .await
}

crate::both_stores!(
    requests_are_counted_by_face_operation_and_status,
    uploads_and_the_process_are_reported,
);
crate::both_stores!(with super::spawn_quiet: job_runs_are_counted);

/// Pull times are written behind the pulls, gathered: twenty images pulled one after
/// another take one write a second at most (and one more for the DescribeImages that
/// reads them), not one each. A reader of pull times has them written at once: five
/// rounds of a pull and a DescribeImages showing it take far less than the second the
/// writer otherwise gathers for. Counted in a berth process of its own (the counters are
/// the process's).
async fn pull_times_are_written_gathered_and_at_once_for_their_readers(state: ServerState) {
    const GATHERED: usize = 20;
    const READ_BACK: usize = 5;
    let server = ServerProcess::start(&state).await;
    let http = reqwest::Client::new();
    server.create_repo(REPO).await;
    // Distinct images: a pull time is refreshed once a minute at most.
    for i in 0..GATHERED + READ_BACK {
        let image = Image::new(Format::Oci, &[512]);
        for blob in image.blobs() {
            push_layer(&server.ecr, REPO, blob).await;
        }
        put_image(&server.ecr, REPO, &image.manifest, Some(&format!("t{i}")))
            .await
            .expect("put image");
    }
    let writes = |s: &Scrape| {
        (
            s.value("berth_pull_time_writes_total", &[]),
            s.value("berth_pull_times_written_total", &[]),
        )
    };
    let pulled_at = |i: usize| {
        let ecr = &server.ecr;
        async move {
            describe_image(ecr, REPO, by_tag(&format!("t{i}")))
                .await
                .last_recorded_pull_time()
                .cloned()
        }
    };

    let (writes_before, images_before) = writes(&scrape_with(&http, &server.url).await);
    let started = Instant::now();
    for i in 0..GATHERED {
        batch_get_image(&server.ecr, REPO, by_tag(&format!("t{i}"))).await;
    }
    let pulling = started.elapsed();
    for i in 0..GATHERED {
        assert!(pulled_at(i).await.is_some(), "t{i}'s pull is recorded");
    }
    let (writes_after, images_after) = writes(&scrape_with(&http, &server.url).await);
    let written = writes_after - writes_before;
    assert!(
        (1.0..=pulling.as_secs_f64().ceil() + 1.0).contains(&written),
        "{written} writes for {GATHERED} pulls over {pulling:?}"
    );
    assert_eq!(images_after - images_before, GATHERED as f64);

    let started = Instant::now();
    for i in GATHERED..GATHERED + READ_BACK {
        assert_eq!(pulled_at(i).await, None, "t{i} not pulled yet");
        batch_get_image(&server.ecr, REPO, by_tag(&format!("t{i}"))).await;
        assert!(pulled_at(i).await.is_some(), "t{i}'s pull read back");
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{READ_BACK} pulls read back took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_times_are_written_gathered_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    pull_times_are_written_gathered_and_at_once_for_their_readers(ServerState::in_dir(dir.path()))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_times_are_written_gathered_on_postgres() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = ServerState {
        database_url: Some(fresh_postgres_database().await),
        ..ServerState::in_dir(dir.path())
    };
    pull_times_are_written_gathered_and_at_once_for_their_readers(state).await;
}
