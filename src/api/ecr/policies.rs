//! Repository policies. ECR Public's policy actions have the same shapes and run
//! these handlers too.

use serde::{Deserialize, Serialize};

use super::{registry_id, repository_name};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::{Policy, PolicyKind, Repository};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetRepositoryPolicyRequest {
    registry_id: Option<String>,
    repository_name: String,
    policy_text: String,
    /// Sets a policy that would refuse the caller a later SetRepositoryPolicy.
    force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryPolicyRequest {
    registry_id: Option<String>,
    repository_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryPolicyResponse {
    registry_id: String,
    repository_name: String,
    policy_text: String,
}

fn response((repo, policy_text): (Repository, String)) -> RepositoryPolicyResponse {
    RepositoryPolicyResponse {
        registry_id: repo.registry.to_string(),
        repository_name: repo.name.to_string(),
        policy_text,
    }
}

pub async fn set_repository_policy(
    ctx: Ctx,
    req: SetRepositoryPolicyRequest,
) -> Result<RepositoryPolicyResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let policy = Policy::parse(&req.policy_text, PolicyKind::Repository)
        .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    ctx.service
        .set_repository_policy(
            &ctx.caller,
            registry.as_ref(),
            &name,
            policy,
            req.force.unwrap_or(false),
        )
        .await
        .map(response)
        .map_err(Into::into)
}

pub async fn get_repository_policy(
    ctx: Ctx,
    req: RepositoryPolicyRequest,
) -> Result<RepositoryPolicyResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    ctx.service
        .repository_policy(&ctx.caller, registry.as_ref(), &name)
        .await
        .map(response)
        .map_err(Into::into)
}

pub async fn delete_repository_policy(
    ctx: Ctx,
    req: RepositoryPolicyRequest,
) -> Result<RepositoryPolicyResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    ctx.service
        .delete_repository_policy(&ctx.caller, registry.as_ref(), &name)
        .await
        .map(response)
        .map_err(Into::into)
}
