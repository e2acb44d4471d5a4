//! Faults of the metadata store: a full disk (SQLite's data dir, Postgres's tablespace on
//! a small tmpfs) and a Postgres outage. Each costs only the requests made during it:
//! writes fail with a typed error, reads keep working, readiness says which dependency
//! is down, and service resumes when the fault ends, without a restart.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use base64::Engine as _;

use crate::fixtures::{
    assert_code, batch_get_image, by_digest, by_tag, describe_image, random_bytes,
};
use crate::helpers::{self, Backend, TestApp};
use crate::metrics::scrape;
use crate::oci_client::login;
use crate::postgres_server::PostgresServer;
use crate::small_disk::SmallDisk;

const MIB: u64 = 1024 * 1024;
const REPO: &str = "faults/app";

/// How long a request may take to fail while the database is down, and how soon after
/// a fault ends requests must succeed again (berth waits at most 3 s for a connection).
const PROMPTLY: Duration = Duration::from_secs(10);

/// Asserts an ECR call failed with a typed `ServerException` of `status` whose message
/// contains `says`.
#[track_caller]
fn assert_server_exception<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
    says: &str,
) {
    let err = assert_code(result, "ServerException", "the call fails");
    let SdkError::ServiceError(service) = &err else {
        panic!("a service error, got {err:?}");
    };
    assert_eq!(service.raw().status().as_u16(), status, "{err:?}");
    let message = service.err().message().unwrap_or_default();
    assert!(message.contains(says), "message {message:?} says {says:?}");
}

/// A `/v2/` call: status and body.
async fn registry(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    auth: &str,
    manifest: Option<&str>,
) -> (u16, String) {
    let mut req = http.request(method, url).header("authorization", auth);
    if let Some(body) = manifest {
        req = req
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body.to_owned());
    }
    let resp = req.send().await.expect("registry request");
    (
        resp.status().as_u16(),
        resp.text().await.expect("registry body"),
    )
}

/// `GET <url>/readyz`: status and body.
async fn readyz(http: &reqwest::Client, url: &str) -> (u16, String) {
    get(http, format!("{url}/readyz")).await
}

