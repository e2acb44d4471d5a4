//! The faces: each parses its wire format into domain types, calls one service
//! method, and renders the result or error in its own protocol.

pub mod access;
pub mod awsjson;
pub mod body_timeout;
mod download;
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
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route(
            "/_berth/download/{token}",
            web::get().to(download::download),
        )
        .route("/_berth/logos/{name:.+}", web::get().to(logo::logo))
        .route("/", web::post().to(awsjson::handle))
        .configure(oci::configure(oci::Listener::private()));
}

/// Routes the public registry's listener: its `/v2/` only.
pub fn configure_public(listener: oci::Listener) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .configure(oci::configure(listener));
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
