//! The AWS JSON 1.1 protocol shared by the JSON faces: `POST /` with `X-Amz-Target`
//! picking the action, body limits, SigV4, JSON decoding and model validation, and
//! error rendering (`__type` in the body, `x-amzn-ErrorType` in a header).

mod body;
mod error;
pub mod spec;

use std::future::Future;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use body::UnverifiedBodies;
pub use error::ApiError;
use spec::{ServiceSpec, Violation};

use crate::auth::SigV4Error;
use crate::domain::{Namespace, Region, Registry};
use crate::service::{Caller, Service};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// What a handler gets: the service and the authenticated caller.
#[derive(Clone)]
pub struct Ctx {
    pub service: Service,
    pub caller: Caller,
}

/// Takes the validated request body; answers the encoded response body.
pub type Handler = fn(Ctx, Value) -> LocalBoxFuture<'static, Result<Vec<u8>, ApiError>>;

/// One JSON face: its model, signing name, the registry it serves and dispatch table.
pub struct Face {
    pub spec: &'static ServiceSpec,
    pub signing_name: &'static str,
    pub namespace: Namespace,
    pub actions: &'static [(&'static str, Handler)],
    /// Largest body per action, for the few that need more than the default.
    pub body_limits: &'static [(&'static str, usize)],
}

const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A dispatch-table entry: routes one action to its handler through `run`, which
/// decodes the input and encodes the output.
macro_rules! action {
    ($name:literal, $handler:path) => {
        (
            $name,
            (|ctx, body| Box::pin($crate::api::awsjson::run(ctx, body, $handler)))
                as $crate::api::awsjson::Handler,
        )
    };
}
pub(crate) use action;

/// Decodes a validated body into the action's input, runs `f`, encodes its output.
pub async fn run<I, O, F, Fut>(ctx: Ctx, body: Value, f: F) -> Result<Vec<u8>, ApiError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(Ctx, I) -> Fut,
    Fut: Future<Output = Result<O, ApiError>>,
{
    let input: I =
        serde_json::from_value(body).map_err(|e| ApiError::serialization(e.to_string()))?;
    let output = f(ctx, input).await?;
    // Straight to bytes: no intermediate `Value` tree to build, print and drop.
    serde_json::to_vec(&output).map_err(|e| ApiError::internal(anyhow::Error::new(e)))
}

fn faces() -> [&'static Face; 2] {
    [crate::api::ecr::face(), crate::api::ecr_public::face()]
}

/// The action an `X-Amz-Target` names, spelled as the dispatch table of the face its
/// prefix picks spells it (a name from a fixed set, for metrics' labels); `None` when
/// no face dispatches it.
pub fn dispatched(target: &str) -> Option<&'static str> {
    let (prefix, action) = target.split_once('.')?;
    let face = faces()
        .into_iter()
        .find(|f| f.spec.target_prefix() == prefix)?;
    face.actions
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(a, _)| *a)
}

/// `POST /`: every JSON action of every face.
pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<Service>,
    unverified: web::Data<UnverifiedBodies>,
) -> HttpResponse {
    match dispatch(&req, payload, service.get_ref().clone(), &unverified).await {
        Ok(body) => HttpResponse::Ok().content_type(CONTENT_TYPE).body(body),
        Err(e) => e.render(),
    }
}

async fn dispatch(
    req: &HttpRequest,
    payload: web::Payload,
    service: Service,
    unverified: &UnverifiedBodies,
) -> Result<Vec<u8>, ApiError> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let unknown = || {
        ApiError::client(
            "UnknownOperationException",
            format!("The operation '{target}' is not known"),
        )
    };
    let (prefix, action) = target.split_once('.').ok_or_else(unknown)?;
    let face = faces()
        .into_iter()
        .find(|f| f.spec.target_prefix() == prefix)
        .ok_or_else(unknown)?;
    if !face.spec.is_modelled(action) {
        return Err(unknown());
    }
    let limit = face
        .body_limits
        .iter()
        .find(|(a, _)| *a == action)
        .map_or(DEFAULT_BODY_LIMIT, |(_, l)| *l);
    // The head is authenticated before any of the body is read; the body is then
    // read into the signature's hash, and only a verified body is looked at.
    let stage = service
        .authority()
        .credentials()
        .check_headers(req, face.signing_name)
        .map_err(auth_error)?;
    let budget = (!stage.is_authenticated()).then_some(unverified);
    let body = body::read(req, payload, limit, budget).await?;
    let verified = stage.finish(&body.sha256).map_err(auth_error)?;
    let body = body.into_bytes();
    let Some((_, handler)) = face.actions.iter().find(|(a, _)| *a == action) else {
        return Err(ApiError::client(
            "UnsupportedOperationException",
            format!("berth does not implement {action} yet"),
        ));
    };
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::serialization(format!("The request body is not valid JSON: {e}"))
        })?
    };
    face.spec
        .validate_input(action, &value)
        .map_err(|v| match v {
            Violation::Serialization(m) => ApiError::serialization(m),
            Violation::InvalidParameter(m) => ApiError::invalid_parameter(m),
        })?;
    let region = Region::parse(&verified.region).map_err(|e| {
        ApiError::client(
            "InvalidSignatureException",
            format!("The credential scope's region is invalid: {e}"),
        )
    })?;
    let principal = service
        .authority()
        .credentials()
        .principal(Some(&verified.access_key_id));
    let (source_ip, secure_transport) = crate::api::network(req);
    let caller = Caller {
        registry: Registry::of(principal.account.clone(), region, face.namespace),
        principal,
        access_key: Some(verified.access_key_id),
        source_ip,
        secure_transport,
    };
    handler(Ctx { service, caller }, value).await
}

fn auth_error(e: SigV4Error) -> ApiError {
    let (kind, message) = match &e {
        SigV4Error::Missing => (
            "MissingAuthenticationTokenException",
            "Missing Authentication Token".to_owned(),
        ),
        SigV4Error::Incomplete(m) => ("IncompleteSignatureException", m.clone()),
        SigV4Error::UnknownKey(_) => (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".to_owned(),
        ),
        SigV4Error::Invalid(m) => ("InvalidSignatureException", m.clone()),
    };
    ApiError::client(kind, message)
}
