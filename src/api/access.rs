//! Every request on every listener gets an id, a tracing span that carries it (so a
//! fault logged while serving the request names it), the id in a response header
//! (`x-amzn-RequestId` on the JSON faces, as AWS answers; `Docker-Request-Id`
//! elsewhere), one access-log line at info (face, action or route, status, duration,
//! bytes in and out, id), and its place in the metrics: counted by face, operation,
//! method and status with its latency, its body bytes counted as they are read
//! (through the body's idle timeout, `body_timeout`) and its response's as they go out.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use actix_web::http::Method;
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use prometheus::IntCounter;
use tracing::Instrument;

use super::body_timeout;
use crate::metrics::{Face, Metrics};

const AWS_REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const REGISTRY_REQUEST_ID: HeaderName = HeaderName::from_static("docker-request-id");

/// The operation of a request that names no action a face dispatches, or takes no
/// named route.
const OTHER: &str = "other";

/// Which face a request is for, and on the JSON faces the `X-Amz-Target` it sent.
fn face<'r>(listener: &'static str, req: &'r ServiceRequest) -> (Face, Option<&'r str>) {
    if req.path() == "/" && req.method() == Method::POST {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let face = match target.split_once('.') {
            Some(("SpencerFrontendService", _)) => Face::EcrPublic,
            _ => Face::Ecr,
        };
        return (face, Some(target));
    }
    let path = req.path();
    let face = match (listener, path.starts_with("/v2")) {
        ("public", true) => Face::PublicRegistry,
        ("public", false) if path.starts_with("/token") => Face::PublicRegistry,
        (_, true) => Face::Registry,
        _ => Face::Berth,
    };
    (face, None)
}

/// A method as a metrics label: one of a fixed set, whatever the client sent.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => OTHER,
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts its bytes as they go out.
    pub struct Counted<B> {
        #[pin]
        body: B,
        sent: IntCounter,
    }
}

impl<B: MessageBody> MessageBody for Counted<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let next = this.body.poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &next {
            this.sent.inc_by(chunk.len() as u64);
        }
        next
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Counted { body, sent } = self;
        match body.try_into_bytes() {
            Ok(bytes) => {
                sent.inc_by(bytes.len() as u64);
                Ok(bytes)
            }
            Err(body) => Err(Counted { body, sent }),
        }
    }
}

/// Wraps one listener's service: `listener` names it in the log (`main`, `public`);
/// request bodies fail after `body_idle` without a byte.
pub fn wrap<S, B>(
    listener: &'static str,
    metrics: Arc<Metrics>,
    body_idle: Duration,
) -> impl Fn(
    ServiceRequest,
    &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<Counted<B>>, actix_web::Error>>
       + Clone
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    move |mut req, srv| {
        let started = Instant::now();
        // Random as a version 4 uuid, from the thread's generator: no system call.
        let id = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .to_string();
        let (face, target) = face(listener, &req);
        // The log names the action as sent; the metrics only one a face dispatches.
        let action = target.map(|t| t.split_once('.').map_or("", |(_, a)| a).to_owned());
        let operation = target.map(|t| crate::api::awsjson::dispatched(t).unwrap_or(OTHER));
        let bytes_in = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let method = req.method().clone();
        body_timeout::apply(&mut req, body_idle, metrics.received(face).clone());
        let span = tracing::info_span!("request", id = %id);
        let response = span.in_scope(|| srv.call(req));
        let metrics = metrics.clone();
        Box::pin(
            async move {
                let mut res = response.await?;
                let status = res.status();
                let operation =
                    operation.unwrap_or_else(|| res.request().match_name().unwrap_or(OTHER));
                metrics.observe_request(
                    face,
                    operation,
                    method_label(&method),
                    status.as_str(),
                    started.elapsed(),
                );
                let header = if matches!(face, Face::Ecr | Face::EcrPublic) {
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
                    face = face.label(),
                    route,
                    status = status.as_u16(),
                    ms = started.elapsed().as_millis() as u64,
                    bytes_in,
                    bytes_out,
                    "served"
                );
                let sent = metrics.sent(face).clone();
                Ok(res.map_body(|_, body| Counted { body, sent }))
            }
            .instrument(span),
        )
    }
}
