//! The service's one error type: what went wrong and about what, in the core's own
//! terms. No protocol is spoken here: each face words and codes every case in one
//! exhaustive match (`api/ecr/error.rs` for both JSON faces, `api/oci/error.rs`).
//! `Display` is a terse description for logs, not a client message.

use crate::domain::PolicyError;
use crate::domain::{
    AccountSetting, Digest, ImageSelector, ImageTag, LifecycleProblem, ManifestError,
    MutabilityError, NotArchivable, PullThroughProblem, Registry, ReplicationProblem,
    RepositoryName, ScanningProblem, TemplatePrefix, UploadId,
};
use crate::metrics::{blob_store_fault, database_fault, FaultKind};
use crate::secrets::SecretError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request value breaks one of the service's rules.
    #[error("invalid request: {0:?}")]
    Invalid(Invalid),
    /// A manifest that does not parse or is of an unsupported type.
    #[error("invalid manifest: {0}")]
    InvalidManifest(ManifestError),
    #[error("invalid resource tag {key:?}: {problem:?}")]
    InvalidResourceTag {
        key: String,
        problem: ResourceTagProblem,
    },
    #[error("more than {max} resource tags")]
    TooManyResourceTags { max: i64 },
    #[error("repository {registry}/{name} not found")]
    RepositoryNotFound {
        registry: Registry,
        name: RepositoryName,
    },
    #[error("repository {registry}/{name} already exists")]
    RepositoryAlreadyExists {
        registry: Registry,
        name: RepositoryName,
    },
    #[error("repository {registry}/{name} still holds images")]
    RepositoryNotEmpty {
        registry: Registry,
        name: RepositoryName,
    },
    /// A public registry named by an alias or account that is not the caller's.
    #[error("registry {0:?} not found")]
    RegistryNotFound(String),
    /// No resource policy lets the principal act, or one refuses it explicitly.
    #[error("{principal} may not {action} on {resource}")]
    AccessDenied {
        /// The principal's ARN, the action with its service prefix, the resource's ARN.
        principal: String,
        action: String,
        resource: String,
        /// Refused by a Deny statement, rather than allowed by none.
        explicit: bool,
    },
    /// A repository or registry policy that is not valid, with the reason.
    #[error("invalid policy: {0}")]
    InvalidPolicy(PolicyError),
    #[error("registry {0} has no registry policy")]
    RegistryPolicyNotFound(Registry),
    #[error("registry {0} has no signing configuration")]
    SigningConfigurationNotFound(Registry),
    #[error("{0} is already excluded from pull time updates")]
    ExclusionAlreadyExists(String),
    #[error("{0} is not excluded from pull time updates")]
    ExclusionNotFound(String),
    #[error("a registry may exclude at most {max} principals from pull time updates")]
    TooManyExclusions { max: i64 },
    #[error("registry {registry} already has a creation template for {prefix}")]
    TemplateAlreadyExists {
        registry: Registry,
        prefix: TemplatePrefix,
    },
    #[error("registry {registry} has no creation template for {prefix}")]
    TemplateNotFound {
        registry: Registry,
        prefix: TemplatePrefix,
    },
    #[error("a registry may hold at most {max} repository creation templates")]
    TooManyTemplates { max: i64 },
    #[error("registry {registry} already has a pull through cache rule for {prefix}")]
    PullThroughRuleAlreadyExists {
        registry: Registry,
        prefix: TemplatePrefix,
    },
    #[error("registry {registry} has no pull through cache rule for {prefix}")]
    PullThroughRuleNotFound {
        registry: Registry,
        prefix: TemplatePrefix,
    },
    #[error("a registry may hold at most {max} pull through cache rules")]
    TooManyPullThroughRules { max: i64 },
    /// A pull through cache rule's credential that cannot be had.
    #[error("{0}")]
    Secret(SecretError),
    #[error("repository {registry}/{name} has no policy")]
    RepositoryPolicyNotFound {
        registry: Registry,
        name: RepositoryName,
    },
    /// A lifecycle policy that breaks one of ECR's rules for them.
    #[error("invalid lifecycle policy: {0:?}")]
    InvalidLifecyclePolicy(LifecycleProblem),
    #[error("repository {registry}/{name} has no lifecycle policy")]
    LifecyclePolicyNotFound {
        registry: Registry,
        name: RepositoryName,
    },
    #[error("repository {registry}/{name} has no lifecycle policy preview")]
    LifecyclePolicyPreviewNotFound {
        registry: Registry,
        name: RepositoryName,
    },
    #[error("repository {registry}/{name} has no catalog data")]
    RepositoryCatalogDataNotFound {
        registry: Registry,
        name: RepositoryName,
    },
    #[error("image {image} not found in {registry}/{name}")]
    ImageNotFound {
        registry: Registry,
        name: RepositoryName,
        image: ImageSelector,
    },
    /// A pull of an image in archival storage: it must be restored first.
    #[error("image {image} in {registry}/{name} is archived")]
    ImageArchived {
        registry: Registry,
        name: RepositoryName,
        image: ImageSelector,
    },
    /// DescribeImageScanFindings of an image that was never scanned.
    #[error("no scan of image {image} in {registry}/{name}")]
    ScanNotFound {
        registry: Registry,
        name: RepositoryName,
        image: ImageSelector,
    },
    /// A manual scan of an image scanned (or queued) less than a day ago.
    #[error("image {image} was scanned less than a day ago")]
    ScanLimitExceeded { image: ImageSelector },
    /// A manual scan of an index or an artifact.
    #[error("image {image} is not a kind a scan can read")]
    UnsupportedImageType { image: ImageSelector },
    /// A manual scan of an archived image.
    #[error("image {image} is archived and cannot be scanned")]
    ScanOfArchivedImage { image: ImageSelector },
    /// A manual scan in a registry whose scan type is ENHANCED (it scans on push or
    /// continuously only).
    #[error("manual scans need scan type BASIC")]
    ManualScanWithEnhanced,
    /// A storage class change this image cannot make.
    #[error("image {image} cannot be archived: {reason:?}")]
    StorageClassUpdateNotSupported {
        image: ImageSelector,
        reason: NotArchivable,
    },
    /// The same manifest again, under the same tag or untagged.
    #[error("image {digest} already exists in {name}")]
    ImageAlreadyExists {
        digest: Digest,
        tag: Option<ImageTag>,
        name: RepositoryName,
    },
    /// An immutable tag that already names another image.
    #[error("tag {tag} is immutable in {name}")]
    ImageTagAlreadyExists { tag: ImageTag, name: RepositoryName },
    /// A manifest an index in the repository still refers to.
    #[error("image {0} is referenced by an index")]
    ImageReferencedByIndex(Digest),
    #[error("the manifest's digest is {actual}, not {given}")]
    ImageDigestDoesNotMatch { given: Digest, actual: Digest },
    /// Blobs a manifest refers to that the repository does not hold.
    #[error("layers not in the repository: {0:?}")]
    LayersNotFound(Vec<Digest>),
    /// Manifests an index refers to that the repository does not hold.
    #[error("referenced images not in the repository: {0:?}")]
    ReferencedImagesNotFound(Vec<Digest>),
    /// A layer the repository holds but no image of it references.
    #[error("layer {0} is not referenced by an image")]
    LayerInaccessible(Digest),
    #[error("blob {0} not in the repository")]
    BlobNotFound(Digest),
    #[error("upload {0} not found")]
    UploadNotFound(UploadId),
    /// A part or chunk that does not continue the upload where it stands.
    #[error("part of upload {upload} out of place: {problem:?}")]
    MisplacedPart {
        registry: Registry,
        name: RepositoryName,
        upload: UploadId,
        /// How many bytes the upload holds.
        received: u64,
        problem: PartProblem,
    },
    #[error("upload {0} has no parts")]
    EmptyUpload(UploadId),
    /// A part before the last that is smaller than the smallest part allowed.
    #[error("a part before the last is under {min} bytes")]
    LayerPartTooSmall { min: i64 },
    #[error("an upload may have at most {max} parts")]
    TooManyParts { max: i64 },
    /// The uploaded bytes are not the digest's.
    #[error("the upload's digest is {actual}, not {given}")]
    LayerDigestMismatch { given: Digest, actual: Digest },
    #[error("layer {0} already exists in the repository")]
    LayerAlreadyExists(Digest),
    /// A request body that broke off or could not be read, with the transport's
    /// reason.
    #[error("incomplete request body: {0}")]
    IncompleteBody(String),
    /// The disk holding blobs or metadata has no room for the request's bytes;
    /// nothing was stored.
    #[error("storage full")]
    StorageFull,
    /// A pull-through cache's upstream failed to give what the request needs; nothing
    /// of it was cached.
    #[error("upstream: {message}")]
    Upstream {
        read: UpstreamRead,
        problem: UpstreamProblem,
        message: String,
    },
    /// A dependency cannot be reached right now; the request may be retried.
    #[error("{0} unavailable")]
    Unavailable(Dependency),
    /// A server fault: logged with its cause chain, shown to clients only as a generic
    /// message.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// What was asked of a pull-through cache's upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamRead {
    Image,
    Layer(Digest),
    Referrers,
}

