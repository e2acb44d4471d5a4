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
    port: u16,
    service: Service,
}

/// Opens (and migrates) the metadata store the configuration names.
pub async fn open_store(config: &StoreConfig) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display())
    })?;
    Store::connect(config.database_url.as_deref(), &config.data_dir).await
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
        let listener = TcpListener::bind(&config.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let address = listener.local_addr()?;
        let port = address.port();
        let public_url = config.public_url.clone().unwrap_or_else(|| {
            let host = if address.ip().is_unspecified() {
                "localhost".to_owned()
            } else {
                address.ip().to_string()
            };
            format!("http://{host}:{port}")
        });
        let settings = Settings {
            account: config.account_id.clone(),
            public_url,
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
        let server = HttpServer::new(move || {
            App::new()
                .app_data(service_data.clone())
                .app_data(credentials.clone())
                .configure(crate::api::configure)
        })
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        tracing::info!(%address, public_url = %service.settings().public_url, "berth is serving");
        Ok(Self {
            server,
            port,
            service,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT (in-flight requests drain) or a stop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        self.service.close().await;
        Ok(())
    }
}
