//! Principals excluded from pull-time updates: RegisterPullTimeUpdateExclusion,
//! DeregisterPullTimeUpdateExclusion, ListPullTimeUpdateExclusions. The model's
//! pattern checks `principalArn` before a handler runs.

use serde::{Deserialize, Serialize};

use super::shapes::epoch;
use crate::api::awsjson::{ApiError, Ctx};
use crate::service::PageRequest;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExclusionRequest {
    principal_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    principal_arn: String,
    created_at: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeregisterResponse {
    principal_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    pull_time_update_exclusions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn register_pull_time_update_exclusion(
    ctx: Ctx,
    req: ExclusionRequest,
) -> Result<RegisterResponse, ApiError> {
    let created_at = ctx
        .service
        .register_pull_time_exclusion(&ctx.caller, &req.principal_arn)
        .await?;
    Ok(RegisterResponse {
        principal_arn: req.principal_arn,
        created_at: epoch(created_at),
    })
}

pub async fn deregister_pull_time_update_exclusion(
    ctx: Ctx,
    req: ExclusionRequest,
) -> Result<DeregisterResponse, ApiError> {
    ctx.service
        .deregister_pull_time_exclusion(&ctx.caller, &req.principal_arn)
        .await?;
    Ok(DeregisterResponse {
        principal_arn: req.principal_arn,
    })
}

pub async fn list_pull_time_update_exclusions(
    ctx: Ctx,
    req: ListRequest,
) -> Result<ListResponse, ApiError> {
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let page = ctx.service.pull_time_exclusions(&ctx.caller, page).await?;
    Ok(ListResponse {
        pull_time_update_exclusions: page.items,
        next_token: page.next_token,
    })
}
