//! Pull through cache rules (Create/Describe/Update/Delete/ValidatePullThroughCacheRule)
//! and the rule a repository name falls under, for the pull path.

use super::templates::prefix_scope;
use super::{now, Caller, Error, Page, PageRequest, Result, Service, Target};
use crate::domain::{
    choose_pull_through_rule, PullThroughRule, Registry, RegistryId, RepositoryName,
    TemplatePrefix, UpstreamRegistry, UpstreamUrl, MAX_PULL_THROUGH_RULES,
};
use crate::remote::{Credential, Remote, RemoteError};
use crate::secrets::SecretError;
use crate::store;

/// What CreatePullThroughCacheRule gives.
#[derive(Debug, Clone)]
pub struct NewPullThroughRule {
    pub prefix: TemplatePrefix,
    pub upstream_url: UpstreamUrl,
    pub upstream_registry: Option<UpstreamRegistry>,
    pub credential_arn: Option<String>,
    pub custom_role_arn: Option<String>,
    /// `None`: ROOT.
    pub upstream_prefix: Option<TemplatePrefix>,
}

/// Why a rule's upstream cannot be used: its credential cannot be had, or the upstream
/// does not answer `/v2/` to it.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamFailure {
    #[error("{0}")]
    Secret(SecretError),
    #[error("{0}")]
    Remote(RemoteError),
}

/// ValidatePullThroughCacheRule's answer: the rule, and why it does not work.
#[derive(Debug)]
pub struct Validation {
    pub rule: PullThroughRule,
    /// `None`: the upstream answered to the rule's credential.
    pub failure: Option<UpstreamFailure>,
}

/// `Some(text)` unless it is empty.
fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

