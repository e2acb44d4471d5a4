//! Repository policies: validated as IAM policy documents, stored and returned byte
//! for byte; `access` evaluates them for every request on the repository.

use super::{Caller, Error, Result, Service};
use crate::domain::{RegistryId, Repository, RepositoryName, RepositoryPolicy};
use crate::store::Stored;

impl Service {
    pub async fn set_repository_policy(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        policy: RepositoryPolicy,
    ) -> Result<(Repository, String)> {
        let registry = self.registry(caller, registry);
        let repo = self.authorized_repository(caller, &registry, name, "SetRepositoryPolicy").await?;
        self.store()
            .set_policy(repo.key, Some(policy.as_str()))
            .await?;
        Ok((repo.record, policy.as_str().to_owned()))
    }

    pub async fn repository_policy(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
    ) -> Result<(Repository, String)> {
        let (repo, policy) = self
            .policy_of(caller, registry, name, "GetRepositoryPolicy")
            .await?;
        Ok((repo.record, policy))
    }

    async fn policy_of(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        action: &'static str,
    ) -> Result<(Stored<Repository>, String)> {
        let registry = self.registry(caller, registry);
        let mut repo = self.authorized_repository(caller, &registry, name, action).await?;
        match repo.record.policy.take() {
            Some(policy) => Ok((repo, policy)),
            None => Err(Error::RepositoryPolicyNotFound {
                registry,
                name: name.clone(),
            }),
        }
    }

    /// Removes the policy, returning the text it had.
    pub async fn delete_repository_policy(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
    ) -> Result<(Repository, String)> {
        let (repo, policy) = self
            .policy_of(caller, registry, name, "DeleteRepositoryPolicy")
            .await?;
        self.store().set_policy(repo.key, None).await?;
        Ok((repo.record, policy))
    }
}