/// What went wrong with a pull-through cache's upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProblem {
    /// It refused the rule's credential, or the credential could not be read.
    AccessDenied,
    /// It could not be reached, or answered with a fault or with what berth cannot
    /// cache.
    Unavailable,
}

/// The rule a request value breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// A value PutAccountSetting does not take for the setting.
    AccountSettingValue {
        setting: AccountSetting,
        value: String,
    },
    /// A KMS key given with AES256 encryption.
    KmsKeyWithoutKms,
    /// Paging parameters together with an explicit list of repositories.
    PagingWithRepositoryNames,
    /// Paging parameters together with an explicit list of images.
    PagingWithImageIds,
    /// A page token that was forged, altered, or issued for another request.
    PageToken,
    /// A resource ARN that does not name a repository of the caller's registry.
    NotARepositoryArn(String),
    /// A logo over the size limit.
    LogoTooLarge { max: usize },
    /// A logo that is neither PNG nor JPEG.
    LogoNotAnImage,
    /// A completion naming no digest.
    NoLayerDigest,
    /// An image id that cannot name an image (DescribeImages refuses the call).
    ImageId(ImageFailure),
    /// A tag mutability mode and exclusion filters that do not go together.
    Mutability(MutabilityError),
    /// A creation template's resource tag that CreateRepository would refuse.
    TemplateResourceTag {
        key: String,
        problem: ResourceTagProblem,
    },
    /// A creation template with more resource tags than a repository may carry.
    TemplateResourceTagCount { max: i64 },
    /// A creation template applied for no action.
    NoAppliedFor,
    /// A replication configuration ECR refuses.
    Replication(ReplicationProblem),
    /// A pull through cache rule ECR (or berth) refuses.
    PullThrough(PullThroughProblem),
    /// A scanning configuration ECR refuses.
    Scanning(ScanningProblem),
}

