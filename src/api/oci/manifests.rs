use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::{caller_and_name, parse_reference, respond, Code, OciError};
use crate::auth::Credentials;
use crate::domain::MAX_MANIFEST_BYTES;
use crate::service::{Error, PutImage, Reference, Service};

type Path = web::Path<(String, String)>;

/// GET and HEAD: the exact bytes as stored, with their media type and digest. Only a
/// GET counts as a pull.
pub async fn get(
    req: HttpRequest,
    path: Path,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path.0)?;
            let reference = parse_reference(&path.1)?;
            let pull = req.method() == actix_web::http::Method::GET;
            let image = service.manifest(&caller, &name, &reference, pull).await?;
            Ok(HttpResponse::Ok()
                .content_type(image.media_type.as_str())
                .insert_header(("Docker-Content-Digest", image.digest.as_str()))
                .insert_header(header::ETag(header::EntityTag::new_strong(
                    image.digest.to_string(),
                )))
                .body(image.manifest))
        }
        .await,
    )
}

/// PUT: registers the manifest through the same service call as ECR's PutImage.
pub async fn put(
    req: HttpRequest,
    path: Path,
    mut payload: web::Payload,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path.0)?;
            let reference = parse_reference(&path.1)?;
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    OciError::new(Code::ManifestInvalid, format!("unreadable body: {e}"))
                })?;
                if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
                    return Err(OciError::new(
                        Code::SizeInvalid,
                        format!("manifests are limited to {MAX_MANIFEST_BYTES} bytes"),
                    )
                    .with_status(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE));
                }
                body.extend_from_slice(&chunk);
            }
            let media_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (tag, digest) = match reference {
                Reference::Tag(t) => (Some(t), None),
                Reference::Digest(d) => (None, Some(d)),
            };
            let put = PutImage {
                registry: None,
                name: name.clone(),
                manifest: body,
                media_type,
                tag,
                digest,
            };
            let (digest, subject) = match service.put_image(&caller, put).await {
                Ok(image) => (image.digest, image.subject),
                // PUT is idempotent: the same manifest under the same tag again is
                // success, answered as the first PUT was (with its OCI-Subject).
                Err(Error::ImageAlreadyExists { digest, .. }) => {
                    let stored = service
                        .manifest(&caller, &name, &Reference::Digest(digest), false)
                        .await?;
                    (stored.digest, stored.subject)
                }
                Err(e) => return Err(e.into()),
            };
            let mut response = HttpResponse::Created();
            response
                .insert_header((header::LOCATION, format!("/v2/{name}/manifests/{digest}")))
                .insert_header(("Docker-Content-Digest", digest.as_str()));
            if let Some(subject) = subject {
                response.insert_header(("OCI-Subject", subject.as_str()));
            }
            Ok(response.finish())
        }
        .await,
    )
}

/// DELETE: by tag removes only the tag, by digest the manifest and its tags.
pub async fn delete(
    req: HttpRequest,
    path: Path,
    service: web::Data<Service>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    respond(
        async {
            let (caller, name) = caller_and_name(&req, &service, &credentials, &path.0)?;
            let reference = parse_reference(&path.1)?;
            service.delete_manifest(&caller, &name, &reference).await?;
            Ok(HttpResponse::Accepted().finish())
        }
        .await,
    )
}
