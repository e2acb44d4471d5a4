//! Serves public repositories' logos (the `logoUrl` of their catalog data) to anyone.

use actix_web::{web, HttpResponse};

use crate::domain::RepositoryName;
use crate::service::Service;

pub(super) async fn logo(service: web::Data<Service>, name: web::Path<String>) -> HttpResponse {
    let not_found = || {
        HttpResponse::NotFound()
            .content_type("text/plain")
            .body("no such logo\n")
    };
    let Ok(name) = RepositoryName::parse(&name) else {
        return not_found();
    };
    match service.public_logo(&name).await {
        Ok(Some(logo)) => HttpResponse::Ok()
            .content_type(logo.media_type)
            .body(logo.bytes),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "logo read failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain")
                .body("internal error\n")
        }
    }
}
