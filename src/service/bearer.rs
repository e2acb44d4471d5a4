//! Bearer tokens for the public registry, as `public.ecr.aws` issues them. Its `/v2/`
//! challenges with `Bearer realm=".../token/"`, and the token endpoint grants anyone
//! pulls of its repositories and the holder of ECR Public's password pushes as well:
//! Docker Engine pulls without credentials only this way, as it never answers a Basic
//! challenge without them. A token is sealed like the passwords, lives minutes, names
//! its registry and what it grants, and falls with the credential that minted the
//! password it was issued for.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{now, Service};
use crate::domain::{Namespace, Registry, RegistryId, RepositoryName};

/// distribution's token server issues tokens for five minutes too; clients fetch
/// another when one runs out.
const BEARER_TTL: Duration = Duration::minutes(5);
const PURPOSE: &str = "registry-bearer";

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

/// Who asks for a token.
#[derive(Debug, Clone)]
pub enum Requester {
    Anonymous,
    /// Presented a valid ECR Public password (see `check_registry_password`).
    Authenticated {
        account: RegistryId,
        access_key: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct BearerToken {
    pub token: String,
    pub issued_at: DateTime<Utc>,
    pub expires_in: i64,
}

/// What checking a bearer token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerCheck {
    Valid {
        registry: Registry,
        /// The access key of the password the token was issued for, if any.
        access_key: Option<String>,
        grants: Vec<Grant>,
    },
    Expired,
    /// Genuine, but the credential behind it is no longer configured as it was.
    Revoked,
    Invalid,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    a: String,
    n: String,
    e: i64,
    /// Issued without credentials: bound to none, and never more than pulls.
    #[serde(default)]
    anonymous: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<String>,
    /// (repository, comma-separated actions)
    g: Vec<(String, String)>,
}

impl Service {
    /// A token for the public registry granting what was asked that the requester may
    /// have: pulls to anyone, pushes and deletes only to an authenticated requester.
    /// What may not be granted is left out, as the token protocol has it.
    pub fn issue_bearer_token(&self, requester: &Requester, requested: Vec<Grant>) -> BearerToken {
        let (account, anonymous, bound) = match requester {
            Requester::Anonymous => (&self.settings().account, true, None),
            Requester::Authenticated {
                account,
                access_key,
            } => (account, false, access_key.as_deref()),
        };
        let (k, f) = self.credential_binding(bound);
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
        let issued_at = now();
        let claims = Claims {
            a: account.to_string(),
            n: Namespace::Public.as_str().to_owned(),
            e: (issued_at + BEARER_TTL).timestamp(),
            anonymous,
            k,
            f,
            g,
        };
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        BearerToken {
            token: self.inner.signer.seal(PURPOSE, &payload),
            issued_at,
            expires_in: BEARER_TTL.num_seconds(),
        }
    }

    /// Checks a token minted by `issue_bearer_token`.
    pub fn check_bearer_token(&self, token: &str) -> BearerCheck {
        let claims = self
            .inner
            .signer
            .open(PURPOSE, token)
            .and_then(|p| serde_json::from_slice::<Claims>(&p).ok());
        let Some(claims) = claims else {
            return BearerCheck::Invalid;
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
        match (
            RegistryId::parse(&claims.a),
            Namespace::parse(&claims.n),
            grants,
        ) {
            (Ok(_), Some(_), Some(_)) if claims.e < now().timestamp() => BearerCheck::Expired,
            (Ok(_), Some(_), Some(_))
                if !claims.anonymous
                    && !self.credential_stands(claims.k.as_deref(), claims.f.as_deref()) =>
            {
                BearerCheck::Revoked
            }
            (Ok(account), Some(namespace), Some(grants)) => BearerCheck::Valid {
                registry: Registry { account, namespace },
                access_key: claims.k,
                grants,
            },
            _ => BearerCheck::Invalid,
        }
    }
}
