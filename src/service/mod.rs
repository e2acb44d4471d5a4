//! Use cases: the only API the faces call. Every rule of the registry lives here once
//! (tag immutability, digest matching, reference checks), whichever face asked.

mod archive;
mod blobs;
mod check;
mod error;
mod gc;
mod health;
mod images;
mod jobs;
mod layers;
mod lifecycle;
mod listings;
mod manifests;
mod pagination;
mod policies;
mod public;
mod repositories;
mod tokens;
mod uploads;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use rand::RngCore;

use crate::auth::{Authority, Credentials, Sealer};
use crate::blob::BlobStore;
use crate::domain::{
    Image, Namespace, Registry, RegistryAlias, RegistryId, Repository, RepositoryName,
};
use crate::store::{Key, Store, Stored};

pub use crate::blob::BlobReader;
pub use check::{check_blobs, check_references, repair, BlobCheck, ReferenceCheck, Repaired};
pub use error::{
    Dependency, Error, ImageFailure, ImageProblem, Invalid, LayerFailure, LayerProblem,
    PartProblem, ResourceTagProblem, Result,
};
pub use gc::GcReport;
pub use health::{Probe, Readiness};
pub use images::{parse_image_id, ImageDetail, PutImage, StoredImage};
pub use layers::LayerAvailability;
pub use lifecycle::{LifecyclePolicyInfo, LifecycleRun, PreviewPage};
pub use listings::{Listing, ReferrerDescriptor};
pub use pagination::{Page, PageRequest};
pub use public::{CatalogInput, Logo, PublicRegistry};
pub use repositories::{CreateRepository, Encryption};
pub use tokens::AuthorizationData;

/// ECR's part size hint, and the smallest a part may be unless it is the last.
pub const PART_SIZE: i64 = 10 * 1024 * 1024;
pub const MIN_PART_SIZE: i64 = 5 * 1024 * 1024;

/// Who is calling, as established by the face's authentication.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account whose registries the caller owns.
    pub account: RegistryId,
    /// The region the request was signed for; ARNs and URIs name it.
    pub region: String,
    /// Which of the account's registries the face serves: ECR's or ECR Public's.
    pub namespace: Namespace,
    /// The access key the request was signed with, or its registry token minted
    /// with; `None` for an anonymous caller.
    pub access_key: Option<String>,
}

/// Where the registry's secret is kept in the store's settings.
const SECRET_SETTING: &str = "signing_key";

/// Service-wide settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub account: RegistryId,
    /// The address clients reach berth at, e.g. `http://localhost:5000`.
    pub public_url: String,
    /// The address of the public registry's `/v2/` (its own listener, as ECR Public
    /// has its own host), e.g. `http://localhost:5001`.
    pub public_registry_url: String,
    /// The public registry's alias: its repositories are `<host>/<alias>/<name>`.
    pub public_alias: RegistryAlias,
    /// How long garbage collection leaves a link no image uses, and an upload.
    pub gc_grace: std::time::Duration,
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
    /// This process's name as a holder of job leases.
    instance: String,
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
        let authority = Authority::new(settings.account.clone(), credentials, sealer);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                blobs,
                settings,
                authority,
                readiness: Default::default(),
                instance: uuid::Uuid::new_v4().to_string(),
            }),
        })
    }

    fn store(&self) -> &Store {
        &self.inner.store
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

    fn instance(&self) -> &str {
        &self.inner.instance
    }

    fn sealer(&self) -> &Sealer {
        self.inner.authority.sealer()
    }

    /// Closes the store's connections.
    pub async fn close(&self) {
        self.store().close().await;
    }

    /// The registry a request is about: the caller's own unless it names another,
    /// which berth does not hold.
    fn registry(&self, caller: &Caller, requested: Option<&RegistryId>) -> Result<Registry> {
        match requested {
            Some(r) if *r != caller.account => Err(Invalid::ForeignRegistry {
                requested: r.clone(),
                own: caller.account.clone(),
            }
            .into()),
            _ => Ok(caller.registry()),
        }
    }

    /// The repository a registry API request names: always in the caller's registry.
    async fn own_repository(
        &self,
        caller: &Caller,
        name: &RepositoryName,
    ) -> Result<Stored<Repository>> {
        self.repository(&caller.registry(), name).await
    }

    async fn repository(
        &self,
        registry: &Registry,
        name: &RepositoryName,
    ) -> Result<Stored<Repository>> {
        self.store()
            .repository(registry, name)
            .await?
            .ok_or_else(|| Error::RepositoryNotFound {
                registry: registry.clone(),
                name: name.clone(),
            })
    }

    /// `arn:aws:ecr:<region>:<account>:repository/<name>`, or for a public repository
    /// `arn:aws:ecr-public::<account>:repository/<name>` (ECR Public has no regions).
    pub fn repository_arn(&self, caller: &Caller, repo: &Repository) -> String {
        match repo.registry.namespace {
            Namespace::Private => format!(
                "arn:aws:ecr:{}:{}:repository/{}",
                caller.region, repo.registry, repo.name
            ),
            Namespace::Public => format!(
                "arn:aws:ecr-public::{}:repository/{}",
                repo.registry, repo.name
            ),
        }
    }

    /// The address docker pushes to: `<host>/<name>` for a private repository,
    /// `<public host>/<alias>/<name>` for a public one.
    pub fn repository_uri(&self, repo: &Repository) -> String {
        match repo.registry.namespace {
            Namespace::Private => format!("{}/{}", host(&self.settings().public_url), repo.name),
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

impl Caller {
    /// The registry the caller's face serves.
    pub fn registry(&self) -> Registry {
        Registry {
            account: self.account.clone(),
            namespace: self.namespace,
        }
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
    /// Records that the images were pulled at `at`. Best effort: a read must not fail
    /// because its bookkeeping write did (a full disk, say).
    async fn record_pull(&self, images: &[Key<Image>], at: DateTime<Utc>) {
        if let Err(e) = self.store().record_pull(images, at).await {
            tracing::warn!(error = ?e, "could not record a pull time");
        }
    }
}
