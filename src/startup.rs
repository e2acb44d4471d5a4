//! Builds the application for a configuration: store, blob store, service, HTTP
//! server. `main` and the tests use the same builder.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::api::access;
use crate::api::awsjson::UnverifiedBodies;
use crate::api::download_listener::Downloads;
use crate::auth::Credentials;
use crate::blob::BlobStore;
use crate::config::{
    CheckConfig, Config, GcConfig, Jobs, Limits, Loaded, StoreConfig, PULL_THROUGH_TTL,
};
use crate::domain::{RegistryAlias, RegistryId, RepositoryName};
use crate::notary::SigningDirectory;
use crate::replication_remotes::RemoteDestinations;
use crate::service::{
    check_blobs, check_references, repair, BlobCheck, Disagreement, GcReport, LifecycleRun,
    ReferenceCheck, Repaired, ReplicationRun, ScanRun, Service, Settings, SigningRun, HEARTBEAT,
};
use crate::store::Store;

/// Open files kept back from connections: the database pool, the log, blob files of
/// requests in progress beyond one per connection.
const RESERVED_FILES: u64 = 256;
/// Each connection may hold its socket and a blob file, on each of two listeners.
const FILES_PER_CONNECTION_SLOT: u64 = 4;

pub struct Application {
    server: Server,
    public_server: Server,
    port: u16,
    public_port: u16,
    service: Service,
    /// The download listener, when it runs.
    downloads: Option<Downloads>,
}

/// Binds `address`; the URL clients reach it at is `url` or else derived from it.
fn bind(address: &str, url: Option<&str>) -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(address)
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
    let bound = listener.local_addr()?;
    let url = url.map(str::to_owned).unwrap_or_else(|| {
        let host = if bound.ip().is_unspecified() {
            "localhost".to_owned()
        } else {
            bound.ip().to_string()
        };
        format!("http://{host}:{}", bound.port())
    });
    Ok((listener, url))
}

/// Opens (and migrates) the metadata store the configuration names.
pub async fn open_store(config: &StoreConfig) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display())
    })?;
    Store::connect(
        config.database_url.as_deref(),
        &config.data_dir,
        std::time::Duration::from_secs(config.database_timeout),
        &config.region,
    )
    .await
}

/// What `berth check` found, and with `--repair` what it removed.
pub struct Checked {
    pub blobs: BlobCheck,
    pub references: ReferenceCheck,
    pub repaired: Option<Repaired>,
}

/// The blob store the configuration names, checked to be usable (an S3 bucket is
/// listed once).
pub async fn open_blobs(config: &StoreConfig) -> anyhow::Result<BlobStore> {
    let location = config.blob_location();
    BlobStore::open(&location)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the blob store {location}: {e}"))
}

/// `berth check`: reads every blob of the store the configuration names back, checks
/// the references between rows and, with `repair`, removes what is dangling.
pub async fn check(config: &CheckConfig) -> anyhow::Result<Checked> {
    let store = open_store(&config.store).await?;
    let blobs = open_blobs(&config.store).await?;
    let checked = async {
        let found = check_blobs(&store, &blobs).await?;
        let references = check_references(&store, &found.missing).await?;
        let repaired = if config.repair {
            Some(repair(&store, &blobs, &found, &references).await?)
        } else {
            None
        };
        Ok::<_, crate::service::Error>(Checked {
            blobs: found,
            references,
            repaired,
        })
    }
    .await;
    store.close().await;
    Ok(checked?)
}

/// Collects garbage every `every`, starting one interval after start-up, in one
/// process at a time across those sharing the store.
fn spawn_collector(service: Service, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match service.collect_garbage(false).await {
                Ok(Some(_)) => {}
                Ok(None) => tracing::debug!("garbage collection runs in another process"),
                Err(e) => tracing::warn!(error = ?e, "garbage collection failed"),
            }
        }
    });
}

