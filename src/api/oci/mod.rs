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

use crate::domain::{
    Digest, ImageSelector, ImageTag, Namespace, RegistryAlias, RegistryId, RepositoryName, UploadId,
};
use crate::service::{Caller, PasswordCheck, Service, TOKEN_USER};

/// The registry face signs nothing region-specific; callers get this one.
const REGION: &str = "us-east-1";

/// Which registry a `/v2/` listener serves. The private one names repositories by
/// their names; the public one, like `public.ecr.aws`, by `<alias>/<name>`, and lets
/// anyone pull.
#[derive(Debug, Clone)]
pub struct Face {
    namespace: Namespace,
    prefix: String,
}

impl Face {
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

    /// A 401 with this registry's challenge.
    fn unauthorized(&self, service: &Service, req: &HttpRequest, message: &str) -> OciError {
        OciError::new(Code::Unauthorized, message).with_challenge(self.challenge(service, req))
    }
}

pub fn configure(face: Face) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| routes(cfg, face)
}

fn routes(cfg: &mut web::ServiceConfig, face: Face) {
    if face.namespace == Namespace::Public {
        cfg.service(
            web::resource(["/token", "/token/"])
                .app_data(web::Data::new(face.clone()))
                .route(web::get().to(token::issue)),
        );
    }
    let unsupported = || {
        web::to(|| async { OciError::new(Code::Unsupported, "method not supported here").render() })
    };
    cfg.service(
        web::scope("/v2")
            .app_data(web::Data::new(face))
            .wrap(DefaultHeaders::new().add(("Docker-Distribution-Api-Version", "registry/2.0")))
            .app_data(web::QueryConfig::default().error_handler(|e, _| undecodable(e)))
            .app_data(web::PathConfig::default().error_handler(|e, _| undecodable(e)))
            .service(
                web::resource(["", "/"])
                    .route(web::get().to(base))
                    .route(web::head().to(base))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/_catalog")
                    .route(web::get().to(listings::catalog))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/manifests/{reference}")
                    .route(web::get().to(manifests::get))
                    .route(web::head().to(manifests::get))
                    .route(web::put().to(manifests::put))
                    .route(web::delete().to(manifests::delete))
                    .default_service(unsupported()),
            )
            .service(
                web::resource(["/{name:.+}/blobs/uploads/", "/{name:.+}/blobs/uploads"])
                    .route(web::post().to(blobs::start_upload))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/blobs/uploads/{id}")
                    .route(web::get().to(blobs::upload_status))
                    .route(web::patch().to(blobs::patch_upload))
                    .route(web::put().to(blobs::finish_upload))
                    .route(web::delete().to(blobs::cancel_upload))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/blobs/{digest}")
                    .route(web::get().to(blobs::get))
                    .route(web::head().to(blobs::get))
                    .route(web::delete().to(blobs::delete))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/tags/list")
                    .route(web::get().to(listings::tags))
                    .default_service(unsupported()),
            )
            .service(
                web::resource("/{name:.+}/referrers/{digest}")
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
async fn base(_: Registry) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({}))
}

/// The service and the authenticated caller of a registry request: every handler's
/// first argument, so a refused caller is answered before the handler runs.
pub(crate) struct Registry {
    pub service: web::Data<Service>,
    pub caller: Caller,
    face: web::Data<Face>,
}

impl Registry {
    /// The repository a path names: on the public registry, `<alias>/<name>`.
    pub fn name(&self, path: &str) -> Result<RepositoryName, OciError> {
        self.face.repository(path)
    }

    /// A name as the service lists it: without the public alias prefix.
    pub fn unprefixed<'a>(&self, path: &'a str) -> &'a str {
        path.strip_prefix(&self.face.prefix).unwrap_or(path)
    }

    /// How a path names the repository: the inverse of `name`.
    pub fn path(&self, name: &RepositoryName) -> String {
        format!("{}{name}", self.face.prefix)
    }
}

