//! The registry face: Docker Registry HTTP API V2 / OCI distribution 1.1 under `/v2/`.
//! Handlers parse paths and headers into domain types, call one service method, and
//! answer with the spec's status codes and headers. Writes run the same service
//! functions as ECR's PutImage and layer uploads.

mod blobs;
mod error;
mod listings;
mod manifests;
mod token;

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub use error::{Code, OciError};

use crate::auth::{Access, Action, Presented};
use crate::domain::{
    Digest, ImageSelector, ImageTag, Namespace, Region, RegistryAlias, RegistryId, RepositoryName,
    UploadId,
};
use crate::service::{Caller, Service};

/// Which registry a `/v2/` listener serves. The private one names repositories by
/// their names; the public one, like `public.ecr.aws`, by `<alias>/<name>`, and lets
/// anyone pull.
#[derive(Debug, Clone)]
pub struct Listener {
    namespace: Namespace,
    prefix: String,
}

impl Listener {
    pub fn private() -> Self {
        Self {
            namespace: Namespace::Private,
            prefix: String::new(),
        }
    }

    pub fn public(alias: &RegistryAlias) -> Self {
        Self {
            namespace: Namespace::Public,
            prefix: format!("{alias}/"),
        }
    }

    /// The repository a path names: on the public registry, `<alias>/<name>`.
    fn repository(&self, path: &str) -> Result<RepositoryName, OciError> {
        let name = path.strip_prefix(&self.prefix).ok_or_else(|| {
            OciError::new(
                Code::NameUnknown,
                format!(
                    "repository name not known to registry: names here begin with '{}'",
                    self.prefix
                ),
            )
        })?;
        RepositoryName::parse(name)
            .map_err(|e| OciError::new(Code::NameInvalid, format!("invalid repository name: {e}")))
    }

    /// This registry's challenge to `req` where it is not Basic: on the public
    /// registry, Bearer naming the token endpoint.
    fn challenge(&self, service: &Service, req: &HttpRequest) -> Option<String> {
        (self.namespace == Namespace::Public).then(|| token::challenge(service, self, req))
    }
}

pub fn configure(listener: Listener) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| routes(cfg, listener)
}

/// Each resource is named for the metrics' `operation` label (`access`): a fixed set,
/// never the path as sent.
fn routes(cfg: &mut web::ServiceConfig, listener: Listener) {
    if listener.namespace == Namespace::Public {
        cfg.service(
            web::resource(["/token", "/token/"])
                .name("token")
                .app_data(web::Data::new(listener.clone()))
                .route(web::get().to(token::issue)),
        );
    }
    let unsupported = || {
        web::to(|| async { OciError::new(Code::Unsupported, "method not supported here").render() })
    };
    cfg.service(
        web::scope("/v2")
            .app_data(web::Data::new(listener))
            .wrap(DefaultHeaders::new().add(("Docker-Distribution-Api-Version", "registry/2.0")))
            .app_data(web::QueryConfig::default().error_handler(|e, _| undecodable(e)))
            .app_data(web::PathConfig::default().error_handler(|e, _| undecodable(e)))
            .service(
                web::resource(["", "/"])
                    .name("base")
                    .route(web::get().to(base))
                    .route(web::head().to(base))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/_catalog")
                    .name("catalog")
                    .route(web::get().to(listings::catalog))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/manifests/{reference}")
                    .name("manifest")
                    .route(web::get().to(manifests::get))
                    .route(web::head().to(manifests::get))
                    .route(web::put().to(manifests::put))
                    .route(web::delete().to(manifests::delete))
                    .default_service(unsupported()),
            )
            .service(
                web::resource(["/{name:.+}/blobs/uploads/", "/{name:.+}/blobs/uploads"])
                    .name("upload")
                    .route(web::post().to(blobs::start_upload))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/blobs/uploads/{id}")
                    .name("upload")
                    .route(web::get().to(blobs::upload_status))
                    .route(web::patch().to(blobs::patch_upload))
                    .route(web::put().to(blobs::finish_upload))
                    .route(web::delete().to(blobs::cancel_upload))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/blobs/{digest}")
                    .name("blob")
                    .route(web::get().to(blobs::get))
                    .route(web::head().to(blobs::get))
                    .route(web::delete().to(blobs::delete))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/tags/list")
                    .name("tags")
                    .route(web::get().to(listings::tags))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/referrers/{digest}")
                    .name("referrers")
                    .route(web::get().to(listings::referrers))
                    .default_service(unsupported()),
            )
            .default_service(web::to(|| async {
                OciError::new(Code::NameUnknown, "no such endpoint").render()
            })),
    );
}

/// A query string or path that cannot be decoded (a repeated parameter, bytes that
/// are not UTF-8), answered in the registry's error form rather than actix's text.
fn undecodable(e: impl std::fmt::Debug + std::fmt::Display + 'static) -> actix_web::Error {
    let response = OciError::new(
        Code::Undecodable,
        format!("the request cannot be decoded: {e}"),
    )
    .render();
    actix_web::error::InternalError::from_response(e, response).into()
}

