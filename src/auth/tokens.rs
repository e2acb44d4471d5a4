//! The registry's own credentials, both sealed with the registry's secret:
//! - passwords, which GetAuthorizationToken mints for `docker login -u AWS`: they name
//!   the registry, its account and region (a private registry's password does not open
//!   the public one, nor another region's, as on AWS) and last 12 hours;
//! - bearer tokens, which the public registry's token endpoint issues (as
//!   `public.ecr.aws` does, so that Docker Engine can pull without credentials): they
//!   name the registry and what they grant per repository, and last 5 minutes.
//!
//! Both are bound to the access key that minted them (see `Credentials::binding`):
//! once that key is no longer configured, or its secret changed, they are refused, and
//! one minted in open mode is refused as soon as credentials are configured.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Authority, Binding};
use crate::domain::{Namespace, Principal, Region, Registry, RegistryId, RepositoryName};

pub const PASSWORD_TTL: Duration = Duration::hours(12);
/// distribution's token server issues tokens for five minutes too; clients fetch
/// another when one runs out.
const BEARER_TTL: Duration = Duration::minutes(5);
const PASSWORD: &str = "registry-password";
const BEARER: &str = "registry-bearer";

/// What checking a password or bearer token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck<T> {
    Valid(T),
    Expired,
    /// Genuine, but the credential that minted it is no longer configured as it was.
    Revoked,
    Invalid,
}

/// Who a valid password or bearer token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The registry it was minted for.
    pub registry: Registry,
    /// Whom the credential that minted it speaks for.
    pub principal: Principal,
    /// The access key it was minted with, if any.
    pub access_key: Option<String>,
}

/// What a token may do to a repository, as the token protocol's scopes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Actions on one repository of the public registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub repository: RepositoryName,
    pub actions: Vec<Action>,
}

/// A bearer token as the token endpoint answers it.
#[derive(Debug, Clone)]
pub struct BearerToken {
    pub token: String,
    pub issued_at: DateTime<Utc>,
    pub expires_in: i64,
}

#[derive(Serialize, Deserialize)]
struct PasswordClaims {
    a: String,
    /// Passwords minted before berth had regions carry none: the configured region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    e: i64,
    /// Passwords minted before ECR Public existed carry no namespace: private.
    #[serde(default = "private")]
    n: String,
    #[serde(flatten)]
    binding: Binding,
}

fn private() -> String {
    Namespace::Private.as_str().to_owned()
}

#[derive(Serialize, Deserialize)]
struct BearerClaims {
    a: String,
    n: String,
    e: i64,
    /// Issued without credentials: bound to none, and never more than pulls.
    #[serde(default)]
    anonymous: bool,
    #[serde(flatten)]
    binding: Binding,
    /// (repository, comma-separated actions)
    g: Vec<(String, String)>,
}

impl Authority {
    /// A password for `registry`, minted by `access_key`, good until `expires_at`.
    pub fn mint_password(
        &self,
        registry: &Registry,
        access_key: Option<&str>,
        expires_at: DateTime<Utc>,
    ) -> String {
        let claims = PasswordClaims {
            a: registry.account.to_string(),
            r: Some(registry.region.to_string()),
            e: expires_at.timestamp(),
            n: registry.namespace.as_str().to_owned(),
            binding: self.credentials.binding(access_key),
        };
        self.sealer.seal_json(PASSWORD, &claims)
    }

    pub fn check_password(&self, password: &str) -> TokenCheck<Holder> {
        let Some(claims) = self.sealer.open_json::<PasswordClaims>(PASSWORD, password) else {
            return TokenCheck::Invalid;
        };
        let region = claims
            .r
            .as_deref()
            .map_or_else(|| Ok(self.region.clone()), Region::parse);
        let registry = match (
            RegistryId::parse(&claims.a),
            region,
            Namespace::parse(&claims.n),
        ) {
            (Ok(account), Ok(region), Some(namespace)) => Registry::of(account, region, namespace),
            _ => return TokenCheck::Invalid,
        };
        self.still_good(claims.e, Some(&claims.binding), || {
            self.holder_of(registry, &claims.binding)
        })
    }

    /// A bearer token for the public registry granting what was asked that the
    /// requester may have: pulls to anyone, pushes and deletes only to a holder of
    /// ECR Public's password (`None`: anonymous). What may not be granted is left out,
    /// as the token protocol has it.
    pub fn issue_bearer(&self, holder: Option<&Holder>, requested: Vec<Grant>) -> BearerToken {
        let anonymous = holder.is_none();
        let account = holder.map_or(self.credentials.account(), |h| &h.registry.account);
        let g = requested
            .into_iter()
            .filter_map(|mut grant| {
                grant.actions.retain(|a| !anonymous || *a == Action::Pull);
                (!grant.actions.is_empty()).then(|| {
                    let actions: Vec<_> = grant.actions.iter().map(|a| a.as_str()).collect();
                    (grant.repository.to_string(), actions.join(","))
                })
            })
            .collect();
        let issued_at = Utc::now();
        let claims = BearerClaims {
            a: account.to_string(),
            n: Namespace::Public.as_str().to_owned(),
            e: (issued_at + BEARER_TTL).timestamp(),
            anonymous,
            binding: self
                .credentials
                .binding(holder.and_then(|h| h.access_key.as_deref())),
            g,
        };
        BearerToken {
            token: self.sealer.seal_json(BEARER, &claims),
            issued_at,
            expires_in: BEARER_TTL.num_seconds(),
        }
    }

    /// Checks a token `issue_bearer` issued: who it speaks for and what it grants.
    pub fn check_bearer(&self, token: &str) -> TokenCheck<(Holder, Vec<Grant>)> {
        let Some(claims) = self.sealer.open_json::<BearerClaims>(BEARER, token) else {
            return TokenCheck::Invalid;
        };
        let grants: Option<Vec<Grant>> = claims
            .g
            .iter()
            .map(|(repository, actions)| {
                Some(Grant {
                    repository: RepositoryName::parse(repository).ok()?,
                    actions: actions
                        .split(',')
                        .map(Action::parse)
                        .collect::<Option<_>>()?,
                })
            })
            .collect();
        let (registry, grants) = match (
            RegistryId::parse(&claims.a),
            Namespace::parse(&claims.n),
            grants,
        ) {
            (Ok(account), Some(Namespace::Public), Some(grants)) => {
                (Registry::public(account), grants)
            }
            _ => return TokenCheck::Invalid,
        };
        // An anonymous token is bound to no credential (and grants only pulls).
        let binding = (!claims.anonymous).then_some(&claims.binding);
        self.still_good(claims.e, binding, || {
            (self.holder_of(registry, &claims.binding), grants)
        })
    }

    fn holder_of(&self, registry: Registry, binding: &Binding) -> Holder {
        Holder {
            principal: self.credentials.principal(binding.key.as_deref()),
            registry,
            access_key: binding.key.clone(),
        }
    }

    /// Valid unless past `expires` (Unix seconds) or the credential it is bound to
    /// no longer stands.
    fn still_good<T>(
        &self,
        expires: i64,
        binding: Option<&Binding>,
        valid: impl FnOnce() -> T,
    ) -> TokenCheck<T> {
        if expires < Utc::now().timestamp() {
            TokenCheck::Expired
        } else if binding.is_some_and(|b| !self.credentials.stands(b)) {
            TokenCheck::Revoked
        } else {
            TokenCheck::Valid(valid())
        }
    }
}