/// A service over the store the configuration names, for a command that serves
/// nothing (`berth gc`, `berth lifecycle run`): no URL, account or credential is
/// used, and these stand for none.
async fn offline_service(config: &StoreConfig, gc_grace: Duration) -> anyhow::Result<Service> {
    let store = open_store(config).await?;
    let blobs = open_blobs(config).await?;
    let account = RegistryId::parse("000000000000").map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = Settings {
        account: account.clone(),
        region: config.region.clone(),
        public_url: String::new(),
        public_registry_url: String::new(),
        public_alias: RegistryAlias::parse("berth").map_err(|e| anyhow::anyhow!("{e}"))?,
        gc_grace,
        secrets_file: None,
        pull_through_ttl: PULL_THROUGH_TTL,
        replication_remotes: RemoteDestinations::default(),
        signing_dir: SigningDirectory::default(),
        vuln_db: None,
        scan_concurrency: 1,
        download_url: None,
        blob_redirect: false,
    };
    Service::new(store, blobs, settings, Credentials::new(account, [])).await
}

/// `berth gc`: one collection over the store the configuration names; `None` when
/// another process is collecting.
pub async fn gc(config: &GcConfig) -> anyhow::Result<Option<GcReport>> {
    let service = offline_service(&config.store, config.gc_grace).await?;
    let report = service.collect_garbage(config.dry_run).await;
    service.close().await;
    Ok(report?)
}

/// Applies lifecycle policies at start-up and then every `interval`; across
/// processes sharing the store, one at a time (a job lease).
fn spawn_lifecycle(service: Service, interval: Duration) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match service.run_lifecycle_job().await {
                Ok(Some(runs)) => {
                    for run in runs.iter().filter(|r| !r.actions.is_empty()) {
                        tracing::info!(
                            repository = %run.name,
                            images = run.actions.len(),
                            "applied the lifecycle policy"
                        );
                    }
                }
                Ok(None) => tracing::debug!("another process is applying lifecycle policies"),
                Err(e) => tracing::warn!(error = ?e, "lifecycle run failed"),
            }
        }
    });
}

/// Makes the queued replication copies at start-up (resuming what a previous process
/// left) and then every `interval`; one process at a time (a job lease).
fn spawn_replication(service: Service, interval: Duration) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match service.run_replication_job().await {
                Ok(Some(run)) if run != ReplicationRun::default() => tracing::info!(
                    completed = run.completed,
                    failed = run.failed,
                    retrying = run.retrying,
                    "replicated images"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "replication run failed"),
            }
        }
    });
}

/// Makes the queued image signatures at start-up (resuming what a previous process
/// left) and then every `interval`; one process at a time (a job lease).
fn spawn_signing(service: Service, interval: Duration) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match service.run_signing_job().await {
                Ok(Some(run)) if run != SigningRun::default() => tracing::info!(
                    signed = run.signed,
                    failed = run.failed,
                    retrying = run.retrying,
                    "signed images"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "signing run failed"),
            }
        }
    });
}

/// Says every `HEARTBEAT` that this process is alive, so replicas starting beside it
/// compare their settings with its own.
fn spawn_heartbeat(service: Service) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(HEARTBEAT);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = service.heartbeat().await {
                tracing::warn!(error = ?e, "could not say this process is alive");
            }
        }
    });
}

/// Why a process may not serve beside the replicas already serving the store.
fn disagreement(differ: &[Disagreement]) -> String {
    let settings: Vec<String> = differ
        .iter()
        .map(|d| match (&d.here, &d.there) {
            (Some(here), Some(there)) => format!("{} ({here} here, {there} there)", d.setting),
            _ => format!("{} (differs)", d.setting),
        })
        .collect();
    format!(
        "another berth process serving this store runs with other settings: {}; give every \
         replica the same settings, or stop the others first (a process that stopped \
         without a clean shutdown is forgotten {} s after it was last seen)",
        settings.join(", "),
        (HEARTBEAT * 3).as_secs()
    )
}

