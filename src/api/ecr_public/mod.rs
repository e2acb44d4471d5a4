//! The ECR Public face: `SpencerFrontendService.*` over AWS JSON 1.1, SigV4 service
//! `ecr-public`. It serves the account's public registry through the same service
//! functions as ECR; where an action's shapes are ECR's, ECR's handler runs it.

mod images;
mod registry;
mod repositories;

use std::sync::LazyLock;

use serde_json::Value;

use super::awsjson::{action, run, ApiError, Ctx, Face, Handler};
use super::ecr;
use crate::domain::Namespace;
use crate::service::Error;

static SPEC: LazyLock<super::awsjson::spec::ServiceSpec> = LazyLock::new(|| {
    super::awsjson::spec::ServiceSpec::parse(include_str!("../../../api-spec/ecr-public.json"))
        .expect("api-spec/ecr-public.json is checked by the test suite")
});

/// An ECR action whose `registryId` ECR Public also accepts as the registry's alias:
/// the alias is resolved to the account id, then ECR's handler runs. A registry that
/// is not this one is RegistryNotFoundException, or (`no_registry_error`, for an
/// action whose model lists no such error) a repository not found there.
macro_rules! aliased {
    ($name:literal, $handler:path) => {
        aliased!($name, $handler, UnknownRegistry::RegistryNotFound)
    };
    ($name:literal, $handler:path, no_registry_error) => {
        aliased!($name, $handler, UnknownRegistry::RepositoryNotFound)
    };
    ($name:literal, $handler:path, $unknown:expr) => {
        (
            $name,
            (|ctx, body| {
                Box::pin(async move {
                    let body = resolve_alias(&ctx, body, $unknown)?;
                    run(ctx, body, $handler).await
                })
            }) as Handler,
        )
    };
}

/// The dispatch table: all 23 actions of ECR Public.
pub const ACTIONS: &[(&str, Handler)] = &[
    aliased!(
        "BatchCheckLayerAvailability",
        ecr::layers::batch_check_layer_availability
    ),
    aliased!(
        "BatchDeleteImage",
        ecr::images::batch_delete_image,
        no_registry_error
    ),
    aliased!("CompleteLayerUpload", ecr::layers::complete_layer_upload),
    action!("CreateRepository", repositories::create_repository),
    action!("DeleteRepository", repositories::delete_repository),
    action!(
        "DeleteRepositoryPolicy",
        ecr::policies::delete_repository_policy
    ),
    action!("DescribeImageTags", images::describe_image_tags),
    action!("DescribeImages", images::describe_images),
    action!("DescribeRegistries", registry::describe_registries),
    action!("DescribeRepositories", repositories::describe_repositories),
    action!("GetAuthorizationToken", registry::get_authorization_token),
    action!(
        "GetRegistryCatalogData",
        registry::get_registry_catalog_data
    ),
    action!(
        "GetRepositoryCatalogData",
        repositories::get_repository_catalog_data
    ),
    action!("GetRepositoryPolicy", ecr::policies::get_repository_policy),
    aliased!("InitiateLayerUpload", ecr::layers::initiate_layer_upload),
    action!(
        "ListTagsForResource",
        ecr::repositories::list_tags_for_resource
    ),
    aliased!("PutImage", ecr::images::put_image),
    action!(
        "PutRegistryCatalogData",
        registry::put_registry_catalog_data
    ),
    action!(
        "PutRepositoryCatalogData",
        repositories::put_repository_catalog_data
    ),
    action!("SetRepositoryPolicy", ecr::policies::set_repository_policy),
    action!("TagResource", ecr::repositories::tag_resource),
    action!("UntagResource", ecr::repositories::untag_resource),
    aliased!("UploadLayerPart", ecr::layers::upload_layer_part),
];

static FACE: LazyLock<Face> = LazyLock::new(|| Face {
    spec: &SPEC,
    signing_name: "ecr-public",
    namespace: Namespace::Public,
    actions: ACTIONS,
    // As ECR's, plus catalog data: a 500 KB logo as base64 and two 25,600-character
    // texts, which JSON may escape to six bytes a character.
    body_limits: &[
        ("PutImage", 16 * 1024 * 1024),
        ("UploadLayerPart", 28 * 1024 * 1024 + 64 * 1024),
        ("CreateRepository", 2 * 1024 * 1024),
        ("PutRepositoryCatalogData", 2 * 1024 * 1024),
    ],
});

pub fn face() -> &'static Face {
    &FACE
}

/// The spec this face answers to, for tests comparing it with the dispatch table.
pub fn spec() -> &'static super::awsjson::spec::ServiceSpec {
    &SPEC
}

/// How an aliased action answers a `registryId` that names no registry here.
#[derive(Clone, Copy)]
enum UnknownRegistry {
    RegistryNotFound,
    /// The action's model lists no RegistryNotFoundException: the repository it names
    /// is not found in that registry.
    RepositoryNotFound,
}

/// Replaces a `registryId` given as the alias (or the account id) with the account
/// id; any other registry does not exist here.
fn resolve_alias(ctx: &Ctx, mut body: Value, unknown: UnknownRegistry) -> Result<Value, ApiError> {
    if let Some(given) = body.get("registryId").and_then(Value::as_str) {
        let account = match ctx.service.public_registry_id(&ctx.caller, given) {
            Ok(account) => account,
            Err(Error::RegistryNotFound(given)) => {
                let name = body.get("repositoryName").and_then(Value::as_str);
                return Err(match (unknown, name) {
                    (UnknownRegistry::RepositoryNotFound, Some(name)) => {
                        ecr::repository_not_found(&given, &name)
                    }
                    _ => Error::RegistryNotFound(given).into(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        body["registryId"] = Value::from(account.as_str());
    }
    Ok(body)
}
