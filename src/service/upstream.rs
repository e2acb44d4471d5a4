//! Pull-through caching: the images of a repository a pull-through cache rule covers
//! come from the rule's upstream registry when first pulled, and stay.
//!
//! - A manifest missing here is fetched from the upstream (checked against its
//!   digest), stored with its tag, and served; a tag is asked of the upstream again at
//!   most once per `pull_through_ttl`, and while the upstream cannot be reached the
//!   cached image is served.
//! - Its layers arrive as clients pull them: each is streamed to the client while it
//!   is written to an upload of the repository, and becomes visible only once its
//!   digest is checked, as any upload's; the last bytes reach the client only then, so
//!   a client never completes a read of bytes that were not cached. The manifest is
//!   stored with its references deferred (`Presence::Deferred`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::access::Target;
use super::images::new_image;
use super::pull_through::UpstreamFailure;
use super::{now, Caller, Error, Result, Service, UpstreamProblem, UpstreamRead};
use crate::domain::{
    AppliedFor, Digest, Image, ImageSelector, Namespace, Registry, Repository, RepositoryName,
};
use crate::remote::{Credential, Remote, RemoteError};
use crate::store::{self, Presence, Queued, Stored, TagWrite};

/// Chunks a client may lag behind the caching of a layer it is reading.
const LAG: usize = 8;

/// The upstream registry a repository caches, and the repository there.
pub(super) struct Upstream {
    pub(super) remote: Remote,
    pub(super) repository: String,
}

/// The clients of upstreams, by URL and credential, kept so that their tokens are
/// reused.
#[derive(Default)]
pub(super) struct Remotes(Mutex<HashMap<(String, Option<Credential>), Remote>>);

impl Remotes {
    pub(super) fn get(
        &self,
        url: String,
        credential: Option<Credential>,
    ) -> std::result::Result<Remote, RemoteError> {
        let mut remotes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = (url, credential);
        if let Some(remote) = remotes.get(&key) {
            return Ok(remote.clone());
        }
        let remote = Remote::new(&key.0, key.1.clone())?;
        remotes.insert(key, remote.clone());
        Ok(remote)
    }
}

/// What asking the upstream for a blob came to.
pub(super) enum FromUpstream {
    /// No rule covers the repository.
    NoRule,
    /// The blob is now in the repository.
    Cached,
    /// The blob is on its way, to the client and into the repository.
    Arriving(Arriving),
}

/// A blob's bytes on their way from an upstream to the client and into the store.
pub struct Arriving {
    /// The length the upstream announced.
    pub size: Option<u64>,
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

/// The upstream's failure to give what `read` asked for.
pub(super) fn upstream_error(read: UpstreamRead, e: RemoteError) -> Error {
    let problem = match e {
        RemoteError::Unauthorized(_) | RemoteError::Denied(_) => UpstreamProblem::AccessDenied,
        _ => UpstreamProblem::Unavailable,
    };
    Error::Upstream {
        read,
        problem,
        message: e.to_string(),
    }
}

impl Service {
    /// The upstream that the repository `name` of `registry` caches, if a rule covers it.
    pub(super) async fn upstream(
        &self,
        registry: &Registry,
        name: &RepositoryName,
    ) -> Result<Option<Upstream>> {
        if registry.namespace != Namespace::Private {
            return Ok(None);
        }
        let Some((rule, repository)) = self.pull_through_rule(registry, name).await? else {
            return Ok(None);
        };
        let remote = self
            .remote_for(&rule)
            .await
            .map_err(|failure| match failure {
                UpstreamFailure::Secret(e) => Error::Upstream {
                    read: UpstreamRead::Image,
                    problem: UpstreamProblem::AccessDenied,
                    message: e.to_string(),
                },
                UpstreamFailure::Remote(e) => upstream_error(UpstreamRead::Image, e),
            })?;
        Ok(Some(Upstream { remote, repository }))
    }

