//! Every request on every listener gets an id, a tracing span that carries it (so a
//! fault logged while serving the request names it), the id in a response header
//! (`x-amzn-RequestId` on the JSON faces, as AWS answers; `Docker-Request-Id`
//! elsewhere), and one access-log line at info: face, action or route, status,
//! duration, bytes in and out, id.

use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use actix_web::http::Method;
use futures_util::future::LocalBoxFuture;
use tracing::Instrument;

const AWS_REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const REGISTRY_REQUEST_ID: HeaderName = HeaderName::from_static("docker-request-id");

/// Which face a request is for, and the action it names or the route it took.
fn face(listener: &'static str, req: &ServiceRequest) -> (&'static str, Option<String>) {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    if req.path() == "/" && req.method() == Method::POST {
        let (face, action) = match target.and_then(|t| t.split_once('.')) {
            Some(("SpencerFrontendService", action)) => ("ecr-public", action),
            Some((_, action)) => ("ecr", action),
            None => ("ecr", ""),
        };
        return (face, Some(action.to_owned()));
    }
    let face = match (listener, req.path().starts_with("/v2")) {
        ("public", true) => "public-registry",
        (_, true) => "registry",
        _ => "berth",
    };
    (face, None)
}

/// Wraps one listener's service: `listener` names it in the log (`main`, `public`).
pub fn wrap<S, B>(
    listener: &'static str,
) -> impl Fn(
    ServiceRequest,
    &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>
       + Clone
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    move |req, srv| {
        let started = Instant::now();
        let id = uuid::Uuid::new_v4().to_string();
        let (face, action) = face(listener, &req);
        let bytes_in = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let method = req.method().clone();
        let span = tracing::info_span!("request", id = %id);
        let response = span.in_scope(|| srv.call(req));
        Box::pin(
            async move {
                let mut res = response.await?;
                let header = if face.starts_with("ecr") {
                    AWS_REQUEST_ID
                } else {
                    REGISTRY_REQUEST_ID
                };
                if let Ok(value) = HeaderValue::from_str(&id) {
                    res.headers_mut().insert(header, value);
                }
                let route = action.unwrap_or_else(|| {
                    let path = res
                        .request()
                        .match_pattern()
                        .unwrap_or_else(|| res.request().path().to_owned());
                    format!("{method} {path}")
                });
                let bytes_out = match res.response().body().size() {
                    BodySize::Sized(n) => Some(n),
                    BodySize::None => Some(0),
                    BodySize::Stream => None,
                };
                tracing::info!(
                    face,
                    route,
                    status = res.status().as_u16(),
                    ms = started.elapsed().as_millis() as u64,
                    bytes_in,
                    bytes_out,
                    "served"
                );
                Ok(res)
            }
            .instrument(span),
        )
    }
}
