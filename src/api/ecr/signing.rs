//! Managed signing: PutSigningConfiguration, GetSigningConfiguration,
//! DeleteSigningConfiguration and DescribeImageSigningStatus.

use serde::{Deserialize, Serialize};

use super::shapes::ImageIdentifier;
use super::{invalid, registry_id, repository_name};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::{Registry, SigningConfiguration, SigningProfileArn, SigningRule};
use crate::service::{Error, Invalid};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningConfigurationShape {
    rules: Vec<RuleShape>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleShape {
    signing_profile_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository_filters: Option<Vec<FilterShape>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterShape {
    filter: String,
    filter_type: String,
}

/// `WILDCARD_MATCH`, the one filter type the model has.
const WILDCARD_MATCH: &str = "WILDCARD_MATCH";

impl SigningConfigurationShape {
    /// The configuration as the domain holds it; the model has checked the shapes
    /// (the ARN's and the filters' patterns, `WILDCARD_MATCH`, the counts).
    fn parse(self) -> Result<SigningConfiguration, ApiError> {
        let rules = self
            .rules
            .into_iter()
            .map(|rule| {
                let profile = SigningProfileArn::parse(&rule.signing_profile_arn)
                    .map_err(|e| invalid("signingConfiguration.rules.signingProfileArn", e))?;
                let filters = rule
                    .repository_filters
                    .unwrap_or_default()
                    .into_iter()
                    .map(|f| f.filter)
                    .collect();
                Ok(SigningRule { profile, filters })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(SigningConfiguration { rules })
    }

    fn of(config: &SigningConfiguration) -> Self {
        Self {
            rules: config
                .rules
                .iter()
                .map(|r| RuleShape {
                    signing_profile_arn: r.profile.to_string(),
                    repository_filters: (!r.filters.is_empty()).then(|| {
                        r.filters
                            .iter()
                            .map(|f| FilterShape {
                                filter: f.clone(),
                                filter_type: WILDCARD_MATCH.into(),
                            })
                            .collect()
                    }),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutSigningConfigurationRequest {
    signing_configuration: SigningConfigurationShape,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutSigningConfigurationResponse {
    signing_configuration: SigningConfigurationShape,
}

pub async fn put_signing_configuration(
    ctx: Ctx,
    req: PutSigningConfigurationRequest,
) -> Result<PutSigningConfigurationResponse, ApiError> {
    let config = req.signing_configuration.parse()?;
    let config = ctx
        .service
        .put_signing_configuration(&ctx.caller, config)
        .await?;
    Ok(PutSigningConfigurationResponse {
        signing_configuration: SigningConfigurationShape::of(&config),
    })
}

#[derive(Deserialize)]
pub struct RegistryRequest {}

/// Get's and Delete's answer: the registry and its (deleted) configuration.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationResponse {
    registry_id: String,
    signing_configuration: SigningConfigurationShape,
}

impl ConfigurationResponse {
    fn of((registry, config): (Registry, SigningConfiguration)) -> Self {
        Self {
            registry_id: registry.account.to_string(),
            signing_configuration: SigningConfigurationShape::of(&config),
        }
    }
}

pub async fn get_signing_configuration(
    ctx: Ctx,
    _req: RegistryRequest,
) -> Result<ConfigurationResponse, ApiError> {
    let found = ctx.service.signing_configuration(&ctx.caller).await?;
    Ok(ConfigurationResponse::of(found))
}

pub async fn delete_signing_configuration(
    ctx: Ctx,
    _req: RegistryRequest,
) -> Result<ConfigurationResponse, ApiError> {
    let deleted = ctx
        .service
        .delete_signing_configuration(&ctx.caller)
        .await?;
    Ok(ConfigurationResponse::of(deleted))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImageSigningStatusRequest {
    repository_name: String,
    image_id: ImageIdentifier,
    registry_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImageSigningStatusResponse {
    repository_name: String,
    image_id: ImageIdentifier,
    registry_id: String,
    signing_statuses: Vec<StatusShape>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusShape {
    signing_profile_arn: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
}

pub async fn describe_image_signing_status(
    ctx: Ctx,
    req: DescribeImageSigningStatusRequest,
) -> Result<DescribeImageSigningStatusResponse, ApiError> {
    let name = repository_name(&req.repository_name)?;
    let registry = registry_id(req.registry_id.as_deref())?;
    let selector = req
        .image_id
        .selector()
        .map_err(|f| ApiError::from(Error::Invalid(Invalid::ImageId(f))))?;
    let found = ctx
        .service
        .image_signing_status(&ctx.caller, registry.as_ref(), name, selector)
        .await?;
    Ok(DescribeImageSigningStatusResponse {
        repository_name: found.name.to_string(),
        image_id: ImageIdentifier {
            image_digest: Some(found.digest.to_string()),
            image_tag: found.tag.map(|t| t.to_string()),
        },
        registry_id: found.registry.account.to_string(),
        signing_statuses: found
            .statuses
            .into_iter()
            .map(|s| StatusShape {
                signing_profile_arn: s.profile.to_string(),
                status: s.status.as_str(),
                failure_code: s.failure_code,
                failure_reason: s.failure_reason,
            })
            .collect(),
    })
}
