//! The registry policy (PutRegistryPolicy, GetRegistryPolicy, DeleteRegistryPolicy): an
//! IAM resource policy over the whole private registry, kept byte for byte. Under the
//! V1 scope it may name only the actions that scope governs; `access` evaluates it.

use super::{Caller, Error, Result, Service, Target};
use crate::domain::{Policy, PolicyError, PolicyKind};
use crate::domain::{PolicyScope, Registry};

impl Service {
    /// Sets the registry policy of the caller's registry; returns it and its text.
    pub async fn put_registry_policy(
        &self,
        caller: &Caller,
        policy: Policy,
    ) -> Result<(Registry, String)> {
        let registry = caller.registry.clone();
        self.authorize(
            caller,
            "PutRegistryPolicy",
            Target::Registry(&registry),
            &[],
        )
        .await?;
        if self.policy_scope(&registry).await? == PolicyScope::V1 {
            if let Some(action) = policy.actions().find(|a| !governed_by_v1(a)) {
                return Err(Error::InvalidPolicy(PolicyError::new(
                    PolicyKind::Registry,
                    format!(
                        "the registry policy scope is V1, which governs only ecr:{}; \
                         '{action}' needs the V2 scope (PutAccountSetting REGISTRY_POLICY_SCOPE V2)",
                        PolicyScope::V1_ACTIONS.join(", ecr:")
                    ),
                )));
            }
        }
        self.store()
            .put_registry_policy(&registry, policy.as_str())
            .await?;
        Ok((registry, policy.as_str().to_owned()))
    }

    pub async fn registry_policy(&self, caller: &Caller) -> Result<(Registry, String)> {
        let registry = caller.registry.clone();
        self.authorize(
            caller,
            "GetRegistryPolicy",
            Target::Registry(&registry),
            &[],
        )
        .await?;
        match self.store().registry_policy(&registry).await? {
            Some(text) => Ok((registry, text)),
            None => Err(Error::RegistryPolicyNotFound(registry)),
        }
    }

    /// Removes the registry policy, returning the text it had.
    pub async fn delete_registry_policy(&self, caller: &Caller) -> Result<(Registry, String)> {
        let registry = caller.registry.clone();
        self.authorize(
            caller,
            "DeleteRegistryPolicy",
            Target::Registry(&registry),
            &[],
        )
        .await?;
        match self.store().delete_registry_policy(&registry).await? {
            Some(text) => Ok((registry, text)),
            None => Err(Error::RegistryPolicyNotFound(registry)),
        }
    }
}

/// Whether an action a policy names is one the V1 scope governs, written out: IAM
/// compares action names without regard to case.
fn governed_by_v1(action: &str) -> bool {
    action.split_once(':').is_some_and(|(service, name)| {
        service.eq_ignore_ascii_case("ecr")
            && PolicyScope::V1_ACTIONS
                .iter()
                .any(|v1| v1.eq_ignore_ascii_case(name))
    })
}
