use serde::{Deserialize, Serialize};

use super::shapes::{epoch, ImageFailureOut, ImageIdentifier, ImageOut};
use super::{digest, image_tag, invalid, registry_id, repository_name};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::{ImageFilter, ImageStatus, StorageClass, TagStatus};
use crate::service::{ImageDetail, Invalid, Page, PageRequest, PutImage};

/// GetLifecyclePolicyPreview's `filter`: tag status alone.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TagStatusFilter {
    tag_status: Option<String>,
}

pub(super) fn tag_status(filter: Option<TagStatusFilter>) -> Result<TagStatus, ApiError> {
    tag_status_of(filter.and_then(|f| f.tag_status).as_deref())
}

fn tag_status_of(value: Option<&str>) -> Result<TagStatus, ApiError> {
    match value {
        None | Some("ANY") => Ok(TagStatus::Any),
        Some("TAGGED") => Ok(TagStatus::Tagged),
        Some("UNTAGGED") => Ok(TagStatus::Untagged),
        Some(other) => Err(invalid(
            "filter.tagStatus",
            format!("'{other}' is not one of TAGGED, UNTAGGED, ANY"),
        )),
    }
}

/// ListImages' and DescribeImages' `filter`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImageFilterIn {
    tag_status: Option<String>,
    image_status: Option<String>,
}

fn image_filter(filter: Option<ImageFilterIn>) -> Result<ImageFilter, ApiError> {
    let filter = filter.unwrap_or_default();
    let tags = tag_status_of(filter.tag_status.as_deref())?;
    // Without a status, ECR lists only active images.
    let status = match filter.image_status.as_deref() {
        None => Some(ImageStatus::Active),
        Some("ANY") => None,
        Some(other) => Some(ImageStatus::parse(other).ok_or_else(|| {
            invalid(
                "filter.imageStatus",
                format!("'{other}' is not one of ACTIVE, ARCHIVED, ACTIVATING, ANY"),
            )
        })?),
    };
    Ok(ImageFilter { tags, status })
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
    filter: Option<ImageFilterIn>,
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
    let filter = image_filter(req.filter)?;
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let page = ctx
        .service
        .list_images(&ctx.caller, registry.as_ref(), &name, filter, page)
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
    filter: Option<ImageFilterIn>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    last_archived_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_activated_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_scan_status: Option<super::scanning::ScanStatusShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_scan_findings_summary: Option<super::scanning::SummaryShape>,
}

/// The images a DescribeImages request asks for; ECR Public's request is the same
/// but for `filter`, and it renders the page in its own shape.
pub(crate) async fn describe(
    ctx: &Ctx,
    req: DescribeImagesRequest,
) -> Result<Page<ImageDetail>, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let filter = image_filter(req.filter)?;
    let ids = req
        .image_ids
        .map(|ids| ids.iter().map(ImageIdentifier::selector).collect());
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    Ok(ctx
        .service
        .describe_images(&ctx.caller, registry.as_ref(), &name, ids, filter, page)
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
            .map(|d| {
                let (image_scan_status, image_scan_findings_summary) =
                    match d.scan.as_ref().map(super::scanning::summary) {
                        Some((status, summary)) => (Some(status), summary),
                        None => (None, None),
                    };
                ImageDetailOut {
                    image_scan_status,
                    image_scan_findings_summary,
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
                    image_status: d.status.as_str(),
                    last_archived_at: d.last_archived_at.map(epoch),
                    last_activated_at: d.last_activated_at.map(epoch),
                }
            })
            .collect(),
        next_token: page.next_token,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateImageStorageClassRequest {
    registry_id: Option<String>,
    repository_name: String,
    image_id: ImageIdentifier,
    target_storage_class: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateImageStorageClassResponse {
    registry_id: String,
    repository_name: String,
    image_id: ImageIdentifier,
    image_status: &'static str,
}

pub async fn update_image_storage_class(
    ctx: Ctx,
    req: UpdateImageStorageClassRequest,
) -> Result<UpdateImageStorageClassResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let selector = req
        .image_id
        .selector()
        .map_err(|f| ApiError::from(crate::service::Error::Invalid(Invalid::ImageId(f))))?;
    let target = match req.target_storage_class.as_str() {
        "STANDARD" => StorageClass::Standard,
        "ARCHIVE" => StorageClass::Archive,
        other => {
            return Err(invalid(
                "targetStorageClass",
                format!("'{other}' is not one of STANDARD, ARCHIVE"),
            ))
        }
    };
    let (registry, image) = ctx
        .service
        .update_image_storage_class(&ctx.caller, registry.as_ref(), &name, &selector, target)
        .await?;
    Ok(UpdateImageStorageClassResponse {
        registry_id: registry.to_string(),
        repository_name: name.to_string(),
        image_id: ImageIdentifier {
            image_digest: Some(image.digest.to_string()),
            image_tag: selector.tag().map(ToString::to_string),
        },
        image_status: image.status.as_str(),
    })
}
