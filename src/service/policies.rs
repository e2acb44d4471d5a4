//! Repository policies: validated as IAM policy documents, stored and returned byte
//! for byte; `access` evaluates them for every request on the repository.

use super::{Caller, Error, Result, Service, Target};
use crate::domain::{Policy, PolicyError, PolicyKind, RegistryId, Repository, RepositoryName};
use crate::store::Stored;

impl Service {
    /// Sets the repository's policy. Unless `force`, a policy that would refuse the
    /// caller a later SetRepositoryPolicy is refused, as ECR guards against lockouts.
    pub async fn set_repository_policy(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        policy: Policy,
        force: bool,
    ) -> Result<(Repository, String)> {
        const ACTION: &str = "SetRepositoryPolicy";
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, ACTION)
            .await?;
        if !force {
            let mut after = repo.clone();
            after.record.policy = Some(policy.as_str().to_owned());
            match self
                .authorize(caller, ACTION, Target::Repository(&after), &[])
                .await
            {
                Err(Error::AccessDenied { .. }) => {
                    return Err(Error::InvalidPolicy(PolicyError::new(
                        PolicyKind::Repository,
                        "it would refuse you SetRepositoryPolicy on this repository; \
                         set force to set it anyway",
                    )))
                }
                denied => denied?,
            }
        }
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
        let mut repo = self
            .authorized_repository(caller, &registry, name, action)
            .await?;
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
