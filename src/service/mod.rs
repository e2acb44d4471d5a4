//! Use cases: the only API the faces call. Every rule of the registry lives here once
//! (tag immutability, digest matching, reference checks), whichever face asked.

mod access;
mod account_settings;
mod archive;
mod blobs;
mod check;
mod error;
mod gc;
mod health;
mod images;
mod instances;
mod jobs;
mod layers;
mod lifecycle;
mod listings;
mod manifests;
mod metrics;
mod pagination;
mod policies;
mod public;
mod pull_recorder;
mod pull_through;
mod pull_times;
mod referrers;
mod registry_policy;
mod replication;
mod replication_remote;
mod repositories;
mod scanning;
mod signing;
mod templates;
mod tokens;
mod uploads;
mod upstream;
mod vuln_db;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use rand::RngCore;

use crate::auth::{Authority, Credentials, Sealer};
use crate::blob::BlobStore;
use crate::domain::{
    AppliedFor, Image, Namespace, Principal, Region, Registry, RegistryAlias, RegistryId,
    Repository, RepositoryName,
};
use crate::metrics::Metrics;
use crate::notary::SigningDirectory;
use crate::replication_remotes::RemoteDestinations;
use crate::secrets::Secrets;
use crate::store::{Key, PushRules, Store, Stored};
use access::Target;

pub use crate::blob::BlobReader;
pub use crate::domain::Encryption;
pub use crate::store::{ObservedFinding, ScanSummary};
pub use blobs::{Blob, BlobRead};
pub use check::{check_blobs, check_references, repair, BlobCheck, ReferenceCheck, Repaired};
pub use error::{
    Dependency, Error, ImageFailure, ImageProblem, Invalid, LayerFailure, LayerProblem,
    PartProblem, ResourceTagProblem, Result, UpstreamProblem, UpstreamRead,
};
pub use gc::GcReport;
pub use health::{Probe, Readiness};
pub use images::{parse_image_id, ImageDetail, PutImage, StoredImage};
pub use instances::{Disagreement, HEARTBEAT};
pub use layers::LayerAvailability;
pub use lifecycle::{LifecyclePolicyInfo, LifecycleRun, PreviewPage};
pub use listings::Listing;
pub use pagination::{Page, PageRequest};
pub use public::{CatalogInput, Logo, PublicRegistry};
pub use pull_through::{NewPullThroughRule, UpstreamFailure, Validation};
pub use referrers::{ReferrerDescriptor, ReferrerFilter};
pub use replication::{ImageReplication, ReplicationRun};
pub use repositories::CreateRepository;
pub use scanning::{ImageScanFindings, RepositoryScanning, ScanRun};
pub use signing::{ImageSigning, SigningRun};
pub use templates::TemplateSettings;
pub use tokens::AuthorizationData;
pub use upstream::Arriving;

/// ECR's part size hint, and the smallest a part may be unless it is the last.
pub const PART_SIZE: i64 = 10 * 1024 * 1024;
pub const MIN_PART_SIZE: i64 = 5 * 1024 * 1024;

/// Who is calling, as established by the face's authentication, and from where.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Whom the request speaks for: what resource policies are evaluated against.
    pub principal: Principal,
    /// The registry a request that names none is for: on the JSON faces the caller's
    /// own, in the region the request was signed for; on `/v2/` the one its host or
    /// its password names.
    pub registry: Registry,
    /// The access key the request was signed with, or its registry token minted
    /// with; `None` for an anonymous caller.
    pub access_key: Option<String>,
    /// The client's address and whether it came over TLS, for policies' conditions.
    pub source_ip: Option<IpAddr>,
    pub secure_transport: bool,
}

/// Where the registry's secret is kept in the store's settings.
const SECRET_SETTING: &str = "signing_key";

