//! Settings: flags, then environment (`BERTH_*`, `DATABASE_URL`), then the
//! configuration file (`config_file`), then defaults; and the checks a configuration
//! passes before `berth serve` starts with it (`Config::check`, also `berth config
//! check`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::auth::{AccessKey, Credentials};
use crate::blob::BlobLocation;
use crate::domain::{Principal, Region, RegistryAlias, RegistryId};
use crate::replication_remotes::RemoteDestinations;

/// The default `--pull-through-ttl`: ECR re-checks a cached tag every 24 hours.
pub const PULL_THROUGH_TTL: Duration = Duration::from_secs(24 * 3600);

/// The default `--database-timeout`, in seconds.
pub const DATABASE_TIMEOUT: u64 = 3;

/// Where the metadata lives.
#[derive(Debug, Clone, Args)]
pub struct StoreConfig {
    /// Directory for the embedded SQLite database and the blobs.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "./berth-data")]
    pub data_dir: PathBuf,
    /// Postgres URL (`postgres://...`); without it berth uses SQLite in the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Seconds a request waits for a Postgres connection before it fails with 503: while
    /// Postgres is down, requests fail this fast.
    #[arg(long, env = "BERTH_DATABASE_TIMEOUT", default_value_t = DATABASE_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub database_timeout: u64,
    /// The default region: where the registry API serves requests whose host and
    /// credential name none, and where data from before berth had regions is kept.
    #[arg(long, env = "BERTH_REGION", default_value = "us-east-1", value_parser = parse_region)]
    pub region: Region,
    /// Where blob bytes live: `file:///path`, or `s3://bucket/prefix` with the standard
    /// AWS settings (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...).
    /// Default: the data dir.
    #[arg(long, env = "BERTH_BLOB_STORE", value_parser = BlobLocation::parse)]
    pub blob_store: Option<BlobLocation>,
}

impl StoreConfig {
    /// The blob store's location: the configured one, or the data dir.
    pub fn blob_location(&self) -> BlobLocation {
        self.blob_store
            .clone()
            .unwrap_or_else(|| BlobLocation::Dir(self.data_dir.clone()))
    }
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:5000")]
    pub listen: String,
    #[command(flatten)]
    pub store: StoreConfig,
    /// The 12-digit account id of the configured credential pair, of anonymous callers,
    /// and of credentials file lines that name none.
    #[arg(long, env = "BERTH_ACCOUNT_ID", default_value = "000000000000", value_parser = parse_account)]
    pub account_id: RegistryId,
    /// The URL clients reach berth at (repository URIs, proxy endpoint, download
    /// URLs); defaults to http://<listen address>.
    #[arg(long, env = "BERTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Address the public registry's `/v2/` listens on: ECR Public's registry has its
    /// own host, so it has its own listener.
    #[arg(long, env = "BERTH_PUBLIC_LISTEN", default_value = "127.0.0.1:5001")]
    pub public_listen: String,
    /// The URL clients reach the public registry at (public repository URIs); defaults
    /// to http://<public listen address>.
    #[arg(long, env = "BERTH_PUBLIC_REGISTRY_URL")]
    pub public_registry_url: Option<String>,
    /// The public registry's alias: public repositories are `<host>/<alias>/<name>`.
    #[arg(long, env = "BERTH_PUBLIC_ALIAS", default_value = "berth", value_parser = parse_alias)]
    pub public_alias: RegistryAlias,
    /// Access key id of the one configured credential pair.
    #[arg(long, env = "BERTH_ACCESS_KEY_ID", requires = "secret_access_key")]
    pub access_key_id: Option<String>,
    /// Its secret.
    #[arg(
        long,
        env = "BERTH_SECRET_ACCESS_KEY",
        requires = "access_key_id",
        hide_env_values = true
    )]
    pub secret_access_key: Option<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "BERTH_WORKERS")]
    pub workers: Option<usize>,
    /// A file of further credentials, a line each: `ACCESS_KEY_ID SECRET [ACCOUNT_ID
    /// [PRINCIPAL_ARN]]` (without an account, the configured one; without an ARN, the
    /// account's root).
    #[arg(long, env = "BERTH_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,
    /// A JSON file of pull through cache rules' upstream credentials: a secret's ARN
    /// or name → `{"username": "...", "accessToken": "..."}`. Read when a rule needs
    /// it, so edits apply without a restart.
    #[arg(long, env = "BERTH_SECRETS_FILE")]
    pub secrets_file: Option<PathBuf>,
    /// How long a tag cached through a pull-through cache rule is served before its
    /// upstream is asked again whether it moved (ECR: 24 hours).
    #[arg(long, env = "BERTH_PULL_THROUGH_TTL", default_value = "24h", value_parser = parse_duration)]
    pub pull_through_ttl: Duration,
    /// A JSON file mapping replication destinations (registry id, optionally region)
    /// to remote registries, with their credentials: copies to those are pushed over
    /// the registry protocol (README: "Replication to another registry").
    #[arg(long, env = "BERTH_REPLICATION_REMOTES")]
    pub replication_remotes: Option<PathBuf>,
    /// The directory of managed signing's key material: a signing profile
    /// `arn:aws:signer:<region>:<account>:/signing-profiles/<name>` signs with
    /// `<name>.key` (a PKCS#8 PEM private key, ECDSA P-256 or RSA) and `<name>.crt`
    /// (its PEM certificate chain, its own certificate first). Read at each signing.
    #[arg(long, env = "BERTH_SIGNING_DIR")]
    pub signing_dir: Option<PathBuf>,
    /// Answer a blob GET with a redirect, so the bytes do not pass through berth's HTTP
    /// workers: to a presigned URL of its object (an s3:// blob store), or to the
    /// download listener (`download_listen`).
    #[arg(long, env = "BERTH_BLOB_REDIRECT")]
    pub blob_redirect: bool,
    /// Address of the download listener, off unless set: it serves download URLs
    /// (GetDownloadUrlForLayer's, and with `blob_redirect` the registry API's blob
    /// GETs), sending a blob file's bytes to the socket with sendfile.
    #[arg(long, env = "BERTH_DOWNLOAD_LISTEN")]
    pub download_listen: Option<String>,
    /// The URL clients reach the download listener at; defaults to http://<download
    /// listen address>.
    #[arg(long, env = "BERTH_DOWNLOAD_URL")]
    pub download_url: Option<String>,
    /// The vulnerability database image scans match against: a directory of OSV JSON
    /// files (one advisory or a list of them per file, in any subdirectories). Loaded
    /// again whenever its files change. None: scans inventory packages and report no
    /// findings.
    #[arg(long, env = "BERTH_VULN_DB")]
    pub vuln_db: Option<PathBuf>,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub jobs: Jobs,
}

