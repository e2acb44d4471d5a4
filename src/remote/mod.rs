//! Another registry, spoken to over the registry protocol (OCI distribution): the
//! upstream of a pull-through cache rule, or a replication destination berth does not
//! host.
//!
//! Requests go out anonymously until the remote challenges; then with Basic
//! credentials, or with a Bearer token from the realm its challenge names (the flow of
//! Docker Hub, GHCR and distribution), kept per scope until it expires. Manifests are
//! read whole (they are small and bounded) and checked against their digest; blobs are
//! streamed, and whoever stores them checks theirs.

mod challenge;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use reqwest::header::{
    HeaderMap, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;

use crate::domain::{Digest, Hasher, MAX_MANIFEST_BYTES, MEDIA_TYPES};
use challenge::Challenge;

/// How long a connection may take to open, and a response to go without a byte.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// A token's life when its issuer does not say (the distribution spec's default).
const TOKEN_LIFE: Duration = Duration::from_secs(60);

/// A user name and password (or access token) for a remote registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a request to a remote registry failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// No answer, or a fault on its side (5xx, 429): trying again later may help.
    #[error("the remote registry is unreachable: {0}")]
    Unreachable(String),
    /// 401: the credentials are missing or wrong.
    #[error("the remote registry refused the credentials: {0}")]
    Unauthorized(String),
    /// 403: the credentials do not allow this.
    #[error("the remote registry denied access: {0}")]
    Denied(String),
    /// 404: no such repository, manifest or blob.
    #[error("not found on the remote registry: {0}")]
    NotFound(String),
    /// Another 4xx: the remote refused the request.
    #[error("the remote registry refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// A URL or name berth cannot use, or an answer that breaks the protocol.
    #[error("{0}")]
    Invalid(String),
}

/// A manifest as the remote serves it, its bytes checked against `digest`.
#[derive(Debug, Clone)]
pub struct RemoteManifest {
    pub body: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

/// A manifest that names another as its subject, as the remote's referrers API lists
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteReferrer {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    pub artifact_type: Option<String>,
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A blob's bytes on their way from the remote.
pub struct RemoteBlob {
    /// The length the remote announced.
    pub size: Option<u64>,
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

/// One remote registry; clones share its connections and tokens.
#[derive(Clone)]
pub struct Remote {
    inner: Arc<Inner>,
}

struct Inner {
    base: Url,
    credential: Option<Credential>,
    http: reqwest::Client,
    /// What the remote's challenges asked for, and the Bearer tokens held, by scope.
    auth: Mutex<Auth>,
}

#[derive(Default)]
struct Auth {
    challenge: Option<Challenge>,
    tokens: HashMap<String, (String, Instant)>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url())
            .field("credential", &self.inner.credential)
            .finish()
    }
}

/// What a request needs of the remote's authorization: to pull, or to push too.
#[derive(Debug, Clone, Copy)]
enum Need {
    Pull,
    Push,
}

impl Remote {
    /// A registry at `url`: `http://` or `https://`, a host and maybe a port, no path.
    pub fn new(url: &str, credential: Option<Credential>) -> Result<Remote, RemoteError> {
        let invalid = |why: &str| RemoteError::Invalid(format!("registry URL {url:?}: {why}"));
        let base = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.host_str().is_none() {
            return Err(invalid("it names no host"));
        }
        if base.path() != "/" || base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("it must be a host and port only, without a path"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid("credentials do not go in the URL"));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| RemoteError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Remote {
            inner: Arc::new(Inner {
                base,
                credential,
                http,
                auth: Mutex::default(),
            }),
        })
    }

    /// The URL as given, without its trailing slash.
    pub fn url(&self) -> &str {
        self.inner.base.as_str().trim_end_matches('/')
    }

    /// Whether the registry answers `/v2/` to these credentials.
    pub async fn ping(&self) -> Result<(), RemoteError> {
        let url = self.endpoint("/v2/")?;
        self.send(None, Need::Pull, || self.inner.http.get(url.clone()))
            .await?;
        Ok(())
    }

