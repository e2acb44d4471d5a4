//! Pull through cache rules: CreatePullThroughCacheRule, DescribePullThroughCacheRules,
//! UpdatePullThroughCacheRule, DeletePullThroughCacheRule, ValidatePullThroughCacheRule.

use serde::{Deserialize, Serialize};

use super::error::upstream_failure;
use super::shapes::epoch;
use super::{invalid, registry_id};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::{PullThroughRule, RegistryId, TemplatePrefix, UpstreamRegistry, UpstreamUrl};
use crate::service::{Error, NewPullThroughRule, PageRequest};

fn prefix(member: &str, s: &str) -> Result<TemplatePrefix, ApiError> {
    TemplatePrefix::parse(s).map_err(|e| invalid(member, e))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRuleRequest {
    ecr_repository_prefix: String,
    upstream_registry_url: String,
    registry_id: Option<String>,
    upstream_registry: Option<String>,
    credential_arn: Option<String>,
    custom_role_arn: Option<String>,
    upstream_repository_prefix: Option<String>,
}

/// A rule as the actions answer it: Describe with every member, the others with
/// those their output shapes have (`RuleOut::only`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleOut {
    ecr_repository_prefix: String,
    registry_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_registry_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_registry: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_role_arn: Option<String>,
    upstream_repository_prefix: String,
}

/// The members besides the prefixes, the registry, the credential and the role
/// that an action's output shape holds.
#[derive(Clone, Copy)]
struct Members {
    url: bool,
    created: bool,
    updated: bool,
    upstream_registry: bool,
}

const CREATE: Members = Members {
    url: true,
    created: true,
    updated: false,
    upstream_registry: true,
};
const DESCRIBE: Members = Members {
    updated: true,
    ..CREATE
};
const UPDATE: Members = Members {
    url: false,
    created: false,
    updated: true,
    upstream_registry: false,
};
const DELETE: Members = Members {
    url: true,
    created: true,
    updated: false,
    upstream_registry: false,
};
const VALIDATE: Members = Members {
    created: false,
    ..DELETE
};

impl RuleOut {
    fn only(r: PullThroughRule, m: Members) -> Self {
        Self {
            ecr_repository_prefix: r.prefix.as_str().to_owned(),
            registry_id: r.registry.account.to_string(),
            upstream_registry_url: m.url.then(|| r.upstream_url.as_str().to_owned()),
            created_at: m.created.then(|| epoch(r.created_at)),
            updated_at: m.updated.then(|| epoch(r.updated_at)),
            upstream_registry: r
                .upstream_registry
                .filter(|_| m.upstream_registry)
                .map(UpstreamRegistry::as_str),
            credential_arn: r.credential_arn,
            custom_role_arn: r.custom_role_arn,
            upstream_repository_prefix: r.upstream_prefix.as_str().to_owned(),
        }
    }
}

pub async fn create_pull_through_cache_rule(
    ctx: Ctx,
    req: CreateRuleRequest,
) -> Result<RuleOut, ApiError> {
    let new = NewPullThroughRule {
        prefix: prefix("ecrRepositoryPrefix", &req.ecr_repository_prefix)?,
        upstream_url: UpstreamUrl::parse(&req.upstream_registry_url).map_err(Error::from)?,
        // The model's enum is checked before the handler runs.
        upstream_registry: req
            .upstream_registry
            .as_deref()
            .and_then(UpstreamRegistry::parse),
        credential_arn: req.credential_arn,
        custom_role_arn: req.custom_role_arn,
        upstream_prefix: req
            .upstream_repository_prefix
            .map(|p| prefix("upstreamRepositoryPrefix", &p))
            .transpose()?,
    };
    let registry = registry_id(req.registry_id.as_deref())?;
    let rule = ctx
        .service
        .create_pull_through_rule(&ctx.caller, registry.as_ref(), new)
        .await?;
    Ok(RuleOut::only(rule, CREATE))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRulesRequest {
    registry_id: Option<String>,
    ecr_repository_prefixes: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRulesResponse {
    pull_through_cache_rules: Vec<RuleOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn describe_pull_through_cache_rules(
    ctx: Ctx,
    req: DescribeRulesRequest,
) -> Result<DescribeRulesResponse, ApiError> {
    let prefixes = req
        .ecr_repository_prefixes
        .map(|ps| {
            ps.iter()
                .map(|p| prefix("ecrRepositoryPrefixes", p))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let registry = registry_id(req.registry_id.as_deref())?;
    let page = ctx
        .service
        .describe_pull_through_rules(&ctx.caller, registry.as_ref(), prefixes, page)
        .await?;
    Ok(DescribeRulesResponse {
        pull_through_cache_rules: page
            .items
            .into_iter()
            .map(|r| RuleOut::only(r, DESCRIBE))
            .collect(),
        next_token: page.next_token,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRuleRequest {
    registry_id: Option<String>,
    ecr_repository_prefix: String,
    credential_arn: Option<String>,
    custom_role_arn: Option<String>,
}

pub async fn update_pull_through_cache_rule(
    ctx: Ctx,
    req: UpdateRuleRequest,
) -> Result<RuleOut, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let rule = ctx
        .service
        .update_pull_through_rule(
            &ctx.caller,
            registry.as_ref(),
            prefix("ecrRepositoryPrefix", &req.ecr_repository_prefix)?,
            req.credential_arn,
            req.custom_role_arn,
        )
        .await?;
    Ok(RuleOut::only(rule, UPDATE))
}

/// Delete's and Validate's request.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRequest {
    ecr_repository_prefix: String,
    registry_id: Option<String>,
}

impl RuleRequest {
    /// The registry named, if any, and the rule's prefix.
    fn rule(&self) -> Result<(Option<RegistryId>, TemplatePrefix), ApiError> {
        Ok((
            registry_id(self.registry_id.as_deref())?,
            prefix("ecrRepositoryPrefix", &self.ecr_repository_prefix)?,
        ))
    }
}

pub async fn delete_pull_through_cache_rule(
    ctx: Ctx,
    req: RuleRequest,
) -> Result<RuleOut, ApiError> {
    let (registry, prefix) = req.rule()?;
    let rule = ctx
        .service
        .delete_pull_through_rule(&ctx.caller, registry.as_ref(), prefix)
        .await?;
    Ok(RuleOut::only(rule, DELETE))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateRuleResponse {
    #[serde(flatten)]
    rule: RuleOut,
    is_valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
}

pub async fn validate_pull_through_cache_rule(
    ctx: Ctx,
    req: RuleRequest,
) -> Result<ValidateRuleResponse, ApiError> {
    let (registry, prefix) = req.rule()?;
    let validation = ctx
        .service
        .validate_pull_through_rule(&ctx.caller, registry.as_ref(), prefix)
        .await?;
    Ok(ValidateRuleResponse {
        rule: RuleOut::only(validation.rule, VALIDATE),
        is_valid: validation.failure.is_none(),
        failure: validation.failure.as_ref().map(upstream_failure),
    })
}