/// When the background jobs run. Durations are written like `30s`, `15m` or `1h`.
#[derive(Debug, Clone, Args)]
pub struct Jobs {
    /// How often lifecycle policies are applied (ECR promises within 24 hours).
    #[arg(long, env = "BERTH_LIFECYCLE_INTERVAL", default_value = "1h", value_parser = parse_duration)]
    pub lifecycle_interval: Duration,
    /// How often queued replication copies are made (and failed ones retried).
    #[arg(long, env = "BERTH_REPLICATION_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub replication_interval: Duration,
    /// How often queued image signatures are made (and failed ones retried).
    #[arg(long, env = "BERTH_SIGNING_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub signing_interval: Duration,
    /// How often queued image scans are made, and continuously scanned repositories
    /// checked for images the current vulnerability database has not seen.
    #[arg(long, env = "BERTH_SCAN_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub scan_interval: Duration,
    /// How many images are scanned at once.
    #[arg(long, env = "BERTH_SCAN_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub scan_concurrency: u16,
    /// How often garbage collection runs.
    #[arg(long, env = "BERTH_GC_INTERVAL", default_value = "1h", value_parser = parse_duration)]
    pub gc_interval: Duration,
    /// How long a blob nothing references yet is kept: the time a push has between
    /// uploading a layer and putting the image that uses it.
    #[arg(long, env = "BERTH_GC_GRACE", default_value = "24h", value_parser = parse_duration)]
    pub gc_grace: Duration,
}

