//! Newtypes and parsing, no I/O. Once a value has one of these types it is valid:
//! the faces parse wire strings into them, the service and store trust them.

mod digest;
mod image;
pub mod lifecycle;
mod manifest;
mod mutability;
mod names;
mod policy;
mod registry;
mod repository;
mod upload;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use image::{
    Image, ImageFilter, ImageSelector, ImageStatus, NotArchivable, StorageClass, TagDetail,
    TagStatus,
};
pub use lifecycle::{LifecyclePolicy, LifecycleProblem};
pub use manifest::{Descriptor, Manifest, ManifestError, ManifestKind, MAX_MANIFEST_BYTES};
pub use mutability::{MutabilityError, TagMutability, WildcardFilter};
pub use names::{ImageTag, NameError, PartId, RegistryId, RepositoryName, UploadId};
pub use policy::{Decision, Policy, PolicyError, PolicyKind, Principal, RepositoryPolicy, Request};
pub use registry::{Namespace, Registry, RegistryAlias};
pub use repository::{CatalogData, Repository};
pub use upload::UploadPart;
