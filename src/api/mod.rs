//! The faces: each parses its wire format into domain types, calls one service
//! method, and renders the result or error in its own protocol.

pub mod awsjson;
mod download;
pub mod ecr;
pub mod oci;

use actix_web::{web, HttpResponse};

use crate::service::Service;

/// Routes every face onto the app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route(
            "/_berth/download/{token}",
            web::get().to(download::download),
        )
        .route("/", web::post().to(awsjson::handle))
        .configure(oci::configure);
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