/// Waits until `<url>/readyz` answers 200 (it reuses a result for up to a second).
async fn ready_again(http: &reqwest::Client, url: &str) {
    let started = Instant::now();
    loop {
        let (status, body) = readyz(http, url).await;
        if status == 200 {
            return;
        }
        assert!(started.elapsed() < PROMPTLY, "not ready again: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET url`: status and body.
async fn get(http: &reqwest::Client, url: String) -> (u16, String) {
    let resp = http.get(url).send().await.expect("GET");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

/// A manifest too large to fit in space left over in the store's pages (Postgres
/// keeps its annotation out of line, in new pages), over blobs already pushed.
fn big_manifest(manifest: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(manifest).expect("manifest");
    let noise = random_bytes(96 * 1024);
    value["annotations"] = serde_json::json!({
        "noise": base64::engine::general_purpose::STANDARD.encode(noise),
    });
    value.to_string()
}

// ---------------------------------------------------------------------------
// A full disk
// ---------------------------------------------------------------------------

/// SQLite with its data dir on a small disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk() {
    let Some(disk) = SmallDisk::mount(32 * MIB) else {
        return;
    };
    let data_dir = tempfile::tempdir_in(disk.path()).expect("data dir");
    let app = helpers::spawn_app_on(Backend::Sqlite, data_dir, None, |_| {}).await;
    full_disk(&app, &disk).await;
}

/// Postgres with berth's database in a tablespace on a small disk (its WAL stays on
/// the large one, as a disk-full tablespace is the case Postgres survives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_full_disk() {
    let Some(disk) = SmallDisk::mount(32 * MIB) else {
        return;
    };
    let postgres = PostgresServer::start().await;
    let url = postgres.database_on(disk.path()).await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let app = helpers::spawn_app_on(Backend::Postgres, data_dir, Some(url), |_| {}).await;
    full_disk(&app, &disk).await;
}

async fn full_disk(app: &TestApp, disk: &SmallDisk) {
    app.create_repo(REPO).await;
    let (_, pulled) = app.push_image(REPO, Some("v1"), 1).await;
    let (fetched_manifest, fetched) = app.push_image(REPO, Some("v2"), 1).await;
    let pending = big_manifest(&app.image_manifest(REPO, 1).await);
    let auth = login(app).await;
    let manifest_url = |tag: &str| format!("{}/v2/{REPO}/manifests/{tag}", app.url);
    let put_pending = || {
        let url = manifest_url("pending");
        registry(&app.http, reqwest::Method::PUT, url, &auth, Some(&pending))
    };
    let get_v2 = || {
        registry(
            &app.http,
            reqwest::Method::GET,
            manifest_url("v2"),
            &auth,
            None,
        )
    };

    let full = [("kind", "full")];
    let faults_before = scrape(app)
        .await
        .value("berth_database_errors_total", &full);
    disk.fill(0);

    // Writes fail with the typed error, from the first to the last.
    let mut made = 0;
    let first_failure = loop {
        let out = app
            .ecr
            .create_repository()
            .repository_name(format!("faults/filler-{made}"))
            .send()
            .await;
        match out {
            Ok(_) => made += 1,
            Err(e) => break e,
        }
        assert!(made < 20_000, "writes never failed on a full disk");
    };
    assert_server_exception(Err::<(), _>(first_failure), 507, "storage is full");
    for attempt in 0..3 {
        let out = app
            .ecr
            .create_repository()
            .repository_name(format!("faults/again-{attempt}"))
            .send()
            .await;
        assert_server_exception(out, 507, "storage is full");
    }
    let (status, body) = put_pending().await;
    assert_eq!(status, 507, "{body}");
    assert!(body.contains("\"UNAVAILABLE\""), "{body}");
    // Each refused write met the full store at least once (the counter is the
    // process's, which other cases may add to, never take from).
    let faults = scrape(app)
        .await
        .value("berth_database_errors_total", &full);
    assert!(faults >= faults_before + 5.0, "{faults_before} -> {faults}");

    // Reads keep working, pull times or not.
    let got = batch_get_image(&app.ecr, REPO, by_tag("v1")).await;
    assert_eq!(got.failures(), [], "no failures");
    let image_id = got.images()[0].image_id().expect("image id");
    assert_eq!(image_id.image_digest(), Some(pulled.as_str()));
    let (status, body) = get_v2().await;
    assert_eq!(status, 200, "GET manifest on a full disk: {body}");
    assert_eq!(body, fetched_manifest);

    // Readiness says the metadata store cannot write; liveness keeps its contract.
    if app.backend == Backend::Sqlite {
        let (status, body) = readyz(&app.http, &app.url).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body.contains("metadata store writes: full"),
            "readyz names the full store: {body}"
        );
    }
    let (status, body) = app.healthz().await;
    assert_eq!(status, 200, "{body}");

    disk.free();

    // Writes work again, on the same server.
    app.create_repo("faults/after").await;
    let (status, body) = put_pending().await;
    assert_eq!(status, 201, "PUT manifest after space is freed: {body}");
    ready_again(&app.http, &app.url).await;
    let (status, _) = get_v2().await;
    assert_eq!(status, 200);
    let described = describe_image(&app.ecr, REPO, by_digest(&fetched)).await;
    assert!(
        described.last_recorded_pull_time().is_some(),
        "the pull after the disk was freed is recorded"
    );
}

// ---------------------------------------------------------------------------
// A Postgres outage
// ---------------------------------------------------------------------------

/// What one request of the background traffic saw.
#[derive(Debug)]
enum Seen {
    Ok,
    /// The typed 503 a client may retry.
    Unavailable,
    Other(String),
}

/// Requests of every kind in a loop until `stop`, each bounded by `PROMPTLY`.
async fn traffic(
    app: &TestApp,
    auth: &str,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let manifest_url = format!("{}/v2/{REPO}/manifests/v1", app.url);
    for round in 0.. {
        if *stop.borrow() {
            break;
        }
        let started = Instant::now();
        let outcome = match round % 3 {
            0 => sdk_outcome(
                app.ecr
                    .batch_get_image()
                    .repository_name(REPO)
                    .image_ids(by_tag("v1"))
                    .send()
                    .await,
            ),
            1 => sdk_outcome(
                app.ecr
                    .create_repository()
                    .repository_name(format!("faults/traffic-{round}"))
                    .send()
                    .await,
            ),
            _ => match registry(
                &app.http,
                reqwest::Method::GET,
                manifest_url.clone(),
                auth,
                None,
            )
            .await
            {
                (200, _) => Seen::Ok,
                (503, body) if body.contains("\"UNAVAILABLE\"") => Seen::Unavailable,
                (status, body) => Seen::Other(format!("{status} {body}")),
            },
        };
        let took = started.elapsed();
        if took > PROMPTLY {
            seen.push(Seen::Other(format!("took {took:?}: {outcome:?}")));
        } else {
            seen.push(outcome);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

/// Awaits `f`, which must finish within `PROMPTLY`.
async fn promptly<F: std::future::Future>(f: F) -> F::Output {
    let started = Instant::now();
    let out = f.await;
    let took = started.elapsed();
    assert!(took < PROMPTLY, "took {took:?}");
    out
}

fn sdk_outcome<T, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Seen {
    match result {
        Ok(_) => Seen::Ok,
        Err(SdkError::ServiceError(e))
            if e.raw().status().as_u16() == 503 && e.err().code() == Some("ServerException") =>
        {
            Seen::Unavailable
        }
        Err(e) => Seen::Other(format!("{e:?}")),
    }
}

/// Postgres stopped and started again under traffic: requests made while it is down
/// fail within seconds with a typed 503, readiness names the database, and requests
/// succeed again within seconds of its return, on the same server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_and_recovers() {
    let postgres = PostgresServer::start().await;
    let url = postgres.database().await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let app = helpers::spawn_app_on(Backend::Postgres, data_dir, Some(url), |_| {}).await;
    app.create_repo(REPO).await;
    app.push_image(REPO, Some("v1"), 1).await;
    let pending = app.image_manifest(REPO, 1).await;
    let auth = login(&app).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);

    let (seen, ()) = tokio::join!(traffic(&app, &auth, &stopped), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        postgres.stop().await;

        // Each kind of request fails promptly with the typed 503, in rounds: the pool's
        // connections die with the server, then requests find none to use.
        for _ in 0..3 {
            let put = app
                .ecr
                .put_image()
                .repository_name(REPO)
                .image_tag("down")
                .image_manifest(&pending)
                .send();
            let get = registry(
                &app.http,
                reqwest::Method::GET,
                format!("{}/v2/{REPO}/manifests/v1", app.url),
                &auth,
                None,
            );
            let (described, put, (status, body), ready, public_ready) = tokio::join!(
                promptly(app.ecr.describe_repositories().send()),
                promptly(put),
                promptly(get),
                promptly(readyz(&app.http, &app.url)),
                promptly(readyz(&app.http, &app.public_url)),
            );
            assert_server_exception(described, 503, "unavailable");
            assert_server_exception(put, 503, "unavailable");
            let unreachable = [("kind", "unavailable")];
            let faults = scrape(&app)
                .await
                .value("berth_database_errors_total", &unreachable);
            assert!(faults >= 2.0, "the refused requests are counted: {faults}");
            assert_eq!(status, 503, "{body}");
            assert!(body.contains("\"UNAVAILABLE\""), "{body}");
            for (status, body) in [ready, public_ready] {
                assert_eq!(status, 503, "{body}");
                assert!(
                    body.contains("metadata store: unreachable"),
                    "readyz names the database: {body}"
                );
                assert!(body.contains("blob store writes: ok"), "{body}");
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }

        postgres.start_again().await;
        let back = Instant::now();
        let mut attempt = 0;
        while app.ecr.describe_repositories().send().await.is_err() {
            attempt += 1;
            assert!(
                back.elapsed() < PROMPTLY,
                "not back after {attempt} attempts"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for url in [&app.url, &app.public_url] {
            ready_again(&app.http, url).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.send(true).expect("stop traffic");
    });

    let unexpected: Vec<&String> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Other(what) => Some(what),
            _ => None,
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected outcomes: {unexpected:#?}"
    );
    let failed = seen
        .iter()
        .filter(|s| matches!(s, Seen::Unavailable))
        .count();
    assert!(failed > 0, "the traffic saw the outage: {seen:?}");
    assert!(
        matches!(seen.last(), Some(Seen::Ok)),
        "the traffic recovered: {seen:?}"
    );
}

/// With its database unreachable at start-up, berth stops with a message naming it
/// rather than serving requests it cannot answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_without_postgres_fails_clearly() {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/berth",
        crate::process::free_port()
    );
    let data_dir = tempfile::tempdir().expect("data dir");
    let started = Instant::now();
    let err = match berth::startup::Application::build(helpers::config(Some(url), data_dir.path()))
        .await
    {
        Ok(_) => panic!("berth started without its database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(started.elapsed() < PROMPTLY, "took {:?}", started.elapsed());
    assert!(err.contains("cannot connect to the database"), "{err}");
}

/// A push refused inside its transaction (the immutable tag is taken) leaves no
/// transaction open on Postgres: the rollback of the dropped transaction reaches the
/// server at once, not with the connection's next use (until then a session idle in a
/// transaction would hold the locks it took), and the connection serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_refused_mid_transaction_leaves_no_transaction_open() {
    use aws_sdk_ecr::types::ImageTagMutability;
    use sqlx::Connection as _;

    let app = helpers::spawn_app(Backend::Postgres).await;
    app.ecr
        .create_repository()
        .repository_name(REPO)
        .image_tag_mutability(ImageTagMutability::Immutable)
        .send()
        .await
        .expect("create repository");
    app.push_image(REPO, Some("v1"), 1).await;
    let database = app.database_url.clone().expect("a Postgres app");
    let mut observer = sqlx::PgConnection::connect(&database)
        .await
        .expect("connect");

    for round in 0..3 {
        let other = app.image_manifest(REPO, 1).await;
        let refused = crate::fixtures::put_image(&app.ecr, REPO, &other, Some("v1")).await;
        assert_code(
            refused,
            "ImageTagAlreadyExistsException",
            "the tag is immutable",
        );
        let started = Instant::now();
        loop {
            let open: Vec<(String,)> = sqlx::query_as(
                "SELECT query FROM pg_stat_activity \
                 WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            )
            .fetch_all(&mut observer)
            .await
            .expect("sessions");
            if open.is_empty() {
                break;
            }
            assert!(
                started.elapsed() < PROMPTLY,
                "round {round}: sessions left in a transaction: {open:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        app.put_ok(REPO, &other, Some(&format!("r{round}"))).await;
    }
}