/// `berth gc`: one collection over the store.
#[derive(Debug, Clone, Args)]
pub struct GcConfig {
    #[command(flatten)]
    pub store: StoreConfig,
    /// How long a link no image uses, and an upload, are kept (as `berth serve`'s).
    #[arg(long, env = "BERTH_GC_GRACE", default_value = "24h", value_parser = parse_duration)]
    pub gc_grace: Duration,
    /// Count what a collection would remove, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `berth check`.
#[derive(Debug, Clone, Args)]
pub struct CheckConfig {
    #[command(flatten)]
    pub store: StoreConfig,
    /// Remove what is dangling: blob rows whose file is gone (with their links),
    /// links whose blob row is gone, and blob files without a row. Never a file that
    /// has a row, never an image.
    #[arg(long)]
    pub repair: bool,
}

/// What one client may hold of the server: time, connections and memory.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Seconds a request body may go without a byte before the request fails (and an
    /// upload records none of it).
    #[arg(long, env = "BERTH_BODY_TIMEOUT", default_value_t = Limits::DEFAULT.body_timeout, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Seconds a connection may take to send a request's headers, and may sit idle
    /// between requests.
    #[arg(long, env = "BERTH_IDLE_TIMEOUT", default_value_t = Limits::DEFAULT.idle_timeout, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Connections each listener holds at once; more wait to be accepted. Lowered at
    /// start-up to what the open-file limit allows.
    #[arg(long, env = "BERTH_MAX_CONNECTIONS", default_value_t = Limits::DEFAULT.max_connections, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// MiB that the bodies of JSON requests whose signature is not yet verified may
    /// hold together (beyond 64 KiB each); past it they get ThrottlingException. At
    /// least 28, the largest layer part.
    #[arg(long, env = "BERTH_UNVERIFIED_BODIES_MIB", default_value_t = Limits::DEFAULT.unverified_bodies_mib, value_parser = clap::value_parser!(u32).range(28..))]
    pub unverified_bodies_mib: u32,
}

impl Limits {
    pub const DEFAULT: Self = Self {
        body_timeout: 30,
        idle_timeout: 5,
        max_connections: 10_000,
        unverified_bodies_mib: 64,
    };
}

fn parse_region(s: &str) -> Result<Region, String> {
    Region::parse(s).map_err(|e| e.to_string())
}

fn parse_account(s: &str) -> Result<RegistryId, String> {
    RegistryId::parse(s).map_err(|_| "the account id must be 12 digits".to_owned())
}

impl Jobs {
    /// The defaults above, for building a configuration in code.
    pub const DEFAULT: Self = Self {
        lifecycle_interval: Duration::from_secs(3600),
        replication_interval: Duration::from_secs(5),
        signing_interval: Duration::from_secs(5),
        scan_interval: Duration::from_secs(5),
        scan_concurrency: 2,
        gc_interval: Duration::from_secs(3600),
        gc_grace: Duration::from_secs(24 * 3600),
    };
}

/// A positive duration such as `30s`, `15m`, `1h` or `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("the duration must be positive".to_owned()),
        Err(e) => Err(format!("{e} (write durations like 30s, 15m or 1h)")),
    }
}

fn parse_alias(s: &str) -> Result<RegistryAlias, String> {
    RegistryAlias::parse(s).map_err(|e| e.to_string())
}

impl Config {
    /// Every configured credential; none means open mode.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        let mut keys = Vec::new();
        let root = Principal::root(self.account_id.clone());
        // Empty values count as unset (compose files pass `${VAR:-}` through).
        if let (Some(key), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            if !key.is_empty() && !secret.is_empty() {
                let principal = root.clone();
                let secret = secret.clone();
                keys.push((key.clone(), AccessKey { secret, principal }));
            }
        }
        if let Some(path) = &self.credentials_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read credentials file {}: {e}", path.display())
            })?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let at = || format!("{}:{}", path.display(), n + 1);
                let (key, secret, principal) = match line.split_whitespace().collect::<Vec<_>>()[..]
                {
                    [key, secret] => (key, secret, root.clone()),
                    [key, secret, account] => {
                        let account = RegistryId::parse(account).map_err(|_| {
                            anyhow::anyhow!("{}: the account id must be 12 digits", at())
                        })?;
                        (key, secret, Principal::root(account))
                    }
                    [key, secret, account, arn] => {
                        let account = RegistryId::parse(account).map_err(|_| {
                            anyhow::anyhow!("{}: the account id must be 12 digits", at())
                        })?;
                        let principal = Principal::parse(account, arn)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
                        (key, secret, principal)
                    }
                    _ => anyhow::bail!(
                        "{}: expected `ACCESS_KEY_ID SECRET [ACCOUNT_ID [PRINCIPAL_ARN]]`",
                        at()
                    ),
                };
                let secret = secret.to_owned();
                keys.push((key.to_owned(), AccessKey { secret, principal }));
            }
        }
        Ok(Credentials::new(self.account_id.clone(), keys))
    }
}

