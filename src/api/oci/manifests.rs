use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::{parse_reference, Code, Ctx, OciError};
use crate::domain::ImageSelector;
use crate::domain::MAX_MANIFEST_BYTES;
use crate::service::{Error, PutImage};

type Path = web::Path<(String, String)>;

/// GET and HEAD: the exact bytes as stored, with their media type and digest. Only a
/// GET counts as a pull.
pub async fn get(ctx: Ctx, req: HttpRequest, path: Path) -> Result<HttpResponse, OciError> {
    let (name, reference) = (ctx.name(&path.0)?, parse_reference(&path.1)?);
    let pull = req.method() == actix_web::http::Method::GET;
    let image = ctx
        .service
        .manifest(&ctx.caller, &name, &reference, pull)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(image.media_type.as_str())
        .insert_header(("Docker-Content-Digest", image.digest.as_str()))
        .insert_header(header::ETag(header::EntityTag::new_strong(
            image.digest.to_string(),
        )))
        .body(image.manifest))
}

/// The body, refused past the manifest size limit without reading further.
async fn read_manifest(mut payload: web::Payload) -> Result<Vec<u8>, OciError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| OciError::new(Code::ManifestInvalid, format!("unreadable body: {e}")))?;
        if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(OciError::new(
                Code::ManifestTooLarge,
                format!("manifests are limited to {MAX_MANIFEST_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// PUT: registers the manifest through the same service call as ECR's PutImage.
pub async fn put(
    ctx: Ctx,
    req: HttpRequest,
    path: Path,
    payload: web::Payload,
) -> Result<HttpResponse, OciError> {
    let (name, reference) = (ctx.name(&path.0)?, parse_reference(&path.1)?);
    let manifest = read_manifest(payload).await?;
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (tag, digest) = (reference.tag().cloned(), reference.digest().cloned());
    let put = PutImage {
        registry: None,
        name: name.clone(),
        manifest,
        media_type,
        tag,
        digest,
    };
    let (digest, subject) = match ctx.service.put_image(&ctx.caller, put).await {
        Ok(image) => (image.digest, image.subject),
        // PUT is idempotent: the same manifest under the same tag again is success,
        // answered as the first PUT was (with its OCI-Subject).
        Err(Error::ImageAlreadyExists { digest, .. }) => {
            let stored = ctx
                .service
                .manifest(&ctx.caller, &name, &ImageSelector::Digest(digest), false)
                .await?;
            (stored.digest, stored.subject)
        }
        Err(e) => return Err(e.into()),
    };
    let mut response = HttpResponse::Created();
    response
        .insert_header((
            header::LOCATION,
            format!("/v2/{}/manifests/{digest}", ctx.path(&name)),
        ))
        .insert_header(("Docker-Content-Digest", digest.as_str()));
    if let Some(subject) = subject {
        response.insert_header(("OCI-Subject", subject.as_str()));
    }
    Ok(response.finish())
}

/// DELETE: by tag removes only the tag, by digest the manifest and its tags.
pub async fn delete(ctx: Ctx, path: Path) -> Result<HttpResponse, OciError> {
    let (name, reference) = (ctx.name(&path.0)?, parse_reference(&path.1)?);
    ctx.service
        .delete_manifest(&ctx.caller, &name, &reference)
        .await?;
    Ok(HttpResponse::Accepted().finish())
}
