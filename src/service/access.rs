//! Who may do what: the resource policies that apply to a request, evaluated the way
//! AWS evaluates them when no identity policy is involved. A request is refused when
//! an applicable policy denies it explicitly; otherwise a principal of the registry's
//! own account may act (berth has no identity policies to say otherwise), and any
//! other principal only where a policy allows it.
//!
//! The policies that apply: the repository's policy, for actions on a repository; and
//! in a private registry the registry policy, for the actions its scope governs
//! (`PolicyScope`).

use super::{Caller, Error, Result, Service};
use crate::domain::{AccountSetting, Namespace, PolicyScope, Registry, Repository, RepositoryName};
use crate::domain::{Decision, Policy, PolicyKind, Request};
use crate::store::{NamedManifest, Stored};

/// What a request acts on.
pub(super) enum Target<'a> {
    /// A repository that exists.
    Repository(&'a Stored<Repository>),
    /// A repository by name that may not exist: one being created, or one a request
    /// names that is not there (only the registry policy can speak for it).
    Named {
        registry: &'a Registry,
        name: &'a RepositoryName,
    },
    /// The registry itself: its settings, its listings.
    Registry(&'a Registry),
}

impl Target<'_> {
    fn registry(&self) -> &Registry {
        match self {
            Target::Repository(repo) => &repo.record.registry,
            Target::Named { registry, .. } | Target::Registry(registry) => registry,
        }
    }

    fn arn(&self) -> String {
        match self {
            Target::Repository(repo) => repo.record.arn(),
            Target::Named { registry, name } => {
                registry.resource_arn(&format!("repository/{name}"))
            }
            Target::Registry(registry) => registry.arn(),
        }
    }
}

impl Service {
    /// Whether the caller may perform `action` (an action name without its service
    /// prefix, `BatchGetImage`) on `target`, setting `request_tags`.
    pub(super) async fn authorize(
        &self,
        caller: &Caller,
        action: &'static str,
        target: Target<'_>,
        request_tags: &[(String, String)],
    ) -> Result<()> {
        let registry_policy = match target.registry().namespace {
            Namespace::Private => self.store().registry_policy(target.registry()).await?,
            Namespace::Public => None,
        };
        let governing = registry_policy.as_deref();
        self.authorize_under(caller, action, target, request_tags, governing)
            .await
    }

    /// `authorize`, given the policy of the target's registry (read with the target;
    /// `None` for a public registry, which has none).
    pub(super) async fn authorize_under(
        &self,
        caller: &Caller,
        action: &'static str,
        target: Target<'_>,
        request_tags: &[(String, String)],
        registry_policy: Option<&str>,
    ) -> Result<()> {
        let registry = target.registry();
        let mut policies = Vec::new();
        if let Some(text) = registry_policy {
            if self.policy_scope(registry).await?.governs(action) {
                policies.extend(parse_stored(text, PolicyKind::Registry));
            }
        }
        if let Target::Repository(repo) = &target {
            if let Some(text) = &repo.record.policy {
                policies.extend(parse_stored(text, PolicyKind::Repository));
            }
        }
        let own = caller.principal.account == registry.account;
        if own && policies.is_empty() {
            return Ok(());
        }
        let resource_tags = match &target {
            Target::Repository(repo) => self.store().resource_tags(repo.key).await?,
            _ => Vec::new(),
        };
        let action = format!(
            "{}:{action}",
            match registry.namespace {
                Namespace::Private => "ecr",
                Namespace::Public => "ecr-public",
            }
        );
        let resource = target.arn();
        let request = Request {
            principal: &caller.principal,
            action: &action,
            resource: &resource,
            source_ip: caller.source_ip,
            secure_transport: caller.secure_transport,
            resource_tags: &resource_tags,
            request_tags,
        };
        let decisions: Vec<Decision> = policies.iter().map(|p| p.decide(&request)).collect();
        let explicit = decisions.contains(&Decision::Deny);
        if !explicit && (own || decisions.contains(&Decision::Allow)) {
            return Ok(());
        }
        Err(Error::AccessDenied {
            principal: caller.principal.arn.clone(),
            action,
            resource,
            explicit,
        })
    }

    /// Whether a read found with its governing policies needs no evaluation: the
    /// registry's own account, and no policy at all (as `authorize` decides then).
    pub(super) fn unrestricted(
        caller: &Caller,
        registry: &Registry,
        found: &NamedManifest,
    ) -> bool {
        caller.principal.account == registry.account
            && found.repository_policy.is_none()
            && found.registry_policy.is_none()
    }

    /// The registry policy's scope (the `REGISTRY_POLICY_SCOPE` account setting).
    pub(super) async fn policy_scope(&self, registry: &Registry) -> Result<PolicyScope> {
        let setting = AccountSetting::RegistryPolicyScope;
        let value = self.store().account_setting(registry, setting).await?;
        Ok(value
            .as_deref()
            .and_then(PolicyScope::parse)
            .unwrap_or(PolicyScope::V1))
    }
}

/// A policy as the store holds it. One set before berth checked policies as strictly
/// as it does now may no longer parse: it then allows nothing and denies nothing, so
/// other accounts are refused and the owner can still replace it.
fn parse_stored(text: &str, kind: PolicyKind) -> Option<Policy> {
    Policy::parse(text, kind)
        .inspect_err(
            |e| tracing::warn!(error = %e, "a stored policy no longer parses; it grants nothing"),
        )
        .ok()
}