    /// The image `selector` names, through the repository's pull-through upstream, for
    /// a pull by `caller`. With `cached` (the image a tag names here, due for a
    /// check), the upstream is asked whether the tag still names it: the cached image
    /// is kept when it does, or when the upstream cannot say. Without, the image is
    /// fetched and cached, the repository created from its template if need be.
    /// `Ok(None)`: no rule covers the repository, or the upstream has no such image.
    pub(super) async fn through_upstream(
        &self,
        caller: &Caller,
        registry: &Registry,
        name: &RepositoryName,
        selector: &ImageSelector,
        cached: Option<(Stored<Image>, Vec<u8>)>,
    ) -> Result<Option<(Stored<Image>, Vec<u8>)>> {
        let Some(upstream) = self.upstream(registry, name).await? else {
            return Ok(cached);
        };
        let target = Target::Named { registry, name };
        let allowed = self
            .authorize(caller, "BatchImportUpstreamImage", target, &[])
            .await;
        if let (Err(_), Some(cached)) = (&allowed, &cached) {
            return Ok(Some(cached.clone()));
        }
        allowed?;
        let repo = match self.store().repository(registry, name).await? {
            Some(repo) => repo,
            None => {
                self.create_for(caller, registry, name, AppliedFor::PullThroughCache)
                    .await?
            }
        };
        if let (Some(current), Some(tag)) = (&cached, selector.tag()) {
            let checked = upstream
                .remote
                .manifest_digest(&upstream.repository, tag.as_str())
                .await;
            match checked {
                Ok(digest) if digest == current.0.record.digest => {
                    self.store().upstream_checked(repo.key, tag, now()).await?;
                    return Ok(cached);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, repository = %name, %tag, "serving a cached image: its upstream cannot be asked");
                    return Ok(cached);
                }
            }
        }
        match self.import(&repo, &upstream, selector).await {
            Err(e @ Error::Upstream { .. }) if cached.is_some() => {
                tracing::warn!(error = ?e, repository = %name, "serving a cached image: its upstream failed");
                Ok(cached)
            }
            imported => imported,
        }
    }

    /// The repository `name` of `registry`, created for `caller` as a pull-through
    /// cache when a rule covers it and it does not exist yet; `None` when no rule does.
    pub(super) async fn cache_repository(
        &self,
        caller: &Caller,
        registry: &Registry,
        name: &RepositoryName,
    ) -> Result<Option<Stored<Repository>>> {
        if self.upstream(registry, name).await?.is_none() {
            return Ok(None);
        }
        let target = Target::Named { registry, name };
        self.authorize(caller, "BatchImportUpstreamImage", target, &[])
            .await?;
        let created = self
            .create_for(caller, registry, name, AppliedFor::PullThroughCache)
            .await?;
        Ok(Some(created))
    }