/// Service-wide settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configured account: whom anonymous callers are served as.
    pub account: RegistryId,
    /// The configured region: where the registry API serves requests that name none,
    /// and where data from before berth had regions lives.
    pub region: Region,
    /// The address clients reach berth at, e.g. `http://localhost:5000`.
    pub public_url: String,
    /// The address of the public registry's `/v2/` (its own listener, as ECR Public
    /// has its own host), e.g. `http://localhost:5001`.
    pub public_registry_url: String,
    /// The public registry's alias: its repositories are `<host>/<alias>/<name>`.
    pub public_alias: RegistryAlias,
    /// How long garbage collection leaves a link no image uses, and an upload.
    pub gc_grace: std::time::Duration,
    /// Where pull through cache rules' upstream credentials are filed, if anywhere.
    pub secrets_file: Option<std::path::PathBuf>,
    /// How long a tag a pull-through upstream placed is served before it is checked
    /// there again.
    pub pull_through_ttl: std::time::Duration,
    /// The replication destinations that are remote registries (none: all are local).
    pub replication_remotes: RemoteDestinations,
    /// Where signing profiles' keys and certificates are.
    pub signing_dir: SigningDirectory,
    /// The OSV directory scans match against, if any.
    pub vuln_db: Option<std::path::PathBuf>,
    /// How many images the scanning job scans at once.
    pub scan_concurrency: usize,
    /// The download listener's URL, when it runs (`--download-listen`).
    pub download_url: Option<String>,
    /// Whether a registry API blob GET is answered with a redirect (`--blob-redirect`).
    pub blob_redirect: bool,
}

#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    blobs: BlobStore,
    settings: Settings,
    authority: Authority,
    readiness: health::LastReadiness,
    secrets: Secrets,
    remotes: upstream::Remotes,
    vuln_db: vuln_db::VulnDbCache,
    /// What the scanning job's continuous sweep last saw (the database and the
    /// configurations), so it sweeps again only when either changes.
    last_sweep: tokio::sync::Mutex<Option<String>>,
    /// Whether this process left the replicas serving the store (it is stopping).
    left: std::sync::atomic::AtomicBool,
    metrics: Arc<Metrics>,
    /// This process's name as a holder of job leases.
    instance: String,
    pulls: Arc<pull_recorder::PullRecorder>,
}