impl FromRequest for Registry {
    type Error = OciError;
    type Future = std::future::Ready<Result<Self, OciError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<Service>>()
            .zip(req.app_data::<web::Data<Face>>());
        std::future::ready(match state {
            Some((service, face)) => caller(req, service, face).map(|caller| Registry {
                service: service.clone(),
                caller,
                face: face.clone(),
            }),
            None => Err(OciError::new(
                Code::Internal,
                "the application state is missing",
            )),
        })
    }
}

/// Who is calling: Basic credentials from GetAuthorizationToken for this registry, a
/// Bearer token from the public registry's token endpoint, or anonymous in open mode
/// and for pulls from the public registry. A credential that is presented must be
/// valid even where none is needed.
fn caller(req: &HttpRequest, service: &Service, face: &Face) -> Result<Caller, OciError> {
    let caller = |(account, access_key)| Caller {
        account,
        region: REGION.into(),
        namespace: face.namespace,
        access_key,
    };
    let public = face.namespace == Namespace::Public;
    match presented(req) {
        // Clients that hold no credentials answer a Basic challenge with an empty pair.
        None => {}
        Some(Presented::Basic(pair)) if pair == ":" => {}
        Some(Presented::Basic(pair)) => {
            return holder(service, face, &pair)
                .map(caller)
                .map_err(|e| e.with_challenge(face.challenge(service, req)));
        }
        Some(Presented::Bearer(token)) if public => {
            return token::bearer(req, service, face, &token).map(caller);
        }
        Some(_) => {
            let expected = if public {
                "expected Basic or Bearer credentials"
            } else {
                "expected Basic credentials"
            };
            return Err(face.unauthorized(service, req, expected));
        }
    }
    // The base endpoint still challenges: clients decide there whether to send
    // the credentials they hold, and would otherwise push without them.
    let base = matches!(req.path(), "/v2" | "/v2/");
    let public_read = public && !base && matches!(*req.method(), Method::GET | Method::HEAD);
    if service.settings().credentials.is_open() || public_read {
        Ok(caller((service.settings().account.clone(), None)))
    } else {
        Err(face.unauthorized(service, req, "authentication required"))
    }
}

/// Credentials as an `Authorization` header presents them.
enum Presented {
    /// `user:password`
    Basic(String),
    Bearer(String),
    /// Another scheme, or Basic that does not decode.
    Unusable,
}

/// The credentials a request presents, if any; the scheme's name is case-insensitive,
/// as HTTP says.
fn presented(req: &HttpRequest) -> Option<Presented> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.trim_start().split_once(' '))
        .and_then(|(scheme, rest)| {
            if scheme.eq_ignore_ascii_case("basic") {
                let decoded = STANDARD.decode(rest.trim()).ok()?;
                String::from_utf8(decoded).ok().map(Presented::Basic)
            } else if scheme.eq_ignore_ascii_case("bearer") {
                Some(Presented::Bearer(rest.trim().to_owned()))
            } else {
                None
            }
        });
    Some(parsed.unwrap_or(Presented::Unusable))
}

/// The account and access key behind a Basic `AWS:<password>` pair, when the password
/// is a valid GetAuthorizationToken password of this face's registry.
fn holder(
    service: &Service,
    face: &Face,
    pair: &str,
) -> Result<(RegistryId, Option<String>), OciError> {
    let unauthorized = |m: &str| OciError::new(Code::Unauthorized, m);
    let (user, password) = pair
        .split_once(':')
        .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
    if user != TOKEN_USER {
        return Err(unauthorized(
            "the user name must be AWS, with a password from GetAuthorizationToken",
        ));
    }
    match service.check_registry_password(password) {
        PasswordCheck::Valid {
            registry,
            access_key,
        } if registry.namespace == face.namespace => Ok((registry.account, access_key)),
        PasswordCheck::Valid { .. } => Err(unauthorized(
            "the authorization token is for the account's other registry: ECR and ECR Public tokens differ",
        )),
        PasswordCheck::Expired => Err(OciError::new(
            Code::Denied,
            "the authorization token has expired",
        )),
        PasswordCheck::Revoked => Err(unauthorized(
            "the credential that minted the authorization token is no longer configured; get a new token",
        )),
        PasswordCheck::Invalid => Err(unauthorized("the authorization token is not valid")),
    }
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
