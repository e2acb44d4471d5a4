use serde::{Deserialize, Serialize};

use crate::api::awsjson::{ApiError, Ctx};
use crate::api::ecr::shapes::epoch;
use crate::service::PageRequest;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRegistriesRequest {
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRegistriesResponse {
    registries: Vec<RegistryOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryOut {
    registry_id: String,
    registry_arn: String,
    registry_uri: String,
    verified: bool,
    aliases: Vec<RegistryAliasOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryAliasOut {
    name: String,
    status: &'static str,
    primary_registry_alias: bool,
    default_registry_alias: bool,
}

pub async fn describe_registries(
    ctx: Ctx,
    req: DescribeRegistriesRequest,
) -> Result<DescribeRegistriesResponse, ApiError> {
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let page = ctx.service.describe_registries(&ctx.caller, page)?;
    Ok(DescribeRegistriesResponse {
        registries: page
            .items
            .into_iter()
            .map(|r| RegistryOut {
                registry_id: r.account.to_string(),
                registry_arn: r.arn,
                registry_uri: r.uri,
                // Verification is AWS's review of an account; berth has none to give.
                verified: false,
                aliases: vec![RegistryAliasOut {
                    name: r.alias.to_string(),
                    status: "ACTIVE",
                    primary_registry_alias: true,
                    default_registry_alias: true,
                }],
            })
            .collect(),
        next_token: page.next_token,
    })
}

#[derive(Deserialize)]
pub struct GetRegistryCatalogDataRequest {}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutRegistryCatalogDataRequest {
    display_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCatalogDataResponse {
    registry_catalog_data: RegistryCatalogData,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCatalogData {
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
}

pub async fn get_registry_catalog_data(
    ctx: Ctx,
    _req: GetRegistryCatalogDataRequest,
) -> Result<RegistryCatalogDataResponse, ApiError> {
    let display_name = ctx.service.registry_display_name().await?;
    Ok(RegistryCatalogDataResponse {
        registry_catalog_data: RegistryCatalogData { display_name },
    })
}

pub async fn put_registry_catalog_data(
    ctx: Ctx,
    req: PutRegistryCatalogDataRequest,
) -> Result<RegistryCatalogDataResponse, ApiError> {
    let display_name = ctx
        .service
        .put_registry_display_name(req.display_name)
        .await?;
    Ok(RegistryCatalogDataResponse {
        registry_catalog_data: RegistryCatalogData { display_name },
    })
}

#[derive(Deserialize)]
pub struct GetAuthorizationTokenRequest {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetAuthorizationTokenResponse {
    authorization_data: AuthorizationDataOut,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationDataOut {
    authorization_token: String,
    expires_at: f64,
}

/// A token for the public registry's `/v2/` (pushes; pulls need none).
pub async fn get_authorization_token(
    ctx: Ctx,
    _req: GetAuthorizationTokenRequest,
) -> Result<GetAuthorizationTokenResponse, ApiError> {
    let data = ctx
        .service
        .get_authorization_token(&ctx.caller, None)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no authorization data minted")))?;
    Ok(GetAuthorizationTokenResponse {
        authorization_data: AuthorizationDataOut {
            authorization_token: data.token,
            expires_at: epoch(data.expires_at),
        },
    })
}
