//! The ECR face: `AmazonEC2ContainerRegistry_V20150921.*` over AWS JSON 1.1. Each
//! handler parses its input into domain types, calls one service method and shapes
//! the answer; the rules are the service's.

mod account_settings;
mod error;
// ECR Public shares the handlers whose shapes are the same on both APIs.
pub(super) mod images;
pub(super) mod layers;
mod lifecycle;
pub(super) mod policies;
mod pull_through;
mod pull_times;
mod referrers;
mod registry;
mod registry_policy;
mod replication;
pub(super) mod repositories;
mod scanning;
pub(super) mod shapes;
mod signing;
mod templates;

use std::sync::LazyLock;

use super::awsjson::{action, ApiError, Face, Handler};
use crate::domain::{Digest, ImageTag, Namespace, RegistryId, RepositoryName, UploadId};

pub(super) use error::repository_not_found;

static SPEC: LazyLock<super::awsjson::spec::ServiceSpec> = LazyLock::new(|| {
    super::awsjson::spec::ServiceSpec::parse(include_str!("../../../api-spec/ecr.json"))
        .expect("api-spec/ecr.json is checked by the test suite")
});

/// The dispatch table: every action this face implements.
pub const ACTIONS: &[(&str, Handler)] = &[
    action!(
        "BatchCheckLayerAvailability",
        layers::batch_check_layer_availability
    ),
    action!("BatchDeleteImage", images::batch_delete_image),
    action!("BatchGetImage", images::batch_get_image),
    action!("CompleteLayerUpload", layers::complete_layer_upload),
    action!("CreateRepository", repositories::create_repository),
    action!("DeleteRepository", repositories::delete_repository),
    action!("DescribeImages", images::describe_images),
    action!("DescribeRegistry", replication::describe_registry),
    action!("DeleteLifecyclePolicy", lifecycle::delete_lifecycle_policy),
    action!("DeleteRepositoryPolicy", policies::delete_repository_policy),
    action!("DescribeRepositories", repositories::describe_repositories),
    action!("GetAuthorizationToken", registry::get_authorization_token),
    action!("GetDownloadUrlForLayer", layers::get_download_url_for_layer),
    action!("GetLifecyclePolicy", lifecycle::get_lifecycle_policy),
    action!(
        "GetLifecyclePolicyPreview",
        lifecycle::get_lifecycle_policy_preview
    ),
    action!("GetRepositoryPolicy", policies::get_repository_policy),
    action!("InitiateLayerUpload", layers::initiate_layer_upload),
    action!("ListImages", images::list_images),
    action!("ListImageReferrers", referrers::list_image_referrers),
    action!("ListTagsForResource", repositories::list_tags_for_resource),
    action!("PutImage", images::put_image),
    action!("PutLifecyclePolicy", lifecycle::put_lifecycle_policy),
    action!(
        "PutImageScanningConfiguration",
        repositories::put_image_scanning_configuration
    ),
    action!(
        "PutImageTagMutability",
        repositories::put_image_tag_mutability
    ),
    action!("SetRepositoryPolicy", policies::set_repository_policy),
    action!(
        "StartLifecyclePolicyPreview",
        lifecycle::start_lifecycle_policy_preview
    ),
    action!("TagResource", repositories::tag_resource),
    action!("UntagResource", repositories::untag_resource),
    action!(
        "UpdateImageStorageClass",
        images::update_image_storage_class
    ),
    action!("UploadLayerPart", layers::upload_layer_part),
    action!(
        "DeleteRegistryPolicy",
        registry_policy::delete_registry_policy
    ),
    action!(
        "DeregisterPullTimeUpdateExclusion",
        pull_times::deregister_pull_time_update_exclusion
    ),
    action!("GetAccountSetting", account_settings::get_account_setting),
    action!("GetRegistryPolicy", registry_policy::get_registry_policy),
    action!(
        "ListPullTimeUpdateExclusions",
        pull_times::list_pull_time_update_exclusions
    ),
    action!("PutAccountSetting", account_settings::put_account_setting),
    action!("PutRegistryPolicy", registry_policy::put_registry_policy),
    action!(
        "RegisterPullTimeUpdateExclusion",
        pull_times::register_pull_time_update_exclusion
    ),
    action!(
        "CreateRepositoryCreationTemplate",
        templates::create_repository_creation_template
    ),
    action!(
        "DeleteRepositoryCreationTemplate",
        templates::delete_repository_creation_template
    ),
    action!(
        "DescribeRepositoryCreationTemplates",
        templates::describe_repository_creation_templates
    ),
    action!(
        "UpdateRepositoryCreationTemplate",
        templates::update_repository_creation_template
    ),
    action!(
        "PutReplicationConfiguration",
        replication::put_replication_configuration
    ),
    action!(
        "DescribeImageReplicationStatus",
        replication::describe_image_replication_status
    ),
    action!(
        "CreatePullThroughCacheRule",
        pull_through::create_pull_through_cache_rule
    ),
    action!(
        "DeletePullThroughCacheRule",
        pull_through::delete_pull_through_cache_rule
    ),
    action!(
        "DescribePullThroughCacheRules",
        pull_through::describe_pull_through_cache_rules
    ),
    action!(
        "UpdatePullThroughCacheRule",
        pull_through::update_pull_through_cache_rule
    ),
    action!(
        "ValidatePullThroughCacheRule",
        pull_through::validate_pull_through_cache_rule
    ),
    action!(
        "PutSigningConfiguration",
        signing::put_signing_configuration
    ),
    action!(
        "GetSigningConfiguration",
        signing::get_signing_configuration
    ),
    action!(
        "DeleteSigningConfiguration",
        signing::delete_signing_configuration
    ),
    action!(
        "DescribeImageSigningStatus",
        signing::describe_image_signing_status
    ),
    action!(
        "PutRegistryScanningConfiguration",
        scanning::put_registry_scanning_configuration
    ),
    action!(
        "GetRegistryScanningConfiguration",
        scanning::get_registry_scanning_configuration
    ),
    action!(
        "BatchGetRepositoryScanningConfiguration",
        scanning::batch_get_repository_scanning_configuration
    ),
    action!("StartImageScan", scanning::start_image_scan),
    action!(
        "DescribeImageScanFindings",
        scanning::describe_image_scan_findings
    ),
];

