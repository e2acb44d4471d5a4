use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{digest, invalid, registry_id, repository_name, upload_id};
use crate::api::awsjson::{ApiError, Ctx};
use crate::service::PART_SIZE;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitiateLayerUploadRequest {
    registry_id: Option<String>,
    repository_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitiateLayerUploadResponse {
    upload_id: String,
    part_size: i64,
}

pub async fn initiate_layer_upload(
    ctx: Ctx,
    req: InitiateLayerUploadRequest,
) -> Result<InitiateLayerUploadResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let (_, id) = ctx
        .service
        .start_upload(&ctx.caller, registry.as_ref(), &name)
        .await?;
    Ok(InitiateLayerUploadResponse {
        upload_id: id.to_string(),
        part_size: PART_SIZE,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadLayerPartRequest {
    registry_id: Option<String>,
    repository_name: String,
    upload_id: String,
    part_first_byte: i64,
    part_last_byte: i64,
    layer_part_blob: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadLayerPartResponse {
    registry_id: String,
    repository_name: String,
    upload_id: String,
    last_byte_received: i64,
}

pub async fn upload_layer_part(
    ctx: Ctx,
    req: UploadLayerPartRequest,
) -> Result<UploadLayerPartResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let id = upload_id(&req.upload_id)?;
    let bytes = STANDARD
        .decode(req.layer_part_blob)
        .map_err(|e| invalid("layerPartBlob", e))?;
    // The model keeps both at 0 or more.
    let byte = |member, n: i64| u64::try_from(n).map_err(|e| invalid(member, e));
    let range = (
        byte("partFirstByte", req.part_first_byte)?,
        byte("partLastByte", req.part_last_byte)?,
    );
    let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(bytes.into())]);
    let (registry, size) = ctx
        .service
        .append_to_upload(
            &ctx.caller,
            registry.as_ref(),
            &name,
            &id,
            Some(range),
            body,
        )
        .await?;
    Ok(UploadLayerPartResponse {
        registry_id: registry.to_string(),
        repository_name: name.to_string(),
        upload_id: id.to_string(),
        last_byte_received: i64::try_from(size).unwrap_or(i64::MAX) - 1,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteLayerUploadRequest {
    registry_id: Option<String>,
    repository_name: String,
    upload_id: String,
    layer_digests: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteLayerUploadResponse {
    registry_id: String,
    repository_name: String,
    upload_id: String,
    layer_digest: String,
}

pub async fn complete_layer_upload(
    ctx: Ctx,
    req: CompleteLayerUploadRequest,
) -> Result<CompleteLayerUploadResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let id = upload_id(&req.upload_id)?;
    let digests = req
        .layer_digests
        .iter()
        .map(|d| digest("layerDigests", d))
        .collect::<Result<Vec<_>, _>>()?;
    let (registry, layer) = ctx
        .service
        .complete_upload(&ctx.caller, registry.as_ref(), &name, &id, &digests)
        .await?;
    Ok(CompleteLayerUploadResponse {
        registry_id: registry.to_string(),
        repository_name: name.to_string(),
        upload_id: id.to_string(),
        layer_digest: layer.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCheckLayerAvailabilityRequest {
    registry_id: Option<String>,
    repository_name: String,
    layer_digests: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCheckLayerAvailabilityResponse {
    layers: Vec<LayerOut>,
    failures: Vec<LayerFailureOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerOut {
    layer_digest: String,
    layer_availability: &'static str,
    layer_size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerFailureOut {
    layer_digest: String,
    failure_code: &'static str,
    failure_reason: String,
}

pub async fn batch_check_layer_availability(
    ctx: Ctx,
    req: BatchCheckLayerAvailabilityRequest,
) -> Result<BatchCheckLayerAvailabilityResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let (layers, failures) = ctx
        .service
        .batch_check_layer_availability(&ctx.caller, registry.as_ref(), &name, &req.layer_digests)
        .await?;
    Ok(BatchCheckLayerAvailabilityResponse {
        layers: layers
            .into_iter()
            .map(|l| LayerOut {
                layer_digest: l.digest.to_string(),
                layer_availability: "AVAILABLE",
                layer_size: l.size,
                media_type: l.media_type,
            })
            .collect(),
        failures: failures
            .into_iter()
            .map(|f| {
                let (failure_code, failure_reason) = super::error::layer_failure(&f.problem);
                LayerFailureOut {
                    layer_digest: f.digest,
                    failure_code,
                    failure_reason,
                }
            })
            .collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetDownloadUrlForLayerRequest {
    registry_id: Option<String>,
    repository_name: String,
    layer_digest: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetDownloadUrlForLayerResponse {
    download_url: String,
    layer_digest: String,
}

pub async fn get_download_url_for_layer(
    ctx: Ctx,
    req: GetDownloadUrlForLayerRequest,
) -> Result<GetDownloadUrlForLayerResponse, ApiError> {
    let registry = registry_id(req.registry_id.as_deref())?;
    let name = repository_name(&req.repository_name)?;
    let layer = digest("layerDigest", &req.layer_digest)?;
    let url = ctx
        .service
        .layer_download_url(&ctx.caller, registry.as_ref(), &name, &layer)
        .await?;
    Ok(GetDownloadUrlForLayerResponse {
        download_url: url,
        layer_digest: layer.to_string(),
    })
}