    /// The manifest `reference` (a tag or a digest) names, checked against the digest
    /// when the reference is one.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<RemoteManifest, RemoteError> {
        let url = self.endpoint(&format!("/v2/{}/manifests/{reference}", path(repository)?))?;
        let response = self
            .send(Some(repository), Need::Pull, || {
                self.inner
                    .http
                    .get(url.clone())
                    .header(ACCEPT, MEDIA_TYPES.join(", "))
            })
            .await?;
        let media_type = content_type(response.headers()).unwrap_or_default();
        let body = bounded_body(response, MAX_MANIFEST_BYTES).await?;
        let digest = match Digest::parse(reference) {
            Ok(wanted) => {
                let mut hasher = Hasher::new(wanted.algorithm());
                hasher.update(&body);
                if hasher.finish() != wanted {
                    return Err(RemoteError::Invalid(format!(
                        "the manifest served for {repository}@{wanted} has another digest"
                    )));
                }
                wanted
            }
            Err(_) => Digest::sha256_of(&body),
        };
        Ok(RemoteManifest {
            body,
            media_type,
            digest,
        })
    }

    /// The digest of the manifest `reference` names, from a HEAD where the remote
    /// tells it, else from the manifest itself.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Digest, RemoteError> {
        let url = self.endpoint(&format!("/v2/{}/manifests/{reference}", path(repository)?))?;
        let response = self
            .send(Some(repository), Need::Pull, || {
                self.inner
                    .http
                    .head(url.clone())
                    .header(ACCEPT, MEDIA_TYPES.join(", "))
            })
            .await?;
        let told = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok());
        match told {
            Some(digest) => Ok(digest),
            None => Ok(self.manifest(repository, reference).await?.digest),
        }
    }

    /// The manifests whose subject is `digest`, from the referrers API; none where the
    /// remote does not have that API (it answers 404).
    pub async fn referrers(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Vec<RemoteReferrer>, RemoteError> {
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<RemoteReferrer>,
        }
        let url = self.endpoint(&format!("/v2/{}/referrers/{digest}", path(repository)?))?;
        let response = self
            .send(Some(repository), Need::Pull, || {
                self.inner.http.get(url.clone())
            })
            .await;
        let response = match response {
            Ok(response) => response,
            Err(RemoteError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let body = bounded_body(response, MAX_MANIFEST_BYTES).await?;
        let index: Index = serde_json::from_slice(&body)
            .map_err(|e| RemoteError::Invalid(format!("the remote's referrers list: {e}")))?;
        Ok(index.manifests)
    }

    /// A blob's bytes, streamed (redirects to a storage URL followed).
    pub async fn blob(&self, repository: &str, digest: &Digest) -> Result<RemoteBlob, RemoteError> {
        let url = self.endpoint(&format!("/v2/{}/blobs/{digest}", path(repository)?))?;
        let response = self
            .send(Some(repository), Need::Pull, || {
                self.inner.http.get(url.clone())
            })
            .await?;
        let size = response.content_length();
        let body = response
            .bytes_stream()
            .map_err(|e| std::io::Error::other(describe(&e)))
            .boxed();
        Ok(RemoteBlob { size, body })
    }

    /// Whether the repository holds the blob.
    pub async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, RemoteError> {
        let url = self.endpoint(&format!("/v2/{}/blobs/{digest}", path(repository)?))?;
        let found = self
            .send(Some(repository), Need::Pull, || {
                self.inner.http.head(url.clone())
            })
            .await;
        match found {
            Ok(_) => Ok(true),
            Err(RemoteError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Uploads a blob of `size` bytes in one request, streaming `body`.
    pub async fn push_blob<S>(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        body: S,
    ) -> Result<(), RemoteError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let start = self.endpoint(&format!("/v2/{}/blobs/uploads/", path(repository)?))?;
        // The upload's start settles the authorization: the body cannot be sent twice.
        let started = self
            .send(Some(repository), Need::Push, || {
                self.inner
                    .http
                    .post(start.clone())
                    .header(CONTENT_LENGTH, 0)
            })
            .await?;
        let location = started
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RemoteError::Invalid("an upload started without a Location".into()))?;
        let mut url = self
            .inner
            .base
            .join(location)
            .map_err(|e| RemoteError::Invalid(format!("upload Location {location:?}: {e}")))?;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let request = self
            .inner
            .http
            .put(url)
            .header(CONTENT_LENGTH, size)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        let request = self.authorize(request, Some(repository), Need::Push);
        check(request.send().await.map_err(unreachable)?).await?;
        Ok(())
    }

    /// Puts a manifest under `reference` (a tag or its digest).
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<(), RemoteError> {
        let url = self.endpoint(&format!("/v2/{}/manifests/{reference}", path(repository)?))?;
        self.send(Some(repository), Need::Push, || {
            self.inner
                .http
                .put(url.clone())
                .header(CONTENT_TYPE, media_type)
                .body(body.clone())
        })
        .await?;
        Ok(())
    }

    fn endpoint(&self, path: &str) -> Result<Url, RemoteError> {
        self.inner
            .base
            .join(path)
            .map_err(|e| RemoteError::Invalid(format!("{path}: {e}")))
    }

    /// Sends the request `make` builds with the authorization known for its scope; on
    /// a 401, answers the challenge and sends it once more.
    async fn send(
        &self,
        repository: Option<&str>,
        need: Need,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RemoteError> {
        let first = self
            .authorize(make(), repository, need)
            .send()
            .await
            .map_err(unreachable)?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return check(first).await;
        }
        let challenge = first
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(Challenge::parse);
        let Some(challenge) = challenge else {
            return check(first).await;
        };
        if let Challenge::Bearer { realm, service } = &challenge {
            let token = self
                .token(realm, service.as_deref(), repository, need)
                .await?;
            let scope = scope(repository, need);
            self.auth().tokens.insert(scope, token);
        } else if self.inner.credential.is_none() {
            return check(first).await;
        }
        self.auth().challenge = Some(challenge);
        let second = self
            .authorize(make(), repository, need)
            .send()
            .await
            .map_err(unreachable)?;
        check(second).await
    }

    fn auth(&self) -> std::sync::MutexGuard<'_, Auth> {
        // A panic while holding the lock leaves nothing half-written in it.
        self.inner.auth.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn authorize(
        &self,
        request: RequestBuilder,
        repository: Option<&str>,
        need: Need,
    ) -> RequestBuilder {
        let auth = self.auth();
        match (&auth.challenge, &self.inner.credential) {
            (Some(Challenge::Basic), Some(c)) => request.basic_auth(&c.username, Some(&c.password)),
            (Some(Challenge::Bearer { .. }), _) => {
                match auth.tokens.get(&scope(repository, need)) {
                    Some((token, until)) if Instant::now() < *until => request.bearer_auth(token),
                    _ => request,
                }
            }
            _ => request,
        }
    }

    /// A Bearer token for the scope from the realm, with the credential when there is
    /// one (anonymously otherwise), and until when to use it.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        repository: Option<&str>,
        need: Need,
    ) -> Result<(String, Instant), RemoteError> {
        let mut url = Url::parse(realm)
            .map_err(|e| RemoteError::Invalid(format!("token realm {realm:?}: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            if repository.is_some() {
                query.append_pair("scope", &scope(repository, need));
            }
        }
        let mut request = self.inner.http.request(Method::GET, url);
        if let Some(c) = &self.inner.credential {
            request = request.basic_auth(&c.username, Some(&c.password));
        }
        let response = check(request.send().await.map_err(unreachable)?).await?;
        let issued = Instant::now();
        let body: TokenResponse = response
            .json()
            .await
            .map_err(|e| RemoteError::Invalid(format!("token endpoint's answer: {e}")))?;
        let token = body
            .token
            .or(body.access_token)
            .ok_or_else(|| RemoteError::Invalid("the token endpoint gave no token".into()))?;
        let life = body
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(TOKEN_LIFE);
        // A little early, so that no request goes out with a token about to expire.
        Ok((token, issued + life.saturating_sub(Duration::from_secs(5))))
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// The token scope of a request; `/v2/` itself has none.
fn scope(repository: Option<&str>, need: Need) -> String {
    match (repository, need) {
        (None, _) => String::new(),
        (Some(r), Need::Pull) => format!("repository:{r}:pull"),
        (Some(r), Need::Push) => format!("repository:{r}:pull,push"),
    }
}

/// A repository name as it goes in a path: the registry protocol's characters only.
fn path(repository: &str) -> Result<&str, RemoteError> {
    let fine = !repository.is_empty()
        && repository
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
        && !repository
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if fine {
        Ok(repository)
    } else {
        Err(RemoteError::Invalid(format!(
            "{repository:?} is not a repository name"
        )))
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or(value).trim().to_owned())
}

fn describe(e: &reqwest::Error) -> String {
    // reqwest's own message leaves out the cause (refused, timed out, reset).
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn unreachable(e: reqwest::Error) -> RemoteError {
    RemoteError::Unreachable(describe(&e))
}

/// The response if it succeeded; otherwise the error its status means, with the
/// message of the registry's error body where it has one.
async fn check(response: Response) -> Result<Response, RemoteError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let url = response.url().clone();
    let text = response.text().await.unwrap_or_default();
    let message = registry_message(&text).unwrap_or_else(|| format!("{status} from {url}"));
    Err(match status {
        StatusCode::UNAUTHORIZED => RemoteError::Unauthorized(message),
        StatusCode::FORBIDDEN => RemoteError::Denied(message),
        StatusCode::NOT_FOUND => RemoteError::NotFound(message),
        StatusCode::TOO_MANY_REQUESTS => RemoteError::Unreachable(message),
        s if s.is_server_error() => RemoteError::Unreachable(message),
        s => RemoteError::Rejected {
            status: s.as_u16(),
            message,
        },
    })
}

/// `{"errors": [{"code": …, "message": …}]}`, the registry protocol's error body.
fn registry_message(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let body: Body = serde_json::from_str(text).ok()?;
    let first = body.errors.into_iter().next()?;
    match (first.code, first.message) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (c, m) => c.or(m),
    }
}

/// A response body of at most `limit` bytes.
async fn bounded_body(response: Response, limit: usize) -> Result<Bytes, RemoteError> {
    let mut out = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unreachable)?;
        if out.len() + chunk.len() > limit {
            return Err(RemoteError::Invalid(format!(
                "the remote's manifest is larger than {limit} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
