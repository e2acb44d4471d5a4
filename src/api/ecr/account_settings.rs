//! A registry's account settings: GetAccountSetting, PutAccountSetting.

use serde::{Deserialize, Serialize};

use super::invalid;
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::AccountSetting;

#[derive(Deserialize)]
pub struct GetAccountSettingRequest {
    name: String,
}

#[derive(Deserialize)]
pub struct PutAccountSettingRequest {
    name: String,
    value: String,
}

#[derive(Serialize)]
pub struct AccountSettingResponse {
    name: String,
    value: String,
}

fn setting(name: &str) -> Result<AccountSetting, ApiError> {
    AccountSetting::parse(name).ok_or_else(|| {
        let known: Vec<_> = AccountSetting::ALL.iter().map(|s| s.as_str()).collect();
        invalid(
            "name",
            format!("Member must satisfy enum value set: [{}]", known.join(", ")),
        )
    })
}

pub async fn get_account_setting(
    ctx: Ctx,
    req: GetAccountSettingRequest,
) -> Result<AccountSettingResponse, ApiError> {
    let setting = setting(&req.name)?;
    let value = ctx.service.account_setting(&ctx.caller, setting).await?;
    Ok(AccountSettingResponse {
        name: req.name,
        value,
    })
}

pub async fn put_account_setting(
    ctx: Ctx,
    req: PutAccountSettingRequest,
) -> Result<AccountSettingResponse, ApiError> {
    let setting = setting(&req.name)?;
    let value = ctx
        .service
        .put_account_setting(&ctx.caller, setting, &req.value)
        .await?;
    Ok(AccountSettingResponse {
        name: req.name,
        value,
    })
}
