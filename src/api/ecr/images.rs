use serde::{Deserialize, Serialize};

use super::shapes::{epoch, ImageFailureOut, ImageIdentifier, ImageOut};
use super::{digest, image_tag, invalid, registry_id, repository_name};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::TagStatus;
use crate::service::{ImageDetail, Page, PageRequest, PutImage};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TagStatusFilter {
    tag_status: Option<String>,
}

pub(super) fn tag_status(filter: Option<TagStatusFilter>) -> Result<TagStatus, ApiError> {
    match filter.and_then(|f| f.tag_status).as_deref() {
        None | Some("ANY") => Ok(TagStatus::Any),
        Some("TAGGED") => Ok(TagStatus::Tagged),
        Some("UNTAGGED") => Ok(TagStatus::Untagged),
        Some(other) => Err(invalid(
            "filter.tagStatus",
            format!("'{other}' is not one of TAGGED, UNTAGGED, ANY"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutImageRequest {
    registry_id: Option<String>,
    repository_name: String,
    image_manifest: String,
    image_manifest_media_type: Option<String>,
    image_tag: Option<String>,
    image_digest: Option<String>,
}

#[derive(Serialize)]
pub struct PutImageResponse {
    image: ImageOut,
}

pub async fn put_image(ctx: Ctx, req: PutImageRequest) -> Result<PutImageResponse, ApiError> {
    let put = PutImage {
        registry: registry_id(req.registry_id.as_deref())?,
        name: repository_name(&req.repository_name)?,
        manifest: req.image_manifest.into_bytes(),
        media_type: req.image_manifest_media_type,
        tag: req.image_tag.as_deref().map(image_tag).transpose()?,
        digest: req
            .image_digest
            .as_deref()
            .map(|d| digest("imageDigest", d))
            .transpose()?,
    };
    let image = ctx.service.put_image(&ctx.caller, put).await?;
    Ok(PutImageResponse {
        image: image.into(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetImageRequest {
    registry_id: Option<String>,
    repository_name: String,
    image_ids: Vec<ImageIdentifier>,
    accepted_media_types: Option<Vec<String>>,
}

#[derive(Serialize)]
pub struct BatchGetImageResponse {
    images: Vec<ImageOut>,
    failures: Vec<ImageFailureOut>,
}

pub async fn batch_get_image(
    ctx: Ctx,
    req: BatchGetImageRequest,
) -> Result<BatchGetImageResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let ids = req
        .image_ids
        .iter()
        .map(ImageIdentifier::selector)
        .collect();
    let (images, failures) = ctx
        .service
        .batch_get_image(
            &ctx.caller,
            registry.as_ref(),
            &name,
            ids,
            req.accepted_media_types.as_deref(),
        )
        .await?;
    Ok(BatchGetImageResponse {
        images: images.into_iter().map(Into::into).collect(),
        failures: failures.into_iter().map(Into::into).collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchDeleteImageRequest {
    registry_id: Option<String>,
    repository_name: String,
    image_ids: Vec<ImageIdentifier>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchDeleteImageResponse {
    image_ids: Vec<ImageIdentifier>,
    failures: Vec<ImageFailureOut>,
}

pub async fn batch_delete_image(
    ctx: Ctx,
    req: BatchDeleteImageRequest,
) -> Result<BatchDeleteImageResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let ids = req
        .image_ids
        .iter()
        .map(ImageIdentifier::selector)
        .collect();
    let (deleted, failures) = ctx
        .service
        .batch_delete_image(&ctx.caller, registry.as_ref(), &name, ids)
        .await?;
    Ok(BatchDeleteImageResponse {
        image_ids: deleted
            .into_iter()
            .map(|(d, t)| ImageIdentifier {
                image_digest: Some(d.to_string()),
                image_tag: t.map(|t| t.to_string()),
            })
            .collect(),
        failures: failures.into_iter().map(Into::into).collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListImagesRequest {
    registry_id: Option<String>,
    repository_name: String,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<TagStatusFilter>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListImagesResponse {
    image_ids: Vec<ImageIdentifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list_images(ctx: Ctx, req: ListImagesRequest) -> Result<ListImagesResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let status = tag_status(req.filter)?;
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let page = ctx
        .service
        .list_images(&ctx.caller, registry.as_ref(), &name, status, page)
        .await?;
    Ok(ListImagesResponse {
        image_ids: page
            .items
            .into_iter()
            .map(|(d, t)| ImageIdentifier {
                image_digest: Some(d.to_string()),
                image_tag: t.map(|t| t.to_string()),
            })
            .collect(),
        next_token: page.next_token,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImagesRequest {
    registry_id: Option<String>,
    repository_name: String,
    image_ids: Option<Vec<ImageIdentifier>>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<TagStatusFilter>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImagesResponse {
    image_details: Vec<ImageDetailOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

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
    #[serde(skip_serializing_if = "Option::is_none")]
    last_recorded_pull_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_manifest_digest: Option<String>,
    image_status: &'static str,
}

/// The images a DescribeImages request asks for; ECR Public's request is the same
/// but for `filter`, and it renders the page in its own shape.
pub(crate) async fn describe(
    ctx: &Ctx,
    req: DescribeImagesRequest,
) -> Result<Page<ImageDetail>, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let status = tag_status(req.filter)?;
    let ids = req
        .image_ids
        .map(|ids| ids.iter().map(ImageIdentifier::selector).collect());
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    Ok(ctx
        .service
        .describe_images(&ctx.caller, registry.as_ref(), &name, ids, status, page)
        .await?)
}

pub async fn describe_images(
    ctx: Ctx,
    req: DescribeImagesRequest,
) -> Result<DescribeImagesResponse, ApiError> {
    let page = describe(&ctx, req).await?;
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
                last_recorded_pull_time: d.last_pulled_at.map(epoch),
                subject_manifest_digest: d.subject.map(|s| s.to_string()),
                image_status: "ACTIVE",
            })
            .collect(),
        next_token: page.next_token,
    })
}
