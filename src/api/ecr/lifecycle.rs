//! Lifecycle policies and their previews.

use serde::{Deserialize, Serialize};

use super::images::{tag_status, TagStatusFilter};
use super::shapes::{epoch, ImageIdentifier};
use super::{registry_id, repository_name};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::lifecycle::{Action, PreviewResult, PreviewStatus, StorageClass};
use crate::domain::{LifecyclePolicy, Repository};
use crate::service::{Error, LifecyclePolicyInfo, PageRequest};

fn policy(text: &str) -> Result<LifecyclePolicy, ApiError> {
    LifecyclePolicy::parse(text).map_err(|p| Error::from(p).into())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutLifecyclePolicyRequest {
    registry_id: Option<String>,
    repository_name: String,
    lifecycle_policy_text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutLifecyclePolicyResponse {
    registry_id: String,
    repository_name: String,
    lifecycle_policy_text: String,
}

pub async fn put_lifecycle_policy(
    ctx: Ctx,
    req: PutLifecyclePolicyRequest,
) -> Result<PutLifecyclePolicyResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let policy = policy(&req.lifecycle_policy_text)?;
    let (repo, text) = ctx
        .service
        .put_lifecycle_policy(&ctx.caller, registry.as_ref(), &name, policy)
        .await?;
    Ok(PutLifecyclePolicyResponse {
        registry_id: repo.registry.to_string(),
        repository_name: repo.name.to_string(),
        lifecycle_policy_text: text,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecyclePolicyRequest {
    registry_id: Option<String>,
    repository_name: String,
}

/// GetLifecyclePolicy's and DeleteLifecyclePolicy's answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecyclePolicyResponse {
    registry_id: String,
    repository_name: String,
    lifecycle_policy_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_evaluated_at: Option<f64>,
}

impl From<LifecyclePolicyInfo> for LifecyclePolicyResponse {
    fn from(info: LifecyclePolicyInfo) -> Self {
        Self {
            registry_id: info.repository.registry.to_string(),
            repository_name: info.repository.name.to_string(),
            lifecycle_policy_text: info.text,
            last_evaluated_at: info.last_evaluated_at.map(epoch),
        }
    }
}

pub async fn get_lifecycle_policy(
    ctx: Ctx,
    req: LifecyclePolicyRequest,
) -> Result<LifecyclePolicyResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    Ok(ctx
        .service
        .lifecycle_policy(&ctx.caller, registry.as_ref(), &name)
        .await?
        .into())
}

pub async fn delete_lifecycle_policy(
    ctx: Ctx,
    req: LifecyclePolicyRequest,
) -> Result<LifecyclePolicyResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    Ok(ctx
        .service
        .delete_lifecycle_policy(&ctx.caller, registry.as_ref(), &name)
        .await?
        .into())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartLifecyclePolicyPreviewRequest {
    registry_id: Option<String>,
    repository_name: String,
    lifecycle_policy_text: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartLifecyclePolicyPreviewResponse {
    registry_id: String,
    repository_name: String,
    lifecycle_policy_text: String,
    status: &'static str,
}

fn status(s: PreviewStatus) -> &'static str {
    match s {
        PreviewStatus::Complete => "COMPLETE",
    }
}

pub async fn start_lifecycle_policy_preview(
    ctx: Ctx,
    req: StartLifecyclePolicyPreviewRequest,
) -> Result<StartLifecyclePolicyPreviewResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let given = req
        .lifecycle_policy_text
        .as_deref()
        .map(policy)
        .transpose()?;
    let (repo, text, s) = ctx
        .service
        .start_lifecycle_policy_preview(&ctx.caller, registry.as_ref(), &name, given)
        .await?;
    Ok(StartLifecyclePolicyPreviewResponse {
        registry_id: repo.registry.to_string(),
        repository_name: repo.name.to_string(),
        lifecycle_policy_text: text,
        status: status(s),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLifecyclePolicyPreviewRequest {
    registry_id: Option<String>,
    repository_name: String,
    image_ids: Option<Vec<ImageIdentifier>>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<TagStatusFilter>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleAction {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_storage_class: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewResultOut {
    image_tags: Vec<String>,
    image_digest: String,
    image_pushed_at: f64,
    action: RuleAction,
    applied_rule_priority: u32,
    storage_class: &'static str,
}

impl From<PreviewResult> for PreviewResultOut {
    fn from(r: PreviewResult) -> Self {
        Self {
            image_tags: r.tags.iter().map(ToString::to_string).collect(),
            image_digest: r.digest.to_string(),
            image_pushed_at: epoch(r.pushed_at),
            action: match r.action {
                Action::Expire => RuleAction {
                    kind: "EXPIRE",
                    target_storage_class: None,
                },
                Action::Transition => RuleAction {
                    kind: "TRANSITION",
                    target_storage_class: Some("ARCHIVE"),
                },
            },
            applied_rule_priority: r.rule_priority,
            storage_class: match r.storage_class {
                StorageClass::Standard => "STANDARD",
                StorageClass::Archive => "ARCHIVE",
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitioningCount {
    target_storage_class: &'static str,
    image_total_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewSummary {
    expiring_image_total_count: usize,
    /// Only when something transitions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    transitioning_image_total_counts: Vec<TransitioningCount>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLifecyclePolicyPreviewResponse {
    registry_id: String,
    repository_name: String,
    lifecycle_policy_text: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    preview_results: Vec<PreviewResultOut>,
    summary: PreviewSummary,
}

pub async fn get_lifecycle_policy_preview(
    ctx: Ctx,
    req: GetLifecyclePolicyPreviewRequest,
) -> Result<GetLifecyclePolicyPreviewResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let ids = req
        .image_ids
        .map(|ids| ids.iter().map(ImageIdentifier::selector).collect());
    let status_filter = tag_status(req.filter)?;
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let preview = ctx
        .service
        .lifecycle_policy_preview(
            &ctx.caller,
            registry.as_ref(),
            &name,
            ids,
            status_filter,
            page,
        )
        .await?;
    let repo: &Repository = &preview.repository;
    Ok(GetLifecyclePolicyPreviewResponse {
        registry_id: repo.registry.to_string(),
        repository_name: repo.name.to_string(),
        lifecycle_policy_text: preview.policy_text,
        status: status(preview.status),
        next_token: preview.results.next_token,
        preview_results: preview.results.items.into_iter().map(Into::into).collect(),
        summary: PreviewSummary {
            expiring_image_total_count: preview.expiring,
            transitioning_image_total_counts: if preview.transitioning > 0 {
                vec![TransitioningCount {
                    target_storage_class: "ARCHIVE",
                    image_total_count: preview.transitioning,
                }]
            } else {
                Vec::new()
            },
        },
    })
}
