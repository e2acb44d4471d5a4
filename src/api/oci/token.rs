//! The public registry's token endpoint and its Bearer tokens, as `public.ecr.aws`
//! serves them: `/v2/` challenges with `Bearer realm="<public registry>/token/"`, the
//! client asks `GET /token/?service=...&scope=repository:<alias>/<name>:pull,push`
//! (with Basic `AWS:<ECR Public password>`, or nothing to pull anonymously) and sends
//! the token back as `Authorization: Bearer`.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::SecondsFormat;
use serde_json::json;

use super::{holder, presented, Code, Face, OciError, Presented};
use crate::domain::RegistryId;
use crate::service::{Action, BearerCheck, Grant, Requester, Service};

const BASIC_OR_NONE: &str =
    "the token endpoint takes Basic credentials (user AWS, ECR Public's password) or none";
const REVOKED: &str =
    "the credential behind the bearer token is no longer configured; get a new token";

/// What a request does to the repository it names, as a scope's action.
fn action(req: &HttpRequest) -> Action {
    match *req.method() {
        Method::GET | Method::HEAD => Action::Pull,
        Method::DELETE => Action::Delete,
        _ => Action::Push,
    }
}

/// The public registry's `WWW-Authenticate` to `req`: Bearer, naming the token
/// endpoint and the scope the request needs, `repository:<alias>/<name>:<actions>` as
/// distribution names it (clients such as oras-py ask for the scope the challenge
/// names), or where it names no repository `aws`, as `public.ecr.aws` has it.
pub(super) fn challenge(service: &Service, face: &Face, req: &HttpRequest) -> String {
    let url = service.settings().public_registry_url.trim_end_matches('/');
    let scope = match req.match_info().get("name") {
        Some(path) if face.repository(path).is_ok() => {
            let actions = match action(req) {
                Action::Push => "pull,push",
                other => other.as_str(),
            };
            format!("repository:{path}:{actions}")
        }
        _ => "aws".to_owned(),
    };
    format!(
        "Bearer realm=\"{url}/token/\",service=\"{}\",scope=\"{scope}\"",
        service.public_registry_host()
    )
}

/// `GET /token/`: a token granting the requested scopes the caller may have. Scopes
/// that are malformed, not a repository's, or outside this registry are left out.
pub(super) async fn issue(
    req: HttpRequest,
    service: web::Data<Service>,
    face: web::Data<Face>,
    // Pairs, as a key may repeat; their decoding never fails (bad UTF-8 is replaced).
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, OciError> {
    let requester = match presented(&req) {
        None => Requester::Anonymous,
        Some(Presented::Basic(pair)) if pair == ":" => Requester::Anonymous,
        Some(Presented::Basic(pair)) => {
            let (account, access_key) = holder(&service, &face, &pair)?;
            Requester::Authenticated {
                account,
                access_key,
            }
        }
        Some(Presented::Bearer(_) | Presented::Unusable) => {
            return Err(OciError::new(Code::Unauthorized, BASIC_OR_NONE));
        }
    };
    // Docker repeats `scope`; OAuth2 separates scopes with spaces.
    let requested = query
        .iter()
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, scopes)| scopes.split_whitespace())
        .filter_map(|scope| requested_grant(&face, scope))
        .collect();
    let issued = service.issue_bearer_token(&requester, requested);
    Ok(HttpResponse::Ok().json(json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })))
}

/// `repository:<alias>/<name>:<action>,...` as a grant of the actions berth knows.
fn requested_grant(face: &Face, scope: &str) -> Option<Grant> {
    let (resource, actions) = scope.rsplit_once(':')?;
    let (kind, path) = resource.split_once(':')?;
    if kind != "repository" {
        return None;
    }
    let actions = actions
        .split(',')
        .flat_map(|a| match a {
            "*" => Action::ALL.to_vec(),
            a => Action::parse(a).into_iter().collect(),
        })
        .collect();
    Some(Grant {
        repository: face.repository(path).ok()?,
        actions,
    })
}

/// The account and access key behind a Bearer token, if it is valid and grants what
/// the request does to the repository its path names: `GET`/`HEAD` pull, `DELETE`
/// deletes, anything else pushes. Requests that name no repository (`/v2/`, the
/// catalog) need only a valid token; a path that names no repository of this registry
/// is refused by its handler.
pub(super) fn bearer(
    req: &HttpRequest,
    service: &Service,
    face: &Face,
    token: &str,
) -> Result<(RegistryId, Option<String>), OciError> {
    let unauthorized = |m: &str| face.unauthorized(service, req, m);
    let (registry, access_key, grants) = match service.check_bearer_token(token) {
        BearerCheck::Valid {
            registry,
            access_key,
            grants,
        } if registry.namespace == face.namespace => (registry, access_key, grants),
        BearerCheck::Valid { .. } | BearerCheck::Invalid => {
            return Err(unauthorized("the bearer token is not valid"));
        }
        BearerCheck::Expired => return Err(unauthorized("the bearer token has expired")),
        BearerCheck::Revoked => return Err(unauthorized(REVOKED)),
    };
    let action = action(req);
    let named = req
        .match_info()
        .get("name")
        .and_then(|path| face.repository(path).ok());
    match named {
        Some(name)
            if !grants
                .iter()
                .any(|g| g.repository == name && g.actions.contains(&action)) =>
        {
            Err(unauthorized(&format!(
                "the bearer token does not grant {} access to {}{name}: anonymous tokens grant \
                 pulls only; log in with ECR Public's authorization token to push",
                action.as_str(),
                face.prefix
            )))
        }
        _ => Ok((registry.account, access_key)),
    }
}