/// What start-up takes from the files a configuration names, read and checked.
pub struct Loaded {
    pub credentials: Credentials,
    pub replication_remotes: RemoteDestinations,
}

/// How a problem names the setting to fix: its file key, flag and variable.
fn setting(id: &str) -> String {
    let cmd = <Config as Args>::augment_args(clap::Command::new("berth"));
    let named = cmd.get_arguments().find(|a| a.get_id() == id).map(|arg| {
        let env = arg
            .get_env()
            .map(|e| format!(", {}", e.to_string_lossy()))
            .unwrap_or_default();
        format!("{id} (--{}{env})", arg.get_long().unwrap_or(id))
    });
    named.unwrap_or_else(|| id.to_owned())
}

/// Names the setting a problem is about.
fn fix(id: &str, problem: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{}: {problem}", setting(id))
}

impl Config {
    /// Checks what can be known before a port is bound or the store opened: the
    /// files named are read and understood, the addresses resolve (and differ), the
    /// URLs are URLs, the directories are directories. An error names the setting
    /// to fix. `berth serve` starts only with a configuration that passes.
    pub fn check(&self) -> anyhow::Result<Loaded> {
        let credentials = self.credentials().map_err(|e| fix("credentials_file", e))?;
        let replication_remotes = match &self.replication_remotes {
            Some(path) => {
                RemoteDestinations::load(path).map_err(|e| fix("replication_remotes", e))?
            }
            None => RemoteDestinations::default(),
        };
        let resolve = |id: &str, address: &str| {
            use std::net::ToSocketAddrs;
            match address.to_socket_addrs() {
                Ok(mut found) => found
                    .next()
                    .ok_or_else(|| fix(id, format!("{address:?} resolves to no address"))),
                Err(e) => Err(fix(
                    id,
                    format!("{address:?} is not an address to listen on (host:port): {e}"),
                )),
            }
        };
        let main = resolve("listen", &self.listen)?;
        let public = resolve("public_listen", &self.public_listen)?;
        if main == public && main.port() != 0 {
            return Err(fix(
                "public_listen",
                format!("{public} is the main listener's address too; give it another port"),
            ));
        }
        if let Some(download) = &self.download_listen {
            let download = resolve("download_listen", download)?;
            if (download == main || download == public) && download.port() != 0 {
                return Err(fix(
                    "download_listen",
                    format!("{download} is another listener's address too; give it another port"),
                ));
            }
        }
        for (id, url) in [
            ("public_url", &self.public_url),
            ("public_registry_url", &self.public_registry_url),
            ("download_url", &self.download_url),
        ] {
            if let Some(url) = url {
                check_url(url).map_err(|e| fix(id, e))?;
            }
        }
        let on_s3 = matches!(self.store.blob_store, Some(BlobLocation::S3(_)));
        if self.blob_redirect && !on_s3 && self.download_listen.is_none() {
            return Err(fix(
                "blob_redirect",
                "redirects go to an object store's presigned URLs (an s3:// blob_store) or to \
                 the download listener: set download_listen",
            ));
        }
        if self.download_url.is_some() && self.download_listen.is_none() {
            return Err(fix(
                "download_url",
                "it is the download listener's URL: set download_listen too",
            ));
        }
        let blob_dir = match &self.store.blob_store {
            Some(BlobLocation::Dir(dir)) => Some(dir),
            _ => None,
        };
        for (id, dir) in [
            ("data_dir", Some(&self.store.data_dir)),
            ("blob_store", blob_dir),
            ("signing_dir", self.signing_dir.as_ref()),
            ("vuln_db", self.vuln_db.as_ref()),
        ] {
            // A directory made later is fine (the data dir is made at start-up, the
            // signing keys are read at each signing, the vulnerability database at each
            // scanning run); a file in its place is not.
            if let Some(dir) = dir.filter(|d| d.exists() && !d.is_dir()) {
                return Err(fix(id, format!("{} is not a directory", dir.display())));
            }
        }
        Ok(Loaded {
            credentials,
            replication_remotes,
        })
    }
}

/// A URL clients reach berth at: http or https, with a host (`{account}` and
/// `{region}` stand for names).
fn check_url(url: &str) -> Result<(), String> {
    let example = url
        .replace("{account}", "000000000000")
        .replace("{region}", "us-east-1");
    match reqwest::Url::parse(&example) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!(
            "{url:?} is not an http:// or https:// URL with a host"
        )),
        Err(e) => Err(format!("{url:?} is not a URL: {e}")),
    }
}
