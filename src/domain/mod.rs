//! Newtypes and parsing, no I/O. Once a value has one of these types it is valid:
//! the faces parse wire strings into them, the service and store trust them.

mod account_settings;
mod digest;
mod image;
pub mod lifecycle;
mod manifest;
mod mutability;
mod names;
mod policy;
mod principal;
mod pull_through;
mod registry;
mod replication;
mod repository;
mod scanning;
mod signing;
mod template;
mod upload;

pub use account_settings::{AccountSetting, PolicyScope};
pub use digest::{Algorithm, Digest, DigestError, Hasher, RunningSha256};
pub use image::{
    Image, ImageFilter, ImageSelector, ImageStatus, NotArchivable, StorageClass, TagDetail,
    TagStatus,
};
pub use lifecycle::{LifecyclePolicy, LifecycleProblem};
pub use manifest::{
    Descriptor, Manifest, ManifestError, ManifestKind, MAX_MANIFEST_BYTES, MEDIA_TYPES,
};
pub use mutability::{MutabilityError, TagMutability, WildcardFilter};
pub use names::{ImageTag, NameError, PartId, Region, RegistryId, RepositoryName, UploadId};
pub use policy::{Decision, Policy, PolicyError, PolicyKind, Request};
pub use principal::Principal;
pub use pull_through::{
    choose_pull_through_rule, PullThroughProblem, PullThroughRule, UpstreamRegistry, UpstreamUrl,
    MAX_PULL_THROUGH_RULES,
};
pub use registry::{Namespace, Registry, RegistryAlias};
pub use replication::{
    Destination, ReplicationConfiguration, ReplicationFailure, ReplicationProblem, ReplicationRule,
    ReplicationStatus,
};
pub use repository::{CatalogData, Repository};
pub use scanning::{
    filter_matches, AppliedScanning, ScanFrequency, ScanStatus, ScanType, ScanningConfiguration,
    ScanningProblem, ScanningRule,
};
pub use signing::{
    NotASigningProfileArn, SigningConfiguration, SigningFailure, SigningProfileArn, SigningRule,
    SigningStatus,
};
pub use template::{
    choose_template, AppliedFor, Encryption, PrefixError, RepositoryTemplate, TemplatePrefix,
};
pub use upload::UploadPart;
