//! Builds the application for a configuration: store, blob store, service, HTTP
//! server. `main` and the tests use the same builder.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::blob::BlobStore;
use crate::config::{Config, StoreConfig};
use crate::service::{Service, Settings};
use crate::store::Store;

pub struct Application {
    server: Server,
    public_server: Server,
    port: u16,
    public_port: u16,
    service: Service,
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
    )
    .await
}

/// Sweeps stale uploads at start-up and then hourly.
fn spawn_upload_sweeper(service: Service) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            match service.sweep_uploads().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "swept stale uploads"),
                Err(e) => tracing::warn!(error = ?e, "upload sweep failed"),
            }
        }
    });
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let credentials = config.credentials()?;
        let store = open_store(&config.store).await?;
        let blobs = BlobStore::open(&config.store.data_dir).await?;
        let (listener, public_url) = bind(&config.listen, config.public_url.as_deref())?;
        let (public_listener, public_registry_url) =
            bind(&config.public_listen, config.public_registry_url.as_deref())?;
        let (address, public_address) = (listener.local_addr()?, public_listener.local_addr()?);
        let settings = Settings {
            account: config.account_id.clone(),
            public_url,
            public_registry_url,
            public_alias: config.public_alias.clone(),
        };
        let service = Service::new(store, blobs, settings).await?;
        spawn_upload_sweeper(service.clone());
        if credentials.is_open() {
            tracing::warn!(
                "OPEN MODE: no credentials configured (BERTH_ACCESS_KEY_ID / BERTH_SECRET_ACCESS_KEY / \
                 BERTH_CREDENTIALS_FILE); any well-formed signed request is accepted"
            );
        }
        let (service_data, credentials) =
            (web::Data::new(service.clone()), web::Data::new(credentials));
        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        let (data, keys) = (service_data.clone(), credentials.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(keys.clone())
                .configure(crate::api::configure)
        })
        .workers(workers)
        .disable_signals()
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        let public_face = crate::api::oci::Face::public(&config.public_alias);
        let public_server = HttpServer::new(move || {
            App::new()
                .app_data(service_data.clone())
                .app_data(credentials.clone())
                .configure(crate::api::configure_public(public_face.clone()))
        })
        .workers(workers)
        .disable_signals()
        .listen(public_listener)?
        .shutdown_timeout(30)
        .run();
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
        })
    }

    pub fn port(&self) -> u16 {
        self.port
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
