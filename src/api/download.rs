//! Serves GetDownloadUrlForLayer's URLs: the token in the path is the only credential.

use actix_web::{web, HttpResponse};

use crate::service::Service;

pub(super) async fn download(
    service: web::Data<Service>,
    token: web::Path<String>,
) -> HttpResponse {
    match service.download(&token).await {
        Ok(Some(blob)) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .no_chunking(blob.len())
            .streaming(blob.into_stream()),
        Ok(None) => HttpResponse::Forbidden()
            .content_type("text/plain")
            .body("the download URL is invalid or has expired\n"),
        Err(e) => {
            tracing::error!(error = ?e, "layer download failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain")
                .body("internal error\n")
        }
    }
}