    /// Fetches the manifest `selector` names from the upstream and stores it in `repo`
    /// (with its tag), its references deferred.
    async fn import(
        &self,
        repo: &Stored<Repository>,
        upstream: &Upstream,
        selector: &ImageSelector,
    ) -> Result<Option<(Stored<Image>, Vec<u8>)>> {
        let reference = match selector {
            ImageSelector::Digest(d) => d.to_string(),
            ImageSelector::Tag(t) | ImageSelector::Both { tag: t, .. } => t.to_string(),
        };
        let fetched = match upstream
            .remote
            .manifest(&upstream.repository, &reference)
            .await
        {
            Ok(m) => m,
            Err(RemoteError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(upstream_error(UpstreamRead::Image, e)),
        };
        if selector.digest().is_some_and(|d| *d != fetched.digest) {
            return Ok(None);
        }
        let mut new = new_image(
            fetched.digest.clone(),
            fetched.body.to_vec(),
            Some(&fetched.media_type),
        )
        .map_err(|e| Error::Upstream {
            read: UpstreamRead::Image,
            problem: UpstreamProblem::Unavailable,
            message: format!("the upstream's manifest cannot be cached: {e}"),
        })?;
        new.presence = Presence::Deferred;
        let tag = selector.tag().map(|tag| TagWrite {
            tag: tag.clone(),
            immutable: repo.record.mutability.is_immutable(tag),
        });
        // Cached images are not replicated: ECR replicates only what is pushed.
        match self
            .store()
            .put_image(repo.key, &new, tag.as_ref(), Queued::default(), now())
            .await
        {
            Ok(_) | Err(store::Error::ImageAlreadyExists) => {}
            // An immutable tag here names another image: that one stays.
            Err(store::Error::TagAlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(tag) = selector.tag() {
            self.store().upstream_checked(repo.key, tag, now()).await?;
        }
        self.select_manifest(repo.key, selector)
            .await
            .map(|found| found.and_then(|f| f.ok()))
    }

    /// A blob of a pull-through cache repository that is not cached yet, from its
    /// upstream: streamed to the caller as it is cached (`stream`), or cached first.
    pub(super) async fn blob_from_upstream(
        &self,
        repo: &Stored<Repository>,
        digest: &Digest,
        stream: bool,
    ) -> Result<FromUpstream> {
        let Some(upstream) = self
            .upstream(&repo.record.registry, &repo.record.name)
            .await?
        else {
            return Ok(FromUpstream::NoRule);
        };
        let fetched = match upstream.remote.blob(&upstream.repository, digest).await {
            Ok(fetched) => fetched,
            Err(RemoteError::NotFound(_)) => return Err(Error::BlobNotFound(digest.clone())),
            Err(e) => return Err(upstream_error(UpstreamRead::Layer(digest.clone()), e)),
        };
        let (to_client, from_cache) = mpsc::channel(LAG);
        let size = fetched.size;
        let caching = {
            let service = self.clone();
            let repo = repo.clone();
            let digest = digest.clone();
            let to_client = stream.then_some(to_client);
            tokio::spawn(async move {
                service
                    .cache_blob(&repo, &digest, fetched.size, fetched.body, to_client)
                    .await
            })
        };
        if stream {
            let body = receiver_stream(from_cache);
            return Ok(FromUpstream::Arriving(Arriving { size, body }));
        }
        match caching.await {
            Ok(result) => result.map(|()| FromUpstream::Cached),
            Err(e) => Err(Error::Internal(anyhow::anyhow!(
                "caching a blob stopped: {e}"
            ))),
        }
    }

    /// Writes an upstream blob into a new upload of `repo` and completes it, digest
    /// checked, forwarding each chunk to `client` on the way; the last chunk is held
    /// back until the blob is in place, and a failure reaches the client as an error.
    async fn cache_blob(
        &self,
        repo: &Stored<Repository>,
        digest: &Digest,
        size: Option<u64>,
        body: BoxStream<'static, std::io::Result<Bytes>>,
        client: Option<mpsc::Sender<std::io::Result<Bytes>>>,
    ) -> Result<()> {
        let id = self.new_upload(repo.key).await?;
        let held: Arc<Mutex<Option<Bytes>>> = Arc::default();
        let forwarded = {
            let client = client.clone();
            let held = held.clone();
            body.then(move |chunk| {
                let client = client.clone();
                let held = held.clone();
                async move {
                    let send = match &chunk {
                        Ok(bytes) => held
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .replace(bytes.clone())
                            .map(Ok),
                        Err(e) => Some(Err(std::io::Error::new(e.kind(), e.to_string()))),
                    };
                    if let (Some(client), Some(send)) = (client, send) {
                        // A client that left does not stop the caching.
                        let _ = client.send(send).await;
                    }
                    chunk
                }
            })
        };
        let cached = self
            .fill_upload(repo, &id, digest, size, Box::pin(forwarded))
            .await;
        if cached.is_err() {
            if let Err(e) = self.discard(&id).await {
                tracing::warn!(error = ?e, upload = %id, "cannot discard a failed cache upload");
            }
        }
        if let Some(client) = client {
            let last = match &cached {
                Ok(()) => held
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .map(Ok),
                Err(e) => Some(Err(std::io::Error::other(format!(
                    "caching the blob failed: {e}"
                )))),
            };
            if let Some(last) = last {
                let _ = client.send(last).await;
            }
        }
        cached
    }
}

fn receiver_stream(
    mut rx: mpsc::Receiver<std::io::Result<Bytes>>,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}
