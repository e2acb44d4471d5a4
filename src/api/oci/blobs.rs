//! Blobs and upload sessions.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{caller_and_name, parse_digest, parse_upload_id, respond, Code, OciError};
use crate::auth::Credentials;
use crate::domain::{RepositoryName, UploadId};
use crate::service::Service;

/// The requested byte range of a blob of `size` bytes, as (start, length); `None`
/// for the whole blob. Malformed, multiple or unsatisfiable ranges are refused.
fn byte_range(req: &HttpRequest, size: u64) -> Result<Option<(u64, u64)>, OciError> {
    let Some(value) = req.headers().get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || OciError::unsatisfiable_range(size);
    let spec = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .ok_or_else(bad)?;
    let (first, last) = spec.split_once('-').ok_or_else(bad)?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n = number(suffix)?;
            if n == 0 || size == 0 {
                return Err(bad());
            }
            (size.saturating_sub(n), size - 1)
        }
        (first, "") => (number(first)?, size.saturating_sub(1)),
        (first, last) => (number(first)?, number(last)?.min(size.saturating_sub(1))),
    };
    if start > end || start >= size {
        return Err(bad());
    }
    Ok(Some((start, end - start + 1)))
}

/// GET and HEAD a blob, honouring `Range`.
pub async fn get(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path.0)?;
            let digest = parse_digest(&path.1)?;
            let blob = service.blob(&caller, &name, &digest).await?;
            let size = blob.size;
            let mut response = match byte_range(&req, size)? {
                Some((start, len)) => {
                    let mut r = HttpResponse::PartialContent();
                    r.insert_header((
                        header::CONTENT_RANGE,
                        format!("bytes {start}-{}/{size}", start + len - 1),
                    ));
                    let blob = blob
                        .range(start, len)
                        .await
                        .map_err(crate::service::Error::from)?;
                    return Ok(r
                        .insert_header(("Docker-Content-Digest", digest.as_str()))
                        .insert_header((header::ACCEPT_RANGES, "bytes"))
                        .content_type("application/octet-stream")
                        .no_chunking(blob.len())
                        .streaming(blob.into_stream()));
                }
                None => HttpResponse::Ok(),
            };
            Ok(response
                .insert_header(("Docker-Content-Digest", digest.as_str()))
                .insert_header((header::ACCEPT_RANGES, "bytes"))
                .insert_header(header::ETag(header::EntityTag::new_strong(
                    digest.to_string(),
                )))
                .content_type("application/octet-stream")
                .no_chunking(blob.len())
                .streaming(blob.into_stream()))
        }
        .await,
    )
}

/// DELETE a blob from the repository.
pub async fn delete(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path.0)?;
            let digest = parse_digest(&path.1)?;
            service.delete_blob(&caller, &name, &digest).await?;
            Ok(HttpResponse::Accepted().finish())
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct StartQuery {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
}

fn upload_location(name: &RepositoryName, id: &UploadId) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// 202 for an open session holding `size` bytes.
fn session(name: &RepositoryName, id: &UploadId, size: u64, status: StatusCode) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, upload_location(name, id)))
        .insert_header(("Docker-Upload-UUID", id.as_str()))
        .insert_header((header::RANGE, format!("0-{}", size.saturating_sub(1))))
        .insert_header((header::CONTENT_LENGTH, 0))
        .finish()
}

fn created(name: &RepositoryName, digest: &crate::domain::Digest) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v2/{name}/blobs/{digest}")))
        .insert_header(("Docker-Content-Digest", digest.as_str()))
        .finish()
}

/// POST: a cross-repository mount, a monolithic upload (`?digest=`), or a new session.
pub async fn start_upload(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<StartQuery>,
    payload: web::Payload,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path)?;
            if let (Some(mount), Some(from)) = (&query.mount, &query.from) {
                let digest = parse_digest(mount)?;
                // A source the caller cannot name or read just means a normal upload.
                if let Ok(from) = RepositoryName::parse(from) {
                    if service.mount_blob(&caller, &name, &digest, &from).await? {
                        return Ok(created(&name, &digest));
                    }
                }
            }
            let id = service.start_upload(&caller, &name).await?;
            match &query.digest {
                Some(digest) => {
                    let digest = parse_digest(digest)?;
                    service
                        .finish_upload(&caller, &name, &id, &digest, payload)
                        .await?;
                    Ok(created(&name, &digest))
                }
                None => Ok(session(&name, &id, 0, StatusCode::ACCEPTED)),
            }
        }
        .await,
    )
}

/// GET: how far the session has got.
pub async fn upload_status(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path.0)?;
            let id = parse_upload_id(&path.1)?;
            let size = service.upload_status(&caller, &name, &id).await?;
            Ok(session(&name, &id, size, StatusCode::NO_CONTENT))
        }
        .await,
    )
}

/// The start offset a `Content-Range: <start>-<end>` header names, if any.
fn chunk_start(req: &HttpRequest) -> Result<Option<u64>, OciError> {
    let Some(value) = req.headers().get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let invalid = || {
        OciError::new(
            Code::BlobUploadInvalid,
            "Content-Range must be <start>-<end>",
        )
        .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let text = text.strip_prefix("bytes ").unwrap_or(text);
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().parse().map_err(|_| invalid())?;
    if end < start {
        return Err(invalid());
    }
    Ok(Some(start))
}

/// PATCH: appends a chunk, streamed.
pub async fn patch_upload(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path.0)?;
            let id = parse_upload_id(&path.1)?;
            let start = chunk_start(&req)?;
            let size = service
                .append_chunk(&caller, &name, &id, start, payload)
                .await?;
            Ok(session(&name, &id, size, StatusCode::ACCEPTED))
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct FinishQuery {
    digest: Option<String>,
}

/// PUT: appends an optional last chunk and closes the session against `?digest=`.
pub async fn finish_upload(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<FinishQuery>,
    payload: web::Payload,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path.0)?;
            let id = parse_upload_id(&path.1)?;
            let digest = query.digest.as_deref().ok_or_else(|| {
                OciError::new(
                    Code::DigestInvalid,
                    "the digest query parameter is required",
                )
            })?;
            let digest = parse_digest(digest)?;
            service
                .finish_upload(&caller, &name, &id, &digest, payload)
                .await?;
            Ok(created(&name, &digest))
        }
        .await,
    )
}

/// DELETE: abandons the session.
pub async fn cancel_upload(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path.0)?;
            let id = parse_upload_id(&path.1)?;
            service.cancel_upload(&caller, &name, &id).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        .await,
    )
}
