//! Blobs and upload sessions.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{parse_digest, parse_upload_id, Code, Ctx, OciError};
use crate::domain::{Digest, RepositoryName, UploadId};
use crate::service::{Arriving, Blob, BlobRead, Error};

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
    ctx: Ctx,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, OciError> {
    let (name, digest) = (ctx.name(&path.0)?, parse_digest(&path.1)?);
    let read = if req.method() == Method::HEAD {
        BlobRead::Check
    } else if req.headers().contains_key(header::RANGE) {
        BlobRead::DownloadRange
    } else {
        BlobRead::Download
    };
    let blob = match ctx.service.blob(&ctx.caller, &name, &digest, read).await? {
        Blob::Stored(blob) => blob,
        Blob::Arriving(arriving) => return Ok(arriving_blob(&digest, arriving)),
        Blob::Elsewhere(url) => {
            return Ok(HttpResponse::TemporaryRedirect()
                .insert_header((header::LOCATION, url))
                .insert_header(("Docker-Content-Digest", digest.as_str()))
                .finish())
        }
    };
    let size = blob.size;
    let (mut response, blob) = match byte_range(&req, size)? {
        Some((start, len)) => {
            let mut r = HttpResponse::PartialContent();
            r.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{size}", start + len - 1),
            ));
            (r, blob.range(start, len).await.map_err(Error::from)?)
        }
        None => {
            let mut r = HttpResponse::Ok();
            r.insert_header(header::ETag(header::EntityTag::new_strong(
                digest.to_string(),
            )));
            (r, blob)
        }
    };
    Ok(response
        .insert_header(("Docker-Content-Digest", digest.as_str()))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .content_type("application/octet-stream")
        .no_chunking(blob.len())
        .streaming(blob.into_stream()))
}

/// A blob streamed as it arrives from a pull-through upstream: its length is the
/// upstream's word; if the bytes break off, so does the response.
fn arriving_blob(digest: &Digest, arriving: Arriving) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("Docker-Content-Digest", digest.as_str()))
        .insert_header(header::ETag(header::EntityTag::new_strong(
            digest.to_string(),
        )))
        .content_type("application/octet-stream");
    if let Some(size) = arriving.size {
        response.no_chunking(size);
    }
    response.streaming(arriving.body)
}

/// DELETE a blob from the repository.
pub async fn delete(ctx: Ctx, path: web::Path<(String, String)>) -> Result<HttpResponse, OciError> {
    let (name, digest) = (ctx.name(&path.0)?, parse_digest(&path.1)?);
    ctx.service.delete_blob(&ctx.caller, &name, &digest).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize)]
pub struct StartQuery {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
}

/// 202 for an open session holding `size` bytes; `path` names the repository as the
/// client's paths do.
fn session(path: &str, id: &UploadId, size: u64, status: StatusCode) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, format!("/v2/{path}/blobs/uploads/{id}")))
        .insert_header(("Docker-Upload-UUID", id.as_str()))
        .insert_header((header::RANGE, format!("0-{}", size.saturating_sub(1))))
        .insert_header((header::CONTENT_LENGTH, 0))
        .finish()
}

fn created(path: &str, digest: &Digest) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v2/{path}/blobs/{digest}")))
        .insert_header(("Docker-Content-Digest", digest.as_str()))
        .finish()
}

/// POST: a cross-repository mount (`?mount=`, from `from` or any repository the
/// caller may read), a monolithic upload (`?digest=`), or a new session.
pub async fn start_upload(
    ctx: Ctx,
    path: web::Path<String>,
    query: web::Query<StartQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, OciError> {
    let name = ctx.name(&path)?;
    if let Some(mount) = &query.mount {
        let digest = parse_digest(mount)?;
        // Without `from`, any repository the caller may read will do; a `from` the
        // caller cannot name, or no repository holding the blob, means a normal upload.
        if let Ok(from) = query.from.as_deref().map(|from| ctx.name(from)).transpose() {
            if ctx
                .service
                .mount_blob(&ctx.caller, &name, &digest, from.as_ref())
                .await?
            {
                return Ok(created(&ctx.path(&name), &digest));
            }
        }
    }
    match &query.digest {
        Some(digest) => {
            let digest = parse_digest(digest)?;
            ctx.service
                .put_blob(&ctx.caller, &name, &digest, payload)
                .await?;
            Ok(created(&ctx.path(&name), &digest))
        }
        None => {
            let (_, id) = ctx.service.start_upload(&ctx.caller, None, &name).await?;
            Ok(session(&ctx.path(&name), &id, 0, StatusCode::ACCEPTED))
        }
    }
}

type SessionPath = web::Path<(String, String)>;

fn session_path(ctx: &Ctx, path: &SessionPath) -> Result<(RepositoryName, UploadId), OciError> {
    Ok((ctx.name(&path.0)?, parse_upload_id(&path.1)?))
}

/// GET: how far the session has got.
pub async fn upload_status(ctx: Ctx, path: SessionPath) -> Result<HttpResponse, OciError> {
    let (name, id) = session_path(&ctx, &path)?;
    let size = ctx.service.upload_status(&ctx.caller, &name, &id).await?;
    Ok(session(&ctx.path(&name), &id, size, StatusCode::NO_CONTENT))
}

/// The first and last byte a `Content-Range: <start>-<end>` header names, if any.
fn chunk_range(req: &HttpRequest) -> Result<Option<(u64, u64)>, OciError> {
    let Some(value) = req.headers().get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let invalid = || OciError::new(Code::RangeInvalid, "Content-Range must be <start>-<end>");
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let text = text.strip_prefix("bytes ").unwrap_or(text);
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().parse().map_err(|_| invalid())?;
    if end < start {
        return Err(invalid());
    }
    Ok(Some((start, end)))
}

/// PATCH: appends a chunk, streamed.
pub async fn patch_upload(
    ctx: Ctx,
    req: HttpRequest,
    path: SessionPath,
    payload: web::Payload,
) -> Result<HttpResponse, OciError> {
    let (name, id) = session_path(&ctx, &path)?;
    let range = chunk_range(&req)?;
    let (_, size) = ctx
        .service
        .append_to_upload(&ctx.caller, None, &name, &id, range, payload)
        .await?;
    Ok(session(&ctx.path(&name), &id, size, StatusCode::ACCEPTED))
}

#[derive(Deserialize)]
pub struct FinishQuery {
    digest: Option<String>,
}

/// PUT: appends an optional last chunk and closes the session against `?digest=`.
pub async fn finish_upload(
    ctx: Ctx,
    req: HttpRequest,
    path: SessionPath,
    query: web::Query<FinishQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, OciError> {
    let (name, id) = session_path(&ctx, &path)?;
    let digest = query.digest.as_deref().ok_or_else(|| {
        OciError::new(
            Code::DigestInvalid,
            "the digest query parameter is required",
        )
    })?;
    let digest = parse_digest(digest)?;
    let range = chunk_range(&req)?;
    ctx.service
        .finish_upload(&ctx.caller, &name, &id, &digest, range, payload)
        .await?;
    Ok(created(&ctx.path(&name), &digest))
}

/// DELETE: abandons the session.
pub async fn cancel_upload(ctx: Ctx, path: SessionPath) -> Result<HttpResponse, OciError> {
    let (name, id) = session_path(&ctx, &path)?;
    ctx.service.cancel_upload(&ctx.caller, &name, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
