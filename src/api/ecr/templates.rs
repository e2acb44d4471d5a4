//! Repository creation templates: CreateRepositoryCreationTemplate,
//! DescribeRepositoryCreationTemplates, UpdateRepositoryCreationTemplate,
//! DeleteRepositoryCreationTemplate.

use serde::{Deserialize, Serialize};

use super::invalid;
use super::repositories::tags;
use super::shapes::{epoch, EncryptionConfiguration, ExclusionFilter, Tag};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::{
    AppliedFor, Encryption, LifecyclePolicy, Policy, PolicyKind, RepositoryTemplate,
    TemplatePrefix, WildcardFilter,
};
use crate::service::{Error, PageRequest, TemplateSettings};

fn prefix(s: &str) -> Result<TemplatePrefix, ApiError> {
    TemplatePrefix::parse(s).map_err(|e| invalid("prefix", e))
}

/// The members Create and Update share.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRequest {
    prefix: String,
    description: Option<String>,
    encryption_configuration: Option<EncryptionConfiguration>,
    resource_tags: Option<Vec<Tag>>,
    image_tag_mutability: Option<String>,
    image_tag_mutability_exclusion_filters: Option<Vec<ExclusionFilter>>,
    repository_policy: Option<String>,
    lifecycle_policy: Option<String>,
    applied_for: Option<Vec<String>>,
    custom_role_arn: Option<String>,
}

impl TemplateRequest {
    /// The settings the request gives, each parsed; an empty policy text clears one.
    fn settings(self) -> Result<(TemplatePrefix, TemplateSettings), ApiError> {
        let filters = self
            .image_tag_mutability_exclusion_filters
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        WildcardFilter::parse(&f.filter)
                            .map_err(|e| invalid("imageTagMutabilityExclusionFilters", e))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let repository_policy = self
            .repository_policy
            .map(|text| {
                (!text.is_empty())
                    .then(|| Policy::parse(&text, PolicyKind::Repository))
                    .transpose()
                    .map_err(Error::InvalidPolicy)
            })
            .transpose()?;
        let lifecycle_policy = self
            .lifecycle_policy
            .map(|text| {
                (!text.is_empty())
                    .then(|| LifecyclePolicy::parse(&text))
                    .transpose()
                    .map_err(Error::from)
            })
            .transpose()?;
        let applied_for = self
            .applied_for
            .map(|list| {
                list.iter()
                    .map(|a| {
                        AppliedFor::parse(a).ok_or_else(|| {
                            invalid("appliedFor", "Member must satisfy enum value set")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let settings = TemplateSettings {
            description: self.description,
            encryption: self.encryption_configuration.map(|e| Encryption {
                encryption_type: e.encryption_type,
                kms_key: e.kms_key.filter(|k| !k.is_empty()),
            }),
            resource_tags: self.resource_tags.map(|t| tags(Some(t))),
            mutability_mode: self.image_tag_mutability,
            mutability_filters: filters,
            repository_policy,
            lifecycle_policy,
            applied_for,
            custom_role_arn: self.custom_role_arn,
        };
        Ok((prefix(&self.prefix)?, settings))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateOut {
    prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_configuration: Option<EncryptionConfiguration>,
    resource_tags: Vec<Tag>,
    image_tag_mutability: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifecycle_policy: Option<String>,
    applied_for: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_role_arn: Option<String>,
    created_at: f64,
    updated_at: f64,
}

impl From<RepositoryTemplate> for TemplateOut {
    fn from(t: RepositoryTemplate) -> Self {
        Self {
            prefix: t.prefix.as_str().to_owned(),
            description: t.description,
            encryption_configuration: t.encryption.map(|e| EncryptionConfiguration {
                encryption_type: e.encryption_type,
                kms_key: e.kms_key,
            }),
            resource_tags: t
                .resource_tags
                .into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect(),
            image_tag_mutability: t.mutability.mode(),
            image_tag_mutability_exclusion_filters: t
                .mutability
                .filters()
                .iter()
                .map(|f| ExclusionFilter {
                    filter_type: "WILDCARD".into(),
                    filter: f.as_str().to_owned(),
                })
                .collect(),
            repository_policy: t.repository_policy,
            lifecycle_policy: t.lifecycle_policy,
            applied_for: t.applied_for.iter().map(|a| a.as_str()).collect(),
            custom_role_arn: t.custom_role_arn,
            created_at: epoch(t.created_at),
            updated_at: epoch(t.updated_at),
        }
    }
}

/// Create's, Update's and Delete's answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateResponse {
    registry_id: String,
    repository_creation_template: TemplateOut,
}

fn response(ctx: &Ctx, template: RepositoryTemplate) -> TemplateResponse {
    TemplateResponse {
        registry_id: ctx.caller.registry.account.to_string(),
        repository_creation_template: template.into(),
    }
}

pub async fn create_repository_creation_template(
    ctx: Ctx,
    req: TemplateRequest,
) -> Result<TemplateResponse, ApiError> {
    let (prefix, settings) = req.settings()?;
    let template = ctx
        .service
        .create_template(&ctx.caller, prefix, settings)
        .await?;
    Ok(response(&ctx, template))
}

pub async fn update_repository_creation_template(
    ctx: Ctx,
    req: TemplateRequest,
) -> Result<TemplateResponse, ApiError> {
    let (prefix, settings) = req.settings()?;
    let template = ctx
        .service
        .update_template(&ctx.caller, prefix, settings)
        .await?;
    Ok(response(&ctx, template))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteTemplateRequest {
    prefix: String,
}

pub async fn delete_repository_creation_template(
    ctx: Ctx,
    req: DeleteTemplateRequest,
) -> Result<TemplateResponse, ApiError> {
    let template = ctx
        .service
        .delete_template(&ctx.caller, prefix(&req.prefix)?)
        .await?;
    Ok(response(&ctx, template))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTemplatesRequest {
    prefixes: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTemplatesResponse {
    registry_id: String,
    repository_creation_templates: Vec<TemplateOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn describe_repository_creation_templates(
    ctx: Ctx,
    req: DescribeTemplatesRequest,
) -> Result<DescribeTemplatesResponse, ApiError> {
    let prefixes = req
        .prefixes
        .map(|ps| ps.iter().map(|p| prefix(p)).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let page = ctx
        .service
        .describe_templates(&ctx.caller, prefixes, page)
        .await?;
    Ok(DescribeTemplatesResponse {
        registry_id: ctx.caller.registry.account.to_string(),
        repository_creation_templates: page.items.into_iter().map(Into::into).collect(),
        next_token: page.next_token,
    })
}