/// Makes the queued image scans at start-up (resuming what a previous process left)
/// and then every `interval`, queueing continuous rescans first; one process at a
/// time (a job lease).
fn spawn_scanning(service: Service, interval: Duration) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match service.run_scanning_job().await {
                Ok(Some(run)) if run != ScanRun::default() => tracing::info!(
                    rescans_queued = run.rescans_queued,
                    scanned = run.scanned,
                    failed = run.failed,
                    retrying = run.retrying,
                    "scanned images"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "scanning run failed"),
            }
        }
    });
}

/// `berth lifecycle run`: applies the lifecycle policies of the store the
/// configuration names (of every repository with one, or of those named `only`),
/// or with `dry_run` only says what they would do. `None` when another process is
/// applying them.
pub async fn run_lifecycle(
    config: &StoreConfig,
    only: Option<&RepositoryName>,
    dry_run: bool,
) -> anyhow::Result<Option<Vec<LifecycleRun>>> {
    let service = offline_service(config, Jobs::DEFAULT.gc_grace).await?;
    let outcome = if dry_run {
        service.run_lifecycle(only, true).await.map(Some)
    } else {
        service
            .exclusively("lifecycle", service.run_lifecycle(only, false))
            .await
    };
    service.close().await;
    Ok(outcome?)
}

/// Raises the soft open-file limit to the hard one, so that connections rather than
/// the default (often 1024) decide how many clients are served; answers the limit.
fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Connections per listener: as configured, but never so many that they could use up
/// the open files berth needs for everything else.
fn connection_cap(configured: u32, open_files: u64) -> u32 {
    let fit = open_files.saturating_sub(RESERVED_FILES) / FILES_PER_CONNECTION_SLOT;
    let cap = u32::try_from(fit).unwrap_or(u32::MAX).clamp(1, configured);
    tracing::info!(
        configured,
        cap,
        open_files,
        "connections per listener (capped to fit the open-file limit)"
    );
    cap
}

/// What every listener's application shares.
#[derive(Clone)]
struct Shared {
    service: web::Data<Service>,
    unverified: web::Data<UnverifiedBodies>,
}

