//! The public registry's token endpoint and its Bearer tokens, as `public.ecr.aws`
//! serves them: `/v2/` challenges with `Bearer realm="<public registry>/token/"`, the
//! client asks `GET /token/?service=...&scope=repository:<alias>/<name>:pull,push`
//! (with Basic `AWS:<ECR Public password>`, or nothing to pull anonymously) and sends
//! the token back as `Authorization: Bearer`.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::SecondsFormat;
use serde_json::json;

use super::{action, presented, Code, Listener, OciError};
use crate::auth::{Action, Grant, Refusal};
use crate::service::Service;

/// The public registry's `WWW-Authenticate` to `req`: Bearer, naming the token
/// endpoint and the scope the request needs, `repository:<alias>/<name>:<actions>` as
/// distribution names it (clients such as oras-py ask for the scope the challenge
/// names), or where it names no repository `aws`, as `public.ecr.aws` has it.
pub(super) fn challenge(service: &Service, listener: &Listener, req: &HttpRequest) -> String {
    let url = service.settings().public_registry_url.trim_end_matches('/');
    let scope = match req.match_info().get("name") {
        Some(path) if listener.repository(path).is_ok() => {
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
    listener: web::Data<Listener>,
    // Pairs, as a key may repeat; their decoding never fails (bad UTF-8 is replaced).
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, OciError> {
    let requester = service
        .authority()
        .token_requester(presented(&req))
        .map_err(|refusal| match refusal {
            Refusal::Unusable { .. } => OciError::new(
                Code::Unauthorized,
                "the token endpoint takes Basic credentials (user AWS, ECR Public's password) or none",
            ),
            other => OciError::from(other),
        })?;
    // Docker repeats `scope`; OAuth2 separates scopes with spaces.
    let requested = query
        .iter()
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, scopes)| scopes.split_whitespace())
        .filter_map(|scope| requested_grant(&listener, scope))
        .collect();
    let issued = service
        .authority()
        .issue_bearer(requester.as_ref(), requested);
    Ok(HttpResponse::Ok().json(json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })))
}

/// `repository:<alias>/<name>:<action>,...` as a grant of the actions berth knows.
fn requested_grant(listener: &Listener, scope: &str) -> Option<Grant> {
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
        repository: listener.repository(path).ok()?,
        actions,
    })
}