/// `GET /v2/`: answers 200 to an authorised caller, so clients learn how to log in.
async fn base(_: Ctx) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({}))
}

/// The service and the authenticated caller of a registry request: every handler's
/// first argument, so a refused caller is answered before the handler runs.
pub(crate) struct Ctx {
    pub service: web::Data<Service>,
    pub caller: Caller,
    listener: web::Data<Listener>,
}

impl Ctx {
    /// The repository a path names: on the public registry, `<alias>/<name>`.
    pub fn name(&self, path: &str) -> Result<RepositoryName, OciError> {
        self.listener.repository(path)
    }

    /// A name as the service lists it: without the public alias prefix.
    pub fn unprefixed<'a>(&self, path: &'a str) -> &'a str {
        path.strip_prefix(&self.listener.prefix).unwrap_or(path)
    }

    /// How a path names the repository: the inverse of `name`.
    pub fn path(&self, name: &RepositoryName) -> String {
        format!("{}{name}", self.listener.prefix)
    }
}

impl FromRequest for Ctx {
    type Error = OciError;
    type Future = std::future::Ready<Result<Self, OciError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<Service>>()
            .zip(req.app_data::<web::Data<Listener>>());
        std::future::ready(match state {
            Some((service, listener)) => caller(req, service, listener).map(|caller| Ctx {
                service: service.clone(),
                caller,
                listener: listener.clone(),
            }),
            None => Err(OciError::new(
                Code::Internal,
                "the application state is missing",
            )),
        })
    }
}

/// Who is calling, as the authority admits the request (see `auth::registry` for the
/// rules); refused requests get this registry's challenge.
fn caller(req: &HttpRequest, service: &Service, listener: &Listener) -> Result<Caller, OciError> {
    let named = req
        .match_info()
        .get("name")
        .and_then(|path| listener.repository(path).ok());
    let host_registry = match listener.namespace {
        Namespace::Private => named_registry(req.connection_info().host()),
        Namespace::Public => None,
    };
    let access = Access {
        namespace: listener.namespace,
        named: host_registry.as_ref(),
        base: matches!(req.path(), "/v2" | "/v2/"),
        action: action(req),
        repository: named.as_ref(),
    };
    let admitted = service
        .authority()
        .admit(presented(req), access)
        .map_err(|refusal| {
            OciError::from(refusal).with_challenge(listener.challenge(service, req))
        })?;
    let (source_ip, secure_transport) = crate::api::network(req);
    Ok(Caller {
        principal: admitted.principal,
        registry: admitted.registry,
        access_key: admitted.access_key,
        source_ip,
        secure_transport,
    })
}

/// The private registry a host names, as AWS's do: `<account>.dkr.ecr.<region>.<any
/// domain>[:port]`.
fn named_registry(host: &str) -> Option<(RegistryId, Region)> {
    let mut labels = host.split('.');
    let account = RegistryId::parse(labels.next()?).ok()?;
    match (labels.next(), labels.next(), labels.next()) {
        (Some("dkr"), Some("ecr"), Some(region)) => Some((account, Region::parse(region).ok()?)),
        _ => None,
    }
}

/// What a request does to the repository it names, as a token scope's action.
fn action(req: &HttpRequest) -> Action {
    match *req.method() {
        Method::GET | Method::HEAD => Action::Pull,
        Method::DELETE => Action::Delete,
        _ => Action::Push,
    }
}

/// The credentials a request presents; the scheme's name is case-insensitive, as HTTP
/// says.
fn presented(req: &HttpRequest) -> Presented {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Presented::None;
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim_start().split_once(' '))
        .and_then(|(scheme, rest)| {
            if scheme.eq_ignore_ascii_case("basic") {
                let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
                let (user, password) = decoded.split_once(':')?;
                Some(Presented::Basic {
                    user: user.to_owned(),
                    password: password.to_owned(),
                })
            } else if scheme.eq_ignore_ascii_case("bearer") {
                Some(Presented::Bearer(rest.trim().to_owned()))
            } else {
                None
            }
        })
        .unwrap_or(Presented::Unusable)
}

pub(crate) fn parse_digest(s: &str) -> Result<Digest, OciError> {
    Digest::parse(s)
        .map_err(|e| OciError::new(Code::DigestInvalid, format!("invalid digest '{s}': {e}")))
}

/// A tag, or a digest when it has the digest form.
pub(crate) fn parse_reference(s: &str) -> Result<ImageSelector, OciError> {
    if s.contains(':') {
        parse_digest(s).map(ImageSelector::Digest)
    } else {
        ImageTag::parse(s)
            .map(ImageSelector::Tag)
            .map_err(|e| OciError::new(Code::TagInvalid, format!("invalid tag '{s}': {e}")))
    }
}

pub(crate) fn parse_upload_id(s: &str) -> Result<UploadId, OciError> {
    UploadId::parse(s)
        .map_err(|_| OciError::new(Code::BlobUploadUnknown, format!("unknown upload '{s}'")))
}
