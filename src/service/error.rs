//! The domain error every service call returns. Each face maps it to its wire form
//! with one exhaustive match.

use crate::domain::{Digest, Registry, RepositoryName, UploadId};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidParameter(String),
    /// A manifest that does not parse or is of an unsupported type.
    #[error("{0}")]
    InvalidManifest(String),
    #[error("{0}")]
    InvalidTagParameter(String),
    #[error("a repository may carry at most 50 tags")]
    TooManyTags,
    #[error(
        "The repository with name '{name}' does not exist in the registry with id '{registry}'"
    )]
    RepositoryNotFound {
        registry: Registry,
        name: RepositoryName,
    },
    #[error(
        "The repository with name '{name}' already exists in the registry with id '{registry}'"
    )]
    RepositoryAlreadyExists {
        registry: Registry,
        name: RepositoryName,
    },
    #[error("The repository with name '{name}' in registry with id '{registry}' cannot be deleted because it still contains images")]
    RepositoryNotEmpty {
        registry: Registry,
        name: RepositoryName,
    },
    #[error("The registry '{0}' does not exist")]
    RegistryNotFound(String),
    #[error("Repository policy does not exist for the repository with name '{name}' in the registry with id '{registry}'")]
    RepositoryPolicyNotFound {
        registry: Registry,
        name: RepositoryName,
    },
    #[error("Catalog data does not exist for the repository with name '{name}' in the registry with id '{registry}'")]
    RepositoryCatalogDataNotFound {
        registry: Registry,
        name: RepositoryName,
    },
    #[error("{0}")]
    ImageNotFound(String),
    #[error("Image with digest '{digest}' and tag '{tag}' already exists in the repository with name '{name}'")]
    ImageAlreadyExists {
        digest: Digest,
        tag: String,
        name: RepositoryName,
    },
    #[error("The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the tag is immutable")]
    ImageTagAlreadyExists { tag: String, name: RepositoryName },
    #[error("The provided image digest '{given}' does not match the digest '{actual}' calculated from the manifest")]
    ImageDigestDoesNotMatch { given: Digest, actual: Digest },
    #[error("The following layers are not present in the repository: {}", list(.0))]
    LayersNotFound(Vec<Digest>),
    #[error("The following images referenced by the manifest list are not present in the repository: {}", list(.0))]
    ReferencedImagesNotFound(Vec<Digest>),
    #[error("The layer '{0}' is not referenced by any image in the repository")]
    LayerInaccessible(Digest),
    #[error("Upload with id '{0}' is not found")]
    UploadNotFound(UploadId),
    #[error("{message}")]
    InvalidLayerPart {
        registry: Registry,
        name: RepositoryName,
        upload: UploadId,
        last_valid_byte: i64,
        message: String,
    },
    #[error("The upload with id '{0}' contains no layer parts")]
    EmptyUpload(UploadId),
    #[error(
        "Layer parts other than the last must be at least {} bytes",
        crate::service::MIN_PART_SIZE
    )]
    LayerPartTooSmall,
    #[error("{0}")]
    InvalidLayer(String),
    #[error("The layer '{0}' already exists in the repository")]
    LayerAlreadyExists(Digest),
    #[error("{0}")]
    LimitExceeded(String),
    /// A request body broke off or could not be read.
    #[error("{0}")]
    IncompleteBody(String),
    #[error("The blob '{0}' is not in the repository")]
    BlobNotFound(Digest),
    /// The disk holding blobs or metadata has no room for the request's bytes; nothing
    /// was stored.
    #[error("berth's storage is full; nothing was stored")]
    StorageFull,
    /// A dependency cannot be reached right now; the request may be retried.
    #[error("{0} is unavailable; the request may be retried")]
    Unavailable(&'static str),
    /// A server fault: logged with its cause chain, shown to clients only as a generic
    /// message.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

fn list(digests: &[Digest]) -> String {
    digests
        .iter()
        .map(Digest::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<crate::store::Error> for Error {
    /// Store outcomes that the service did not map in context are faults.
    fn from(e: crate::store::Error) -> Self {
        use crate::store::Error as Store;
        match e {
            Store::Full(cause) => {
                tracing::warn!(error = %cause, "metadata store full");
                Error::StorageFull
            }
            Store::Unavailable(cause) => {
                tracing::warn!(error = %cause, "metadata store unavailable");
                Error::Unavailable("the metadata store")
            }
            e => Error::Internal(anyhow::Error::new(e)),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                tracing::warn!(error = %e, "blob store full");
                Error::StorageFull
            }
            _ => Error::Internal(anyhow::Error::new(e).context("blob store")),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
