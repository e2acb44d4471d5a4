use serde::{Deserialize, Serialize};

use crate::api::awsjson::{ApiError, Ctx};
use crate::api::ecr::shapes::epoch;
use crate::api::ecr::{self, registry_id, repository_name};
use crate::domain::Image;
use crate::service::PageRequest;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImagesResponse {
    image_details: Vec<ImageDetailOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// ECR Public's `ImageDetail`: ECR's without pull times, scans or status.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDetailOut {
    registry_id: String,
    repository_name: String,
    image_digest: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    image_tags: Vec<String>,
    image_size_in_bytes: i64,
    image_pushed_at: f64,
    image_manifest_media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_media_type: Option<String>,
}

pub async fn describe_images(
    ctx: Ctx,
    req: ecr::images::DescribeImagesRequest,
) -> Result<DescribeImagesResponse, ApiError> {
    let page = ecr::images::describe(&ctx, req).await?;
    Ok(DescribeImagesResponse {
        image_details: page
            .items
            .into_iter()
            .map(|d| ImageDetailOut {
                registry_id: d.registry.to_string(),
                repository_name: d.name.to_string(),
                image_digest: d.digest.to_string(),
                image_tags: d.tags.iter().map(ToString::to_string).collect(),
                image_size_in_bytes: d.size,
                image_pushed_at: epoch(d.pushed_at),
                image_manifest_media_type: d.media_type,
                artifact_media_type: d.artifact_media_type,
            })
            .collect(),
        next_token: page.next_token,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImageTagsRequest {
    registry_id: Option<String>,
    repository_name: String,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImageTagsResponse {
    image_tag_details: Vec<ImageTagDetailOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageTagDetailOut {
    image_tag: String,
    created_at: f64,
    image_detail: ReferencedImageDetailOut,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferencedImageDetailOut {
    image_digest: String,
    image_size_in_bytes: i64,
    image_pushed_at: f64,
    image_manifest_media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_media_type: Option<String>,
}

impl From<Image> for ReferencedImageDetailOut {
    fn from(i: Image) -> Self {
        Self {
            image_digest: i.digest.to_string(),
            image_size_in_bytes: i.size,
            image_pushed_at: epoch(i.pushed_at),
            image_manifest_media_type: i.media_type,
            artifact_media_type: i.artifact_type,
        }
    }
}

pub async fn describe_image_tags(
    ctx: Ctx,
    req: DescribeImageTagsRequest,
) -> Result<DescribeImageTagsResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let page = ctx
        .service
        .describe_image_tags(&ctx.caller, registry.as_ref(), &name, page)
        .await?;
    Ok(DescribeImageTagsResponse {
        image_tag_details: page
            .items
            .into_iter()
            .map(|t| ImageTagDetailOut {
                image_tag: t.tag.to_string(),
                created_at: epoch(t.created_at),
                image_detail: t.image.into(),
            })
            .collect(),
        next_token: page.next_token,
    })
}