static FACE: LazyLock<Face> = LazyLock::new(|| Face {
    spec: &SPEC,
    signing_name: "ecr",
    namespace: Namespace::Private,
    actions: ACTIONS,
    // A 4 MiB manifest inside JSON, and a 20 MiB part as base64 (4/3 larger).
    body_limits: &[
        ("PutImage", 16 * 1024 * 1024),
        ("UploadLayerPart", 28 * 1024 * 1024 + 64 * 1024),
    ],
});

pub fn face() -> &'static Face {
    &FACE
}

/// The spec this face answers to, for tests comparing it with the dispatch table.
pub fn spec() -> &'static super::awsjson::spec::ServiceSpec {
    &SPEC
}

pub(super) fn invalid(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_parameter(format!(
        "Invalid parameter at '{field}' failed to satisfy constraint: '{why}'"
    ))
}

pub(super) fn repository_name(s: &str) -> Result<RepositoryName, ApiError> {
    RepositoryName::parse(s).map_err(|e| invalid("repositoryName", e))
}

pub(super) fn registry_id(s: Option<&str>) -> Result<Option<RegistryId>, ApiError> {
    s.map(|s| RegistryId::parse(s).map_err(|e| invalid("registryId", e)))
        .transpose()
}

pub(super) fn image_tag(s: &str) -> Result<ImageTag, ApiError> {
    ImageTag::parse(s).map_err(|e| invalid("imageTag", e))
}

pub(super) fn digest(field: &str, s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).map_err(|e| invalid(field, e))
}

pub(super) fn upload_id(s: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(s).map_err(|e| invalid("uploadId", e))
}
