//! Spawns the real server on port 0 against a fresh store, and drives it with the
//! official AWS SDK for Rust or signed raw HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::config::{BehaviorVersion, Region};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use berth::config::{Config, StoreConfig};
use berth::startup::Application;
use sha2::{Digest as _, Sha256};
use sqlx::Connection;
use tempfile::TempDir;

pub const ACCESS_KEY: &str = "AKIDBERTHTEST";
pub const SECRET_KEY: &str = "berth-test-secret";
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";
pub const ALIAS: &str = "berth-test";
/// The `X-Amz-Target` prefix of ECR's actions.
pub const ECR_TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921";
/// The content type of AWS JSON 1.1 requests and answers.
pub const JSON_11: &str = "application/x-amz-json-1.1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The Postgres the suite runs against: `BERTH_TEST_POSTGRES_URL`, else the local
/// server. There is no skip: a missing Postgres fails the Postgres half of the suite.
pub fn postgres_admin_url() -> String {
    std::env::var("BERTH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

static CLEANED: AtomicBool = AtomicBool::new(false);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A name for a test's own database, `berth_test_<created>_<run>_<id>`: its creation
/// time lets a later run drop it after two hours, and the run's mark
/// (`BERTH_TEST_RUN`, set by tests/run.sh) lets tests/run.sh drop the run's databases
/// as it ends.
pub fn test_database_name() -> String {
    let run: String = std::env::var("BERTH_TEST_RUN")
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("berth_test_{}_{run}_{}", unix_now(), &id[..16])
}

/// A fresh, empty database for one test.
pub async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("BERTH_TEST_POSTGRES_URL must reach Postgres");
    let now = unix_now();
    if !CLEANED.swap(true, Ordering::SeqCst) {
        // Databases left by earlier runs: names carry their creation time, and only
        // those over two hours old go, so suites running side by side are safe.
        let all: Vec<(String,)> =
            sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'berth\\_test\\_%'")
                .fetch_all(&mut conn)
                .await
                .expect("list databases");
        for (name,) in all {
            let created = name.split('_').nth(2).and_then(|t| t.parse::<u64>().ok());
            if created.is_some_and(|t| t > 1_000_000_000 && t + 7200 < now) {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
    let name = test_database_name();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_owned();
    format!("{base}/{name}")
}

pub struct TestApp {
    pub url: String,
    pub port: u16,
    /// The public registry's `/v2/` listener.
    pub public_url: String,
    pub ecr: aws_sdk_ecr::Client,
    pub ecr_public: aws_sdk_ecrpublic::Client,
    pub http: reqwest::Client,
    pub backend: Backend,
    pub data_dir: TempDir,
    pub database_url: Option<String>,
    /// The service the server itself runs (its metrics, its jobs); `service()` makes
    /// another over the same store, as another process would have.
    pub running: berth::service::Service,
}

pub fn config(backend_url: Option<String>, data_dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".into(),
        store: StoreConfig {
            data_dir: data_dir.to_owned(),
            database_url: backend_url,
            database_timeout: berth::config::DATABASE_TIMEOUT,
            region: berth::domain::Region::parse(REGION).expect("region"),
            blob_store: None,
        },
        account_id: berth::domain::RegistryId::parse(ACCOUNT).expect("account"),
        public_url: None,
        public_listen: "127.0.0.1:0".into(),
        public_registry_url: None,
        public_alias: berth::domain::RegistryAlias::parse(ALIAS).expect("alias"),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        workers: Some(2),
        credentials_file: None,
        secrets_file: None,
        pull_through_ttl: berth::config::PULL_THROUGH_TTL,
        replication_remotes: None,
        signing_dir: None,
        vuln_db: None,
        blob_redirect: false,
        download_listen: None,
        download_url: None,
        // The test clients never retry, so a pooled connection the server closes as idle
        // just as a client reuses it (under load, past the default 5 s) would fail a test
        // that is about something else. The servers started as processes (the ingress
        // and crash tests) keep the default.
        limits: berth::config::Limits {
            idle_timeout: 60,
            ..berth::config::Limits::DEFAULT
        },
        jobs: berth::config::Jobs::DEFAULT,
    }
}

/// A connection to the app's SQLite database holding its write lock (`BEGIN IMMEDIATE`)
/// until `COMMIT` is sent on it; the server's writes wait meanwhile.
pub async fn sqlite_write_lock(app: &TestApp) -> sqlx::SqliteConnection {
    let database = app.data_dir.path().join("berth.db");
    let mut lock = sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display()))
        .await
        .expect("open the database");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .expect("take the write lock");
    lock
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    spawn_app_on(backend, data_dir, database_url, adjust).await
}

/// Serves from a store that already exists (a restart, an upgrade).
pub async fn spawn_app_on(
    backend: Backend,
    data_dir: TempDir,
    database_url: Option<String>,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    if std::env::var_os("RUST_LOG").is_some() {
        berth::telemetry::init();
    }
    let mut config = config(database_url.clone(), data_dir.path());
    adjust(&mut config);
    let app = Application::build(config).await.expect("app builds");
    let (port, public_port) = (app.port(), app.public_port());
    let running = app.service().clone();
    tokio::spawn(app.run_until_stopped());
    let url = format!("http://127.0.0.1:{port}");
    TestApp {
        ecr: ecr_client(&url, ACCESS_KEY, SECRET_KEY),
        ecr_public: ecr_public_client(&url, ACCESS_KEY, SECRET_KEY),
        public_url: format!("http://127.0.0.1:{public_port}"),
        http: reqwest::Client::new(),
        url,
        port,
        backend,
        data_dir,
        database_url,
        running,
    }
}

pub fn ecr_client(url: &str, key: &str, secret: &str) -> aws_sdk_ecr::Client {
    ecr_client_in(url, key, secret, REGION)
}

/// An ECR client signing for `region`.
pub fn ecr_client_in(url: &str, key: &str, secret: &str, region: &str) -> aws_sdk_ecr::Client {
    let config = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(key, secret, None, None, "berth-tests"))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_ecr::Client::from_conf(config)
}

