use serde::{Deserialize, Serialize};

use super::invalid;
use super::shapes::epoch;
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::RegistryId;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetAuthorizationTokenRequest {
    registry_ids: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetAuthorizationTokenResponse {
    authorization_data: Vec<AuthorizationDataOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationDataOut {
    authorization_token: String,
    expires_at: f64,
    proxy_endpoint: String,
}

pub async fn get_authorization_token(
    ctx: Ctx,
    req: GetAuthorizationTokenRequest,
) -> Result<GetAuthorizationTokenResponse, ApiError> {
    let ids = req
        .registry_ids
        .map(|ids| {
            ids.iter()
                .map(|r| RegistryId::parse(r).map_err(|e| invalid("registryIds", e)))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let data = ctx
        .service
        .get_authorization_token(&ctx.caller, ids.as_deref())?;
    Ok(GetAuthorizationTokenResponse {
        authorization_data: data
            .into_iter()
            .map(|d| AuthorizationDataOut {
                authorization_token: d.token,
                expires_at: epoch(d.expires_at),
                proxy_endpoint: d.proxy_endpoint,
            })
            .collect(),
    })
}