impl Service {
    /// The service over its stores; `credentials` are the configured access keys
    /// (none: open mode).
    pub async fn new(
        store: Store,
        blobs: BlobStore,
        settings: Settings,
        credentials: Credentials,
    ) -> anyhow::Result<Self> {
        // The registry's secret: made once, kept in the store so that every process
        // sharing it accepts what another sealed.
        let mut candidate = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut candidate);
        let key = store
            .setting_or_init(SECRET_SETTING, &hex::encode(candidate))
            .await?;
        let sealer = Sealer::new(hex::decode(key)?);
        let authority = Authority::new(credentials, settings.region.clone(), sealer);
        let secrets = Secrets::new(settings.secrets_file.clone());
        let vuln_db = vuln_db::VulnDbCache::new(settings.vuln_db.clone());
        let pulls = pull_recorder::PullRecorder::start(store.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                pulls,
                store,
                blobs,
                settings,
                authority,
                readiness: Default::default(),
                secrets,
                remotes: Default::default(),
                vuln_db,
                last_sweep: Default::default(),
                left: Default::default(),
                metrics: Arc::default(),
                instance: uuid::Uuid::new_v4().to_string(),
            }),
        })
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Gives the calling HTTP worker thread database connections of its own (see
    /// `Store::open_worker_pool`).
    pub fn open_worker_pool(&self) {
        self.store().open_worker_pool();
    }

    fn secrets(&self) -> &Secrets {
        &self.inner.secrets
    }

    fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Who may call, and the registry's secret: the faces authenticate with it.
    pub fn authority(&self) -> &Authority {
        &self.inner.authority
    }

    /// The collection grace (`Settings::gc_grace`).
    fn gc_grace(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings().gc_grace).unwrap_or(chrono::Duration::MAX)
    }

    fn pull_through_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings().pull_through_ttl)
            .unwrap_or(chrono::Duration::MAX)
    }

    fn instance(&self) -> &str {
        &self.inner.instance
    }

    fn sealer(&self) -> &Sealer {
        self.inner.authority.sealer()
    }

    /// Closes the store's connections.
    pub async fn close(&self) {
        self.inner.pulls.written().await;
        self.store().close().await;
    }

    /// The registry a request is about: the one the caller's request is for, or
    /// another account's registry of the same kind in the same region.
    fn registry(&self, caller: &Caller, requested: Option<&RegistryId>) -> Registry {
        match requested {
            Some(account) => Registry::of(
                account.clone(),
                caller.registry.region.clone(),
                caller.registry.namespace,
            ),
            None => caller.registry.clone(),
        }
    }

    /// The repository a registry API request names, in the registry the request is
    /// for, once the caller may perform `action` on it.
    async fn named_repository(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        action: &'static str,
    ) -> Result<Stored<Repository>> {
        self.authorized_repository(caller, &caller.registry, name, action)
            .await
    }

    /// The repository, once the caller may perform `action` on it. That a repository
    /// is not there is told only to a caller the registry's policy does not refuse:
    /// another account learns nothing it may not ask about.
    async fn authorized_repository(
        &self,
        caller: &Caller,
        registry: &Registry,
        name: &RepositoryName,
        action: &'static str,
    ) -> Result<Stored<Repository>> {
        let found = self.store().repository_governed(registry, name).await?;
        self.authorize_found(caller, registry, name, action, &[], found)
            .await
    }

    /// The repository a push (`action`) goes to, once the caller may push to it. One
    /// that does not exist is first created from the registry's CREATE_ON_PUSH
    /// template for its name, if there is one (as the caller, who must be allowed
    /// CreateRepository); otherwise it is not found, as for any other action.
    async fn pushed_repository(
        &self,
        caller: &Caller,
        registry: &Registry,
        name: &RepositoryName,
        action: &'static str,
    ) -> Result<Stored<Repository>> {
        let found = self.store().repository_governed(registry, name).await?;
        self.pushed(caller, registry, name, action, found).await
    }

    /// `pushed_repository` with its registry's push rules, read with the repository
    /// when it exists.
    async fn pushed_repository_with_rules(
        &self,
        caller: &Caller,
        registry: &Registry,
        name: &RepositoryName,
        action: &'static str,
    ) -> Result<(Stored<Repository>, PushRules)> {
        match self.store().repository_for_push(registry, name).await? {
            Some((repo, registry_policy, rules)) => {
                let found = Some((repo, registry_policy));
                Ok((
                    self.pushed(caller, registry, name, action, found).await?,
                    rules,
                ))
            }
            None => {
                let created = self.pushed(caller, registry, name, action, None).await?;
                Ok((created, self.store().push_rules(registry).await?))
            }
        }
    }

    /// `pushed_repository` over the repository as read (`found`, with its registry's
    /// policy).
    async fn pushed(
        &self,
        caller: &Caller,
        registry: &Registry,
        name: &RepositoryName,
        action: &'static str,
        found: Option<(Stored<Repository>, Option<String>)>,
    ) -> Result<Stored<Repository>> {
        let missing = match self
            .authorize_found(caller, registry, name, action, &[], found)
            .await
        {
            Err(missing @ Error::RepositoryNotFound { .. })
                if registry.namespace == Namespace::Private =>
            {
                missing
            }
            found => return found,
        };
        let created = self
            .create_from_template(caller, registry, name, AppliedFor::CreateOnPush)
            .await?;
        let Some(repo) = created else {
            return Err(missing);
        };
        // The template's repository policy governs the push from now on.
        self.authorize(caller, action, Target::Repository(&repo), &[])
            .await?;
        Ok(repo)
    }

    /// `authorized_repository` for a request that sets `request_tags` on it, over the
    /// repository as read (`found`, with its registry's policy: `repository_governed`).
    async fn authorize_found(
        &self,
        caller: &Caller,
        registry: &Registry,
        name: &RepositoryName,
        action: &'static str,
        request_tags: &[(String, String)],
        found: Option<(Stored<Repository>, Option<String>)>,
    ) -> Result<Stored<Repository>> {
        match found {
            Some((repo, registry_policy)) => {
                let target = Target::Repository(&repo);
                let governing = registry_policy.as_deref();
                self.authorize_under(caller, action, target, request_tags, governing)
                    .await?;
                Ok(repo)
            }
            None => {
                let target = Target::Named { registry, name };
                self.authorize(caller, action, target, request_tags).await?;
                Err(Error::RepositoryNotFound {
                    registry: registry.clone(),
                    name: name.clone(),
                })
            }
        }
    }

    /// The address docker logs in to for `registry`: the public registry's, or the
    /// configured URL with `{account}` and `{region}` filled in where it has them
    /// (`http://{account}.dkr.ecr.{region}.example.com` names each registry by its
    /// host, as AWS does; without them one host serves every registry, and the
    /// password says which).
    pub fn registry_url(&self, registry: &Registry) -> String {
        let settings = self.settings();
        match registry.namespace {
            Namespace::Private => settings
                .public_url
                .replace("{account}", registry.account.as_str())
                .replace("{region}", registry.region.as_str()),
            Namespace::Public => settings.public_registry_url.clone(),
        }
        .trim_end_matches('/')
        .to_owned()
    }

    /// The configured account's private registry in the configured region.
    pub fn home_registry(&self) -> Registry {
        let settings = self.settings();
        Registry::private(settings.account.clone(), settings.region.clone())
    }

    /// The address docker pushes to: `<host>/<name>` for a private repository,
    /// `<public host>/<alias>/<name>` for a public one.
    pub fn repository_uri(&self, repo: &Repository) -> String {
        match repo.registry.namespace {
            Namespace::Private => {
                format!("{}/{}", host(&self.registry_url(&repo.registry)), repo.name)
            }
            Namespace::Public => format!("{}/{}", self.public_registry_uri(), repo.name),
        }
    }

    /// The public registry's URI: `<public host>/<alias>`.
    pub fn public_registry_uri(&self) -> String {
        format!(
            "{}/{}",
            self.public_registry_host(),
            self.settings().public_alias
        )
    }

    /// `host[:port]` of the public registry, as its clients name it.
    pub fn public_registry_host(&self) -> &str {
        host(&self.settings().public_registry_url)
    }
}

/// `host[:port]` of a URL.
fn host(url: &str) -> &str {
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/')
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

/// How fresh `lastRecordedPullTime` is kept. A pull within this window of the recorded
/// one writes nothing, so repeated pulls of an image stay reads instead of each being
/// a synced write; ECR itself only promises a refresh at least once every 24 hours.
const PULL_TIME_GRANULARITY: chrono::Duration = chrono::Duration::seconds(60);

/// Whether a pull at `at` should update the image's recorded pull time.
fn pull_due(image: &Image, at: DateTime<Utc>) -> bool {
    image
        .last_pulled_at
        .is_none_or(|last| at - last >= PULL_TIME_GRANULARITY)
}

impl Service {
    /// Records that the images were pulled at `at`, unless the registry excludes the
    /// caller from pull-time updates: behind the pull (`pull_recorder`).
    fn record_pull(
        &self,
        caller: &Caller,
        registry: &Registry,
        images: &[Key<Image>],
        at: DateTime<Utc>,
    ) {
        self.inner
            .pulls
            .note(registry, &caller.principal.arn, images, at);
    }

    /// Returns once the pulls this process answered so far are recorded.
    async fn pulls_recorded(&self) {
        self.inner.pulls.written().await;
    }
}
