//! A registry's account settings (GetAccountSetting, PutAccountSetting): only values
//! put are stored; the rest read as their defaults.

use super::{Caller, Invalid, Result, Service, Target};
use crate::domain::{AccountSetting, Namespace, Registry};

impl Service {
    /// The setting's value in the caller's registry.
    pub async fn account_setting(
        &self,
        caller: &Caller,
        setting: AccountSetting,
    ) -> Result<String> {
        let registry = &caller.registry;
        self.authorize(caller, "GetAccountSetting", Target::Registry(registry), &[])
            .await?;
        self.setting_value(registry, setting).await
    }

    /// Puts a value the model allows for the setting; returns it.
    pub async fn put_account_setting(
        &self,
        caller: &Caller,
        setting: AccountSetting,
        value: &str,
    ) -> Result<String> {
        let registry = &caller.registry;
        self.authorize(caller, "PutAccountSetting", Target::Registry(registry), &[])
            .await?;
        if !setting.settable().contains(&value) {
            return Err(Invalid::AccountSettingValue {
                setting,
                value: value.to_owned(),
            }
            .into());
        }
        self.store()
            .put_account_setting(registry, setting, value)
            .await?;
        Ok(value.to_owned())
    }

    async fn setting_value(&self, registry: &Registry, setting: AccountSetting) -> Result<String> {
        Ok(self
            .store()
            .account_setting(registry, setting)
            .await?
            .unwrap_or_else(|| setting.default_value().to_owned()))
    }

    /// Whether `/v2/` pushes to the registry may mount layers across its repositories.
    /// ECR Public has no such setting: its registries always may.
    pub(super) async fn blob_mounting(&self, registry: &Registry) -> Result<bool> {
        if registry.namespace == Namespace::Public {
            return Ok(true);
        }
        Ok(self
            .setting_value(registry, AccountSetting::BlobMounting)
            .await?
            == "ENABLED")
    }
}