pub fn ecr_public_client(url: &str, key: &str, secret: &str) -> aws_sdk_ecrpublic::Client {
    let config = aws_sdk_ecrpublic::Config::builder()
        .behavior_version(aws_sdk_ecrpublic::config::BehaviorVersion::latest())
        .region(aws_sdk_ecrpublic::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(key, secret, None, None, "berth-tests"))
        .retry_config(aws_sdk_ecrpublic::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ecrpublic::Client::from_conf(config)
}

/// The password inside an authorization token, `base64("AWS:<password>")`.
pub fn token_password(token: &str) -> String {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .expect("base64");
    let decoded = String::from_utf8(decoded).expect("utf-8");
    decoded.strip_prefix("AWS:").expect("AWS user").to_owned()
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A wire response: status, headers and the parsed JSON body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn error_type(&self) -> &str {
        self.body["__type"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// `GET /healthz`: status and body.
    pub async fn healthz(&self) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}/healthz", self.url))
            .send()
            .await
            .expect("healthz");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    /// Sends a raw JSON 1.1 call, signed with the test credentials.
    pub async fn call(&self, target: &str, body: &[u8]) -> Reply {
        self.call_signed(target, body, ACCESS_KEY, SECRET_KEY, "ecr")
            .await
    }

    /// Sends ECR's `action` with a JSON body, signed with the test credentials.
    pub async fn call_json(&self, action: &str, body: serde_json::Value) -> Reply {
        let target = format!("{ECR_TARGET_PREFIX}.{action}");
        self.call(&target, body.to_string().as_bytes()).await
    }

    pub async fn call_signed(
        &self,
        target: &str,
        body: &[u8],
        key: &str,
        secret: &str,
        service: &str,
    ) -> Reply {
        let headers = sign_headers(&self.url, self.port, target, body, key, secret, service);
        let mut req = self.http.post(format!("{}/", self.url)).body(body.to_vec());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        reply(req.send().await.expect("request")).await
    }

    /// Sends a raw call with exactly the given headers (no signing).
    pub async fn call_unsigned(&self, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut req = self.http.post(format!("{}/", self.url)).body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        reply(req.send().await.expect("request")).await
    }
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
    });
    Reply {
        status,
        headers,
        body,
    }
}

/// SigV4 headers for `POST /` as the SDKs sign it, signed now.
pub fn sign_headers(
    _url: &str,
    port: u16,
    target: &str,
    body: &[u8],
    key: &str,
    secret: &str,
    service: &str,
) -> Vec<(String, String)> {
    let headers = [("content-type", JSON_11), ("x-amz-target", target)];
    sign_at(
        port,
        &headers,
        body,
        (key, secret, service),
        SystemTime::now(),
    )
}

/// SigV4 headers for `POST /` carrying `headers` (host is added and signed), as the
/// SDK signer produces them at `time`.
pub fn sign_at(
    port: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    (key, secret, service): (&str, &str, &str),
    time: SystemTime,
) -> Vec<(String, String)> {
    let host = format!("127.0.0.1:{port}");
    let mut base: Vec<(String, String)> = vec![("host".into(), host.clone())];
    base.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let identity = Credentials::new(key, secret, None, None, "berth-tests").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let url = format!("http://{host}/");
    let signable = SignableRequest::new(
        "POST",
        &url,
        base.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut out: Vec<(String, String)> = base.into_iter().filter(|(k, _)| k != "host").collect();
    for (k, v) in instructions.headers() {
        out.push((k.to_owned(), v.to_owned()));
    }
    out
}

/// Runs each named `async fn(TestApp)` against SQLite and against Postgres; with
/// `with <spawn>:` first, on apps that `spawn(Backend)` starts (written as seen from
/// inside each test's module, e.g. `super::spawn`).
#[macro_export]
macro_rules! both_stores {
    (with $spawn:path: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($spawn($crate::helpers::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($spawn($crate::helpers::Backend::Postgres).await).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {
        $crate::both_stores!(with $crate::helpers::spawn_app: $($name),*);
    };
}

/// Runs each named `async fn(TestApp)` once, on the embedded store: for behaviour that
/// lives in front of the store (protocol layers, authentication), where a second run
/// on Postgres would test nothing new.
#[macro_export]
macro_rules! one_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await).await
            }
        }
    )*};
}

/// Runs each named `async fn(Backend)` on SQLite and on Postgres: for cases that start
/// their own servers (more than one, or again over the same store).
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}
