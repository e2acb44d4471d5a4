//! The registry policy: PutRegistryPolicy, GetRegistryPolicy, DeleteRegistryPolicy.

use serde::{Deserialize, Serialize};

use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::Registry;
use crate::domain::{Policy, PolicyKind};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutRegistryPolicyRequest {
    policy_text: String,
}

#[derive(Deserialize)]
pub struct RegistryPolicyRequest {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryPolicyResponse {
    registry_id: String,
    policy_text: String,
}

fn response((registry, policy_text): (Registry, String)) -> RegistryPolicyResponse {
    RegistryPolicyResponse {
        registry_id: registry.account.to_string(),
        policy_text,
    }
}

pub async fn put_registry_policy(
    ctx: Ctx,
    req: PutRegistryPolicyRequest,
) -> Result<RegistryPolicyResponse, ApiError> {
    let policy = Policy::parse(&req.policy_text, PolicyKind::Registry)
        .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    let put = ctx.service.put_registry_policy(&ctx.caller, policy).await?;
    Ok(response(put))
}

pub async fn get_registry_policy(
    ctx: Ctx,
    _req: RegistryPolicyRequest,
) -> Result<RegistryPolicyResponse, ApiError> {
    Ok(response(ctx.service.registry_policy(&ctx.caller).await?))
}

pub async fn delete_registry_policy(
    ctx: Ctx,
    _req: RegistryPolicyRequest,
) -> Result<RegistryPolicyResponse, ApiError> {
    Ok(response(
        ctx.service.delete_registry_policy(&ctx.caller).await?,
    ))
}
