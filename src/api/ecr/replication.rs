//! Private image replication: PutReplicationConfiguration, DescribeRegistry (which
//! answers with the configuration) and DescribeImageReplicationStatus.

use serde::{Deserialize, Serialize};

use super::shapes::ImageIdentifier;
use super::{invalid, registry_id, repository_name};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::{Destination, Region, RegistryId, ReplicationConfiguration, ReplicationRule};
use crate::service::{Error, Invalid};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationConfigurationShape {
    rules: Vec<RuleShape>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleShape {
    destinations: Vec<DestinationShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository_filters: Option<Vec<FilterShape>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DestinationShape {
    region: String,
    registry_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterShape {
    filter: String,
    filter_type: String,
}

impl ReplicationConfigurationShape {
    /// The configuration as the domain holds it; the model has checked the shapes
    /// (lengths, patterns, `PREFIX_MATCH` as the one filter type).
    fn parse(self) -> Result<ReplicationConfiguration, ApiError> {
        let rules = self
            .rules
            .into_iter()
            .map(|rule| {
                let destinations = rule
                    .destinations
                    .iter()
                    .map(|d| {
                        Ok(Destination {
                            region: Region::parse(&d.region).map_err(|e| {
                                invalid("replicationConfiguration.rules.destinations.region", e)
                            })?,
                            account: RegistryId::parse(&d.registry_id).map_err(|e| {
                                invalid("replicationConfiguration.rules.destinations.registryId", e)
                            })?,
                        })
                    })
                    .collect::<Result<Vec<_>, ApiError>>()?;
                let filters = rule
                    .repository_filters
                    .unwrap_or_default()
                    .into_iter()
                    .map(|f| f.filter)
                    .collect();
                Ok(ReplicationRule {
                    destinations,
                    filters,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(ReplicationConfiguration { rules })
    }

    fn of(config: &ReplicationConfiguration) -> Self {
        Self {
            rules: config
                .rules
                .iter()
                .map(|r| RuleShape {
                    destinations: r
                        .destinations
                        .iter()
                        .map(|d| DestinationShape {
                            region: d.region.to_string(),
                            registry_id: d.account.to_string(),
                        })
                        .collect(),
                    repository_filters: (!r.filters.is_empty()).then(|| {
                        r.filters
                            .iter()
                            .map(|f| FilterShape {
                                filter: f.clone(),
                                filter_type: "PREFIX_MATCH".into(),
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
pub struct PutReplicationConfigurationRequest {
    replication_configuration: ReplicationConfigurationShape,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutReplicationConfigurationResponse {
    replication_configuration: ReplicationConfigurationShape,
}

pub async fn put_replication_configuration(
    ctx: Ctx,
    req: PutReplicationConfigurationRequest,
) -> Result<PutReplicationConfigurationResponse, ApiError> {
    let config = req.replication_configuration.parse()?;
    let config = ctx
        .service
        .put_replication_configuration(&ctx.caller, config)
        .await?;
    Ok(PutReplicationConfigurationResponse {
        replication_configuration: ReplicationConfigurationShape::of(&config),
    })
}

#[derive(Deserialize)]
pub struct DescribeRegistryRequest {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRegistryResponse {
    registry_id: String,
    replication_configuration: ReplicationConfigurationShape,
}

pub async fn describe_registry(
    ctx: Ctx,
    _req: DescribeRegistryRequest,
) -> Result<DescribeRegistryResponse, ApiError> {
    let (registry, config) = ctx.service.describe_registry(&ctx.caller).await?;
    Ok(DescribeRegistryResponse {
        registry_id: registry.account.to_string(),
        replication_configuration: ReplicationConfigurationShape::of(&config),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImageReplicationStatusRequest {
    repository_name: String,
    image_id: ImageIdentifier,
    registry_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImageReplicationStatusResponse {
    repository_name: String,
    image_id: ImageIdentifier,
    replication_statuses: Vec<StatusShape>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusShape {
    region: String,
    registry_id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_code: Option<String>,
}

pub async fn describe_image_replication_status(
    ctx: Ctx,
    req: DescribeImageReplicationStatusRequest,
) -> Result<DescribeImageReplicationStatusResponse, ApiError> {
    let name = repository_name(&req.repository_name)?;
    let registry = registry_id(req.registry_id.as_deref())?;
    let selector = req
        .image_id
        .selector()
        .map_err(|f| ApiError::from(Error::Invalid(Invalid::ImageId(f))))?;
    let found = ctx
        .service
        .image_replication_status(&ctx.caller, registry.as_ref(), name, selector)
        .await?;
    Ok(DescribeImageReplicationStatusResponse {
        repository_name: found.name.to_string(),
        image_id: ImageIdentifier {
            image_digest: Some(found.digest.to_string()),
            image_tag: found.tag.map(|t| t.to_string()),
        },
        replication_statuses: found
            .statuses
            .into_iter()
            .map(|s| StatusShape {
                region: s.destination.region.to_string(),
                registry_id: s.destination.account.to_string(),
                status: s.status.as_str(),
                failure_code: s.failure_code,
            })
            .collect(),
    })
}
