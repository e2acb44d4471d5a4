use serde::{Deserialize, Serialize};

use super::shapes::{
    exclusion_filters, EncryptionConfiguration, ExclusionFilter, RepositoryOut,
    ScanningConfiguration, Tag,
};
use super::{invalid, registry_id, repository_name};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::{Repository, TagMutability, WildcardFilter};
use crate::service::{CreateRepository, Encryption, Page, PageRequest};

fn mutability(
    mode: Option<&str>,
    filters: Option<Vec<ExclusionFilter>>,
) -> Result<TagMutability, ApiError> {
    let filters = filters
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    WildcardFilter::parse(&f.filter)
                        .map_err(|e| invalid("imageTagMutabilityExclusionFilters", e))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    TagMutability::parse(mode.unwrap_or("MUTABLE"), filters)
        .map_err(|e| invalid("imageTagMutability", e))
}

pub(super) fn tags(tags: Option<Vec<Tag>>) -> Vec<(String, String)> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRepositoryRequest {
    registry_id: Option<String>,
    repository_name: String,
    tags: Option<Vec<Tag>>,
    image_tag_mutability: Option<String>,
    image_tag_mutability_exclusion_filters: Option<Vec<ExclusionFilter>>,
    image_scanning_configuration: Option<ScanningConfiguration>,
    encryption_configuration: Option<EncryptionConfiguration>,
}

#[derive(Serialize)]
pub struct RepositoryResponse {
    repository: RepositoryOut,
}

pub async fn create_repository(
    ctx: Ctx,
    req: CreateRepositoryRequest,
) -> Result<RepositoryResponse, ApiError> {
    let create = CreateRepository {
        registry: registry_id(req.registry_id.as_deref())?,
        name: repository_name(&req.repository_name)?,
        mutability: mutability(
            req.image_tag_mutability.as_deref(),
            req.image_tag_mutability_exclusion_filters,
        )?,
        scan_on_push: req
            .image_scanning_configuration
            .is_some_and(|c| c.scan_on_push),
        encryption: req
            .encryption_configuration
            .map(|e| Encryption {
                encryption_type: e.encryption_type,
                kms_key: e.kms_key,
            })
            .unwrap_or_default(),
        tags: tags(req.tags),
        catalog: None,
    };
    let repo = ctx.service.create_repository(&ctx.caller, create).await?;
    Ok(RepositoryResponse {
        repository: RepositoryOut::new(&ctx, &repo),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRepositoriesRequest {
    registry_id: Option<String>,
    repository_names: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRepositoriesResponse {
    repositories: Vec<RepositoryOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// The repositories a DescribeRepositories request asks for (ECR Public's request
/// is the same; it renders them in its own shape).
pub(crate) async fn describe(
    ctx: &Ctx,
    req: DescribeRepositoriesRequest,
) -> Result<Page<Repository>, ApiError> {
    let names = req
        .repository_names
        .map(|ns| {
            ns.iter()
                .map(|n| repository_name(n))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let registry = registry_id(req.registry_id.as_deref())?;
    Ok(ctx
        .service
        .describe_repositories(&ctx.caller, registry.as_ref(), names, page)
        .await?)
}

pub async fn describe_repositories(
    ctx: Ctx,
    req: DescribeRepositoriesRequest,
) -> Result<DescribeRepositoriesResponse, ApiError> {
    let page = describe(&ctx, req).await?;
    Ok(DescribeRepositoriesResponse {
        repositories: page
            .items
            .iter()
            .map(|r| RepositoryOut::new(&ctx, r))
            .collect(),
        next_token: page.next_token,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRepositoryRequest {
    registry_id: Option<String>,
    repository_name: String,
    force: Option<bool>,
}

/// Deletes what a DeleteRepository request names (the same request on ECR Public).
pub(crate) async fn delete(
    ctx: &Ctx,
    req: DeleteRepositoryRequest,
) -> Result<Repository, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let force = req.force.unwrap_or(false);
    Ok(ctx
        .service
        .delete_repository(&ctx.caller, registry.as_ref(), &name, force)
        .await?)
}

pub async fn delete_repository(
    ctx: Ctx,
    req: DeleteRepositoryRequest,
) -> Result<RepositoryResponse, ApiError> {
    let repo = delete(&ctx, req).await?;
    Ok(RepositoryResponse {
        repository: RepositoryOut::new(&ctx, &repo),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutImageTagMutabilityRequest {
    registry_id: Option<String>,
    repository_name: String,
    image_tag_mutability: String,
    image_tag_mutability_exclusion_filters: Option<Vec<ExclusionFilter>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutImageTagMutabilityResponse {
    registry_id: String,
    repository_name: String,
    image_tag_mutability: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
}

pub async fn put_image_tag_mutability(
    ctx: Ctx,
    req: PutImageTagMutabilityRequest,
) -> Result<PutImageTagMutabilityResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let mode = mutability(
        Some(&req.image_tag_mutability),
        req.image_tag_mutability_exclusion_filters,
    )?;
    let repo = ctx
        .service
        .put_tag_mutability(&ctx.caller, registry.as_ref(), &name, mode)
        .await?;
    Ok(PutImageTagMutabilityResponse {
        registry_id: repo.registry.to_string(),
        repository_name: repo.name.to_string(),
        image_tag_mutability: repo.mutability.mode(),
        image_tag_mutability_exclusion_filters: exclusion_filters(&repo),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutImageScanningConfigurationRequest {
    registry_id: Option<String>,
    repository_name: String,
    image_scanning_configuration: ScanningConfiguration,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutImageScanningConfigurationResponse {
    registry_id: String,
    repository_name: String,
    image_scanning_configuration: ScanningConfiguration,
}

pub async fn put_image_scanning_configuration(
    ctx: Ctx,
    req: PutImageScanningConfigurationRequest,
) -> Result<PutImageScanningConfigurationResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let scan = req.image_scanning_configuration.scan_on_push;
    let repo = ctx
        .service
        .put_scan_on_push(&ctx.caller, registry.as_ref(), &name, scan)
        .await?;
    Ok(PutImageScanningConfigurationResponse {
        registry_id: repo.registry.to_string(),
        repository_name: repo.name.to_string(),
        image_scanning_configuration: ScanningConfiguration {
            scan_on_push: repo.scan_on_push,
        },
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceRequest {
    resource_arn: String,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
pub struct Empty {}

pub async fn tag_resource(ctx: Ctx, req: TagResourceRequest) -> Result<Empty, ApiError> {
    ctx.service
        .tag_resource(&ctx.caller, &req.resource_arn, tags(Some(req.tags)))
        .await?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResourceRequest {
    resource_arn: String,
    tag_keys: Vec<String>,
}

pub async fn untag_resource(ctx: Ctx, req: UntagResourceRequest) -> Result<Empty, ApiError> {
    ctx.service
        .untag_resource(&ctx.caller, &req.resource_arn, req.tag_keys)
        .await?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsForResourceRequest {
    resource_arn: String,
}

#[derive(Serialize)]
pub struct ListTagsForResourceResponse {
    tags: Vec<Tag>,
}

pub async fn list_tags_for_resource(
    ctx: Ctx,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ApiError> {
    let tags = ctx
        .service
        .list_tags_for_resource(&ctx.caller, &req.resource_arn)
        .await?;
    Ok(ListTagsForResourceResponse {
        tags: tags
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .collect(),
    })
}