type Routes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// One listener, `name`d in the access log: `routes` over the shared state, with what
/// every listener applies (request ids, the access log and the metrics; timeouts for
/// heads, idle connections and bodies; a connection cap).
fn serve(
    name: &'static str,
    listener: TcpListener,
    shared: Shared,
    routes: Routes,
    limits: &Limits,
    workers: usize,
    max_connections: u32,
) -> std::io::Result<Server> {
    let body_idle = Duration::from_secs(limits.body_timeout);
    let idle = Duration::from_secs(limits.idle_timeout);
    let metrics = shared.service.metrics().clone();
    let per_worker = usize::try_from(max_connections)
        .unwrap_or(usize::MAX)
        .div_ceil(workers);
    Ok(HttpServer::new(move || {
        // actix builds each worker's application on that worker's thread.
        shared.service.open_worker_pool();
        let routes = routes.clone();
        App::new()
            .wrap_fn(access::wrap(name, metrics.clone(), body_idle))
            .app_data(shared.service.clone())
            .app_data(shared.unverified.clone())
            .configure(move |cfg| routes(cfg))
    })
    .workers(workers)
    .max_connections(per_worker)
    .client_request_timeout(idle)
    .keep_alive(idle)
    .client_disconnect_timeout(Duration::from_secs(1))
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(30)
    .run())
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let Loaded {
            credentials,
            replication_remotes,
        } = config.check()?;
        let store = open_store(&config.store).await?;
        let mut blobs = open_blobs(&config.store).await?;
        if config.blob_redirect {
            blobs = blobs.redirecting();
        }
        let (listener, public_url) = bind(&config.listen, config.public_url.as_deref())?;
        let (public_listener, public_registry_url) =
            bind(&config.public_listen, config.public_registry_url.as_deref())?;
        let (address, public_address) = (listener.local_addr()?, public_listener.local_addr()?);
        let download = config
            .download_listen
            .as_deref()
            .map(|address| bind(address, config.download_url.as_deref()))
            .transpose()?;
        let settings = Settings {
            account: config.account_id.clone(),
            region: config.store.region.clone(),
            public_url,
            public_registry_url,
            public_alias: config.public_alias.clone(),
            gc_grace: config.jobs.gc_grace,
            secrets_file: config.secrets_file.clone(),
            pull_through_ttl: config.pull_through_ttl,
            replication_remotes,
            signing_dir: SigningDirectory::new(config.signing_dir.clone()),
            vuln_db: config.vuln_db.clone(),
            scan_concurrency: usize::from(config.jobs.scan_concurrency),
            download_url: download.as_ref().map(|(_, url)| url.clone()),
            blob_redirect: config.blob_redirect,
        };
        let service = Service::new(store, blobs, settings, credentials).await?;
        let differ = service.join_replicas().await?;
        if !differ.is_empty() {
            service.close().await;
            anyhow::bail!(disagreement(&differ));
        }
        spawn_heartbeat(service.clone());
        spawn_collector(service.clone(), config.jobs.gc_interval);
        spawn_lifecycle(service.clone(), config.jobs.lifecycle_interval);
        spawn_replication(service.clone(), config.jobs.replication_interval);
        spawn_signing(service.clone(), config.jobs.signing_interval);
        spawn_scanning(service.clone(), config.jobs.scan_interval);
        if service.authority().credentials().is_open() {
            tracing::warn!(
                "OPEN MODE: no credentials configured (BERTH_ACCESS_KEY_ID / BERTH_SECRET_ACCESS_KEY / \
                 BERTH_CREDENTIALS_FILE); any well-formed signed request is accepted"
            );
        }
        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        let limits = &config.limits;
        let max_connections = connection_cap(limits.max_connections, raise_open_file_limit());
        let shared = Shared {
            service: web::Data::new(service.clone()),
            unverified: web::Data::new(UnverifiedBodies::new(
                usize::try_from(limits.unverified_bodies_mib).unwrap_or(usize::MAX) << 20,
            )),
        };
        let server = serve(
            "main",
            listener,
            shared.clone(),
            Arc::new(crate::api::configure),
            limits,
            workers,
            max_connections,
        )?;
        let downloads = match download {
            Some((listener, url)) => {
                tracing::info!(address = %listener.local_addr()?, %url, "downloads are served");
                let idle = Duration::from_secs(limits.idle_timeout);
                let cap = usize::try_from(max_connections).unwrap_or(usize::MAX);
                Some(Downloads::start(
                    listener,
                    service.clone(),
                    idle,
                    cap,
                    workers,
                )?)
            }
            None => None,
        };
        let public_v2 = crate::api::oci::Listener::public(&config.public_alias);
        let public_server = serve(
            "public",
            public_listener,
            shared,
            Arc::new(move |cfg| crate::api::configure_public(public_v2.clone())(cfg)),
            limits,
            workers,
            max_connections,
        )?;
        tracing::info!(
            %address,
            public_url = %service.settings().public_url,
            %public_address,
            public_registry = %service.public_registry_uri(),
            "berth is serving"
        );
        Ok(Self {
            server,
            public_server,
            port: address.port(),
            public_port: public_address.port(),
            service,
            downloads,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The service the listeners serve (its metrics, its jobs).
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The public registry's `/v2/` port.
    pub fn public_port(&self) -> u16 {
        self.public_port
    }

    /// Serves until SIGTERM/SIGINT (in-flight requests drain) or a stop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // One handler stops both listeners. Left to actix, each server would stop the
        // whole system as soon as it alone had drained, cutting the other's requests.
        let handles = [self.server.handle(), self.public_server.handle()];
        let stopper = tokio::spawn(async move {
            stop_signal().await;
            tracing::info!("stopping: in-flight requests may finish (up to 30 s)");
            futures_util::future::join_all(handles.iter().map(|h| h.stop(true))).await;
        });
        let both = futures_util::future::try_join(self.server, self.public_server).await;
        stopper.abort();
        drop(self.downloads);
        if let Err(e) = self.service.leave_replicas().await {
            tracing::warn!(error = ?e, "could not record this process's stop");
        }
        self.service.close().await;
        both.map(|_| ())
    }
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
