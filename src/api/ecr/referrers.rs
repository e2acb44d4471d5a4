//! ListImageReferrers: the artifacts (signatures, SBOMs, attestations) whose subject is
//! an image, as the registry API's referrers listing has them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{digest, invalid, registry_id, repository_name};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::ImageStatus;
use crate::service::{PageRequest, ReferrerFilter};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListImageReferrersRequest {
    registry_id: Option<String>,
    repository_name: String,
    subject_id: SubjectIdentifier,
    filter: Option<FilterIn>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectIdentifier {
    image_digest: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FilterIn {
    #[serde(default)]
    artifact_types: Vec<String>,
    artifact_status: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListImageReferrersResponse {
    referrers: Vec<ImageReferrer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageReferrer {
    digest: String,
    media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Value>,
    artifact_status: &'static str,
}

/// The filter as ECR reads it: without a status, only ACTIVE artifacts.
fn filter(filter: Option<FilterIn>) -> Result<ReferrerFilter, ApiError> {
    let FilterIn {
        artifact_types,
        artifact_status,
    } = filter.unwrap_or_default();
    let status = match artifact_status.as_deref() {
        None => Some(ImageStatus::Active),
        Some("ANY") => None,
        Some(s) => Some(ImageStatus::parse(s).ok_or_else(|| {
            invalid(
                "filter.artifactStatus",
                format!("'{s}' is not one of ACTIVE, ARCHIVED, ACTIVATING, ANY"),
            )
        })?),
    };
    Ok(ReferrerFilter {
        artifact_types,
        status,
    })
}

pub async fn list_image_referrers(
    ctx: Ctx,
    req: ListImageReferrersRequest,
) -> Result<ListImageReferrersResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let subject = digest("subjectId.imageDigest", &req.subject_id.image_digest)?;
    let filter = filter(req.filter)?;
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let page = ctx
        .service
        .list_image_referrers(
            &ctx.caller,
            registry.as_ref(),
            &name,
            &subject,
            filter,
            page,
        )
        .await?;
    Ok(ListImageReferrersResponse {
        referrers: page
            .items
            .into_iter()
            .map(|r| ImageReferrer {
                digest: r.digest.to_string(),
                media_type: r.media_type,
                artifact_type: r.artifact_type,
                size: r.size,
                annotations: r.annotations,
                artifact_status: r.status.as_str(),
            })
            .collect(),
        next_token: page.next_token,
    })
}
