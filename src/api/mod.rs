//! The faces: each parses its wire format into domain types, calls one service
//! method, and renders the result or error in its own protocol.

pub mod access;
pub mod awsjson;
pub mod body_timeout;
mod download;
pub mod download_listener;
pub mod ecr;
pub mod ecr_public;
mod logo;
pub mod oci;

use std::net::IpAddr;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::service::{Probe, Service};

/// Where a request came from, for policies' `aws:SourceIp` and `aws:SecureTransport`:
/// the connection's own peer and TLS, never forwarding headers a client can write.
fn network(req: &HttpRequest) -> (Option<IpAddr>, bool) {
    (req.peer_addr().map(|a| a.ip()), req.app_config().secure())
}

/// Routes the main listener: both JSON faces and the private registry's `/v2/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(operability)
        .service(
            web::resource("/_berth/download/{token}")
                .name("download")
                .route(web::get().to(download::download)),
        )
        .service(
            web::resource("/_berth/logos/{name:.+}")
                .name("logo")
                .route(web::get().to(logo::logo)),
        )
        .route("/", web::post().to(awsjson::handle))
        .configure(oci::configure(oci::Listener::private()));
}

/// Routes the public registry's listener: its `/v2/` only.
pub fn configure_public(listener: oci::Listener) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.configure(operability)
            .configure(oci::configure(listener));
    }
}

/// What both listeners serve for operators: health, readiness and metrics, each
/// resource named for the metrics' `operation` label.
fn operability(cfg: &mut web::ServiceConfig) {
    for (path, name, handler) in [
        ("/healthz", "healthz", web::get().to(healthz)),
        ("/readyz", "readyz", web::get().to(readyz)),
        ("/metrics", "metrics", web::get().to(metrics)),
    ] {
        cfg.service(web::resource(path).name(name).route(handler));
    }
}

/// The metrics in the Prometheus text format. Unauthenticated, like the probes: its
/// labels are drawn from fixed sets (no repository, account or address), so it tells
/// volumes and rates only; operators who expose berth beyond their network keep
/// `/metrics` from it at their proxy (README).
async fn metrics(service: web::Data<Service>) -> HttpResponse {
    match service.render_metrics().await {
        Ok(text) => HttpResponse::Ok()
            .content_type(crate::metrics::CONTENT_TYPE)
            .body(text),
        Err(e) => {
            tracing::error!(error = ?e, "cannot render the metrics");
            HttpResponse::InternalServerError()
                .content_type("text/plain")
                .body("cannot render the metrics\n")
        }
    }
}

async fn healthz(service: web::Data<Service>) -> HttpResponse {
    if service.healthy().await {
        HttpResponse::Ok().content_type("text/plain").body("ok\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("metadata store unreachable\n")
    }
}

/// 200 when every dependency can serve reads and writes, else 503; either way one line
/// per dependency says what it can do.
async fn readyz(service: web::Data<Service>) -> HttpResponse {
    let readiness = service.readiness().await;
    let word = |probe| match probe {
        Probe::Ok => "ok",
        Probe::Full => "full",
        Probe::Unreachable => "unreachable",
        Probe::Failing => "failing",
    };
    let body = format!(
        "metadata store: {}\nmetadata store writes: {}\nblob store writes: {}\n",
        word(readiness.metadata),
        word(readiness.metadata_writes),
        word(readiness.blob_writes),
    );
    let mut response = if readiness.ready() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response.content_type("text/plain").body(body)
}