/// What is wrong with a resource tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceTagProblem {
    /// Keys are 1 to 128 characters, values at most 256.
    Length,
    /// `aws:` is reserved.
    ReservedPrefix,
}

/// Why a part or chunk does not fit where the upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartProblem {
    /// It starts at `first`, not where the upload ends.
    Start { first: u64 },
    /// Its byte range `first..=last` is empty or inverted.
    Range { first: u64, last: u64 },
    /// Its body held `received` bytes where `announced` were said.
    Length { announced: u64, received: u64 },
    /// Another part was recorded at the same place first, or a completion began.
    Raced,
}

/// A dependency that can be down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    MetadataStore,
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dependency::MetadataStore => "the metadata store",
        })
    }
}

/// One item of a batch that failed, echoing the id as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFailure {
    pub digest: Option<String>,
    pub tag: Option<String>,
    pub problem: ImageProblem,
}

/// Why one image of a batch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageProblem {
    InvalidDigest(String),
    InvalidTag(String),
    MissingDigestAndTag,
    TagDoesNotMatchDigest,
    NotFound,
    /// The image's media type is not among those the client accepts.
    MediaTypeNotAccepted(String),
    ReferencedByIndex,
    /// In archival storage: not pullable until restored.
    Archived,
    /// A pull-through cache's upstream failed to give it.
    Upstream(UpstreamProblem),
}

/// One layer of a availability check that failed, echoing the digest as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFailure {
    pub digest: String,
    pub problem: LayerProblem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerProblem {
    /// Not a digest, with the parser's reason.
    InvalidDigest(String),
    /// Not in the repository.
    Missing,
}

impl From<crate::store::Error> for Error {
    /// Store outcomes that the service did not map in context: no room, no database,
    /// or a fault. Each is counted here, the one place they are classified
    /// (`berth_database_errors_total`).
    fn from(e: crate::store::Error) -> Self {
        use crate::store::Error as Store;
        match e {
            Store::Full(cause) => {
                database_fault(FaultKind::Full);
                tracing::warn!(error = %cause, "metadata store full");
                Error::StorageFull
            }
            Store::Unavailable(cause) => {
                database_fault(FaultKind::Unavailable);
                tracing::warn!(error = %cause, "metadata store unavailable");
                Error::Unavailable(Dependency::MetadataStore)
            }
            e => {
                database_fault(FaultKind::Failed);
                Error::Internal(anyhow::Error::new(e))
            }
        }
    }
}

impl From<std::io::Error> for Error {
    /// The blob store's failures, counted here (`berth_blob_store_errors_total`).
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                blob_store_fault(FaultKind::Full);
                tracing::warn!(error = %e, "blob store full");
                Error::StorageFull
            }
            _ => {
                blob_store_fault(FaultKind::Failed);
                Error::Internal(anyhow::Error::new(e).context("blob store"))
            }
        }
    }
}

impl From<LifecycleProblem> for Error {
    fn from(p: LifecycleProblem) -> Self {
        Error::InvalidLifecyclePolicy(p)
    }
}

impl From<SecretError> for Error {
    fn from(e: SecretError) -> Self {
        Error::Secret(e)
    }
}

impl From<PullThroughProblem> for Error {
    fn from(p: PullThroughProblem) -> Self {
        Error::Invalid(Invalid::PullThrough(p))
    }
}

impl From<Invalid> for Error {
    fn from(i: Invalid) -> Self {
        Error::Invalid(i)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