impl Service {
    pub async fn create_pull_through_rule(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        new: NewPullThroughRule,
    ) -> Result<PullThroughRule> {
        let registry = self
            .rules_registry(caller, registry, "CreatePullThroughCacheRule")
            .await?;
        let at = now();
        let rule = PullThroughRule {
            registry: registry.clone(),
            prefix: new.prefix,
            upstream_url: new.upstream_url,
            upstream_registry: new.upstream_registry,
            credential_arn: non_empty(new.credential_arn),
            custom_role_arn: non_empty(new.custom_role_arn),
            upstream_prefix: new.upstream_prefix.unwrap_or(TemplatePrefix::Root),
            created_at: at,
            updated_at: at,
        }
        .check()?;
        if let Some(arn) = &rule.credential_arn {
            self.secrets().lookup(arn).await?;
        }
        match self.store().create_pull_through_rule(&rule).await {
            Ok(()) => Ok(rule),
            Err(store::Error::AlreadyExists) => Err(Error::PullThroughRuleAlreadyExists {
                registry,
                prefix: rule.prefix,
            }),
            Err(store::Error::LimitReached) => Err(Error::TooManyPullThroughRules {
                max: MAX_PULL_THROUGH_RULES,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The registry's rules in prefix order, a page at a time; only those of
    /// `prefixes` when given, each of which must have one.
    pub async fn describe_pull_through_rules(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        prefixes: Option<Vec<TemplatePrefix>>,
        page: PageRequest,
    ) -> Result<Page<PullThroughRule>> {
        let registry = self
            .rules_registry(caller, registry, "DescribePullThroughCacheRules")
            .await?;
        let (prefixes, scope) = prefix_scope("DescribePullThroughCacheRules", &registry, prefixes);
        if let Some(named) = &prefixes {
            let found = self
                .store()
                .pull_through_rules(&registry, Some(named), None, MAX_PULL_THROUGH_RULES)
                .await?;
            if let Some(missing) = named.iter().find(|p| found.iter().all(|r| &r.prefix != *p)) {
                return Err(Error::PullThroughRuleNotFound {
                    registry,
                    prefix: missing.clone(),
                });
            }
        }
        let after: Option<String> = self.resume(&scope, &page)?;
        let limit = page.limit();
        let rules = self
            .store()
            .pull_through_rules(&registry, prefixes.as_deref(), after.as_deref(), limit + 1)
            .await?;
        Ok(self.paginate(&scope, rules, limit, |r| r.prefix.as_str().to_owned()))
    }

    /// Sets the credential and the role where given (an empty role is left as it is).
    pub async fn update_pull_through_rule(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        prefix: TemplatePrefix,
        credential_arn: Option<String>,
        custom_role_arn: Option<String>,
    ) -> Result<PullThroughRule> {
        let registry = self
            .rules_registry(caller, registry, "UpdatePullThroughCacheRule")
            .await?;
        let credential_arn = non_empty(credential_arn);
        if let Some(arn) = &credential_arn {
            self.secrets().lookup(arn).await?;
        }
        let updated = self
            .store()
            .update_pull_through_rule(
                &registry,
                &prefix,
                credential_arn.as_deref(),
                non_empty(custom_role_arn).as_deref(),
                now(),
            )
            .await?;
        updated.ok_or(Error::PullThroughRuleNotFound { registry, prefix })
    }

    /// Removes the rule, returning it.
    pub async fn delete_pull_through_rule(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        prefix: TemplatePrefix,
    ) -> Result<PullThroughRule> {
        let registry = self
            .rules_registry(caller, registry, "DeletePullThroughCacheRule")
            .await?;
        let deleted = self
            .store()
            .delete_pull_through_rule(&registry, &prefix)
            .await?;
        deleted.ok_or(Error::PullThroughRuleNotFound { registry, prefix })
    }

    /// Contacts the rule's upstream now (`GET /v2/` through the registry auth flow)
    /// with the rule's credential: whether it answers, and if not, why.
    pub async fn validate_pull_through_rule(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        prefix: TemplatePrefix,
    ) -> Result<Validation> {
        let registry = self
            .rules_registry(caller, registry, "ValidatePullThroughCacheRule")
            .await?;
        let named = std::slice::from_ref(&prefix);
        let rule = self
            .store()
            .pull_through_rules(&registry, Some(named), None, 1)
            .await?
            .pop()
            .ok_or(Error::PullThroughRuleNotFound { registry, prefix })?;
        let failure = match self.remote_for(&rule).await {
            Ok(remote) => remote.ping().await.err().map(UpstreamFailure::Remote),
            Err(e) => Some(e),
        };
        Ok(Validation { rule, failure })
    }

    /// A client for the rule's upstream, with the credential its secret holds; one per
    /// URL and credential is kept, so that its tokens are reused.
    pub(super) async fn remote_for(
        &self,
        rule: &PullThroughRule,
    ) -> Result<Remote, UpstreamFailure> {
        let credential = match &rule.credential_arn {
            Some(arn) => {
                let secret = self
                    .secrets()
                    .lookup(arn)
                    .await
                    .map_err(UpstreamFailure::Secret)?;
                Some(Credential {
                    username: secret.username,
                    password: secret.access_token,
                })
            }
            None => None,
        };
        self.inner
            .remotes
            .get(rule.upstream_url.base(), credential)
            .map_err(UpstreamFailure::Remote)
    }

    /// The registry a rule action is for, once the caller may perform `action` there.
    async fn rules_registry(
        &self,
        caller: &Caller,
        requested: Option<&RegistryId>,
        action: &'static str,
    ) -> Result<Registry> {
        let registry = self.registry(caller, requested);
        self.authorize(caller, action, Target::Registry(&registry), &[])
            .await?;
        Ok(registry)
    }

    /// The rule that caches the repository `name` of `registry` (longest namespace
    /// prefix, else ROOT) and the upstream repository the name stands for; `None`
    /// when no rule matches.
    pub async fn pull_through_rule(
        &self,
        registry: &Registry,
        name: &RepositoryName,
    ) -> Result<Option<(PullThroughRule, String)>> {
        let rules = self
            .store()
            .pull_through_rules(registry, None, None, MAX_PULL_THROUGH_RULES)
            .await?;
        Ok(choose_pull_through_rule(&rules, name).map(|(rule, upstream)| (rule.clone(), upstream)))
    }
}
