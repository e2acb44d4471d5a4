use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::api::awsjson::{ApiError, Ctx};
use crate::api::ecr::shapes::{epoch, Tag};
use crate::api::ecr::{self, registry_id, repository_name};
use crate::domain::{CatalogData, Repository, TagMutability};
use crate::service::{CatalogInput, CreateRepository};

/// ECR Public's `Repository`: no mutability, scanning or encryption settings.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryOut {
    repository_arn: String,
    registry_id: String,
    repository_name: String,
    repository_uri: String,
    created_at: f64,
}

impl RepositoryOut {
    fn new(ctx: &Ctx, repo: &Repository) -> Self {
        Self {
            repository_arn: repo.arn(),
            registry_id: repo.registry.to_string(),
            repository_name: repo.name.to_string(),
            repository_uri: ctx.service.repository_uri(repo),
            created_at: epoch(repo.created_at),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CatalogDataIn {
    description: Option<String>,
    architectures: Option<Vec<String>>,
    operating_systems: Option<Vec<String>>,
    logo_image_blob: Option<String>,
    about_text: Option<String>,
    usage_text: Option<String>,
}

impl CatalogDataIn {
    fn parse(self) -> Result<CatalogInput, ApiError> {
        let logo = self
            .logo_image_blob
            .map(|b| STANDARD.decode(b.as_bytes()))
            .transpose()
            .map_err(|_| {
                ApiError::serialization("catalogData.logoImageBlob is not valid base64")
            })?;
        Ok(CatalogInput {
            data: CatalogData {
                description: self.description,
                architectures: self.architectures.unwrap_or_default(),
                operating_systems: self.operating_systems.unwrap_or_default(),
                about_text: self.about_text,
                usage_text: self.usage_text,
            },
            logo,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogDataOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    architectures: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    operating_systems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    about_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_text: Option<String>,
    marketplace_certified: bool,
}

impl CatalogDataOut {
    /// The repository's catalog data, if it has been set.
    fn of(ctx: &Ctx, repo: &Repository) -> Option<Self> {
        repo.catalog.clone().map(|c| Self {
            description: c.description,
            architectures: c.architectures,
            operating_systems: c.operating_systems,
            logo_url: ctx.service.logo_url(repo),
            about_text: c.about_text,
            usage_text: c.usage_text,
            marketplace_certified: false,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRepositoryRequest {
    repository_name: String,
    catalog_data: Option<CatalogDataIn>,
    tags: Option<Vec<Tag>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRepositoryResponse {
    repository: RepositoryOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_data: Option<CatalogDataOut>,
}

pub async fn create_repository(
    ctx: Ctx,
    req: CreateRepositoryRequest,
) -> Result<CreateRepositoryResponse, ApiError> {
    let create = CreateRepository {
        registry: None,
        name: repository_name(&req.repository_name)?,
        // Public repositories have no mutability, scanning or encryption settings.
        mutability: TagMutability::Mutable,
        scan_on_push: false,
        encryption: Default::default(),
        tags: req
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
        catalog: req.catalog_data.map(CatalogDataIn::parse).transpose()?,
    };
    let repo = ctx.service.create_repository(&ctx.caller, create).await?;
    Ok(CreateRepositoryResponse {
        repository: RepositoryOut::new(&ctx, &repo),
        catalog_data: CatalogDataOut::of(&ctx, &repo),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRepositoriesResponse {
    repositories: Vec<RepositoryOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn describe_repositories(
    ctx: Ctx,
    req: ecr::repositories::DescribeRepositoriesRequest,
) -> Result<DescribeRepositoriesResponse, ApiError> {
    let page = ecr::repositories::describe(&ctx, req).await?;
    Ok(DescribeRepositoriesResponse {
        repositories: page
            .items
            .iter()
            .map(|r| RepositoryOut::new(&ctx, r))
            .collect(),
        next_token: page.next_token,
    })
}

#[derive(Serialize)]
pub struct DeleteRepositoryResponse {
    repository: RepositoryOut,
}

pub async fn delete_repository(
    ctx: Ctx,
    req: ecr::repositories::DeleteRepositoryRequest,
) -> Result<DeleteRepositoryResponse, ApiError> {
    let repo = ecr::repositories::delete(&ctx, req).await?;
    Ok(DeleteRepositoryResponse {
        repository: RepositoryOut::new(&ctx, &repo),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRepositoryCatalogDataRequest {
    registry_id: Option<String>,
    repository_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogDataResponse {
    catalog_data: Option<CatalogDataOut>,
}

pub async fn get_repository_catalog_data(
    ctx: Ctx,
    req: GetRepositoryCatalogDataRequest,
) -> Result<CatalogDataResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let repo = ctx
        .service
        .repository_catalog(&ctx.caller, registry.as_ref(), &name)
        .await?;
    Ok(CatalogDataResponse {
        catalog_data: CatalogDataOut::of(&ctx, &repo),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutRepositoryCatalogDataRequest {
    registry_id: Option<String>,
    repository_name: String,
    catalog_data: CatalogDataIn,
}

pub async fn put_repository_catalog_data(
    ctx: Ctx,
    req: PutRepositoryCatalogDataRequest,
) -> Result<CatalogDataResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let catalog = req.catalog_data.parse()?;
    let repo = ctx
        .service
        .put_repository_catalog(&ctx.caller, registry.as_ref(), &name, catalog)
        .await?;
    Ok(CatalogDataResponse {
        catalog_data: CatalogDataOut::of(&ctx, &repo),
    })
}
