//! Who may do what on a registry's `/v2/`: every rule in one place. The face parses
//! the `Authorization` header and the request; this decides.
//!
//! - A credential that is presented must be valid, even where none is needed.
//! - Without one (or with the empty Basic pair clients send when they hold none): open
//!   mode lets anyone in; the public registry lets anyone pull, except at `GET /v2/`
//!   itself, which still challenges so that clients send the credentials they hold.
//! - Basic `AWS:<password>`: a GetAuthorizationToken password of this registry (a
//!   private registry's does not open the public one, and the reverse).
//! - Bearer, on the public registry only: a token from its token endpoint that grants
//!   the action on the repository the request names.
//!
//! Which private registry a request is for: the one its host names
//! (`<account>.dkr.ecr.<region>.…`), else the one its password was minted for, else the
//! configured account's in the configured region. A password opens only its own
//! region's registries; another account's registry in that region is the repository
//! policies' to allow (the service decides that).

use super::tokens::{Action, Holder, TokenCheck};
use super::Authority;
use crate::domain::{Namespace, Principal, Region, Registry, RegistryId, RepositoryName};

/// The user name registry passwords go with, as ECR's do.
pub const TOKEN_USER: &str = "AWS";

/// Credentials as a request presents them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    None,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
    /// Another scheme, or Basic that does not decode.
    Unusable,
}

/// What a request does, as far as access goes.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The registry the listener serves.
    pub namespace: Namespace,
    /// The private registry the request's host names, if it names one.
    pub named: Option<&'a (RegistryId, Region)>,
    /// `/v2/` itself, where clients learn whether to log in.
    pub base: bool,
    pub action: Action,
    /// The repository the request names in this registry, if it names one.
    pub repository: Option<&'a RepositoryName>,
}

/// Whom a request is served for, and in which registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub registry: Registry,
    /// An anonymous caller, where one is let in at all, is served as the registry's
    /// owner.
    pub principal: Principal,
    /// The access key behind the credential presented; `None` for an anonymous caller.
    pub access_key: Option<String>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Credentials are needed and none were presented.
    Missing,
    /// A scheme this registry does not take here, or Basic that does not decode.
    Unusable {
        bearer_accepted: bool,
    },
    /// Basic with a user other than `AWS`.
    WrongUser,
    /// A password or token of the account's other registry.
    OtherRegistry,
    /// A password of another region.
    OtherRegion {
        password: Region,
        requested: Region,
    },
    PasswordExpired,
    BearerExpired,
    /// The credential that minted the password or token is no longer configured.
    Revoked,
    InvalidPassword,
    InvalidBearer,
    /// A valid bearer token that does not grant `action` on `repository`.
    NotGranted {
        action: Action,
        repository: RepositoryName,
    },
}

impl Authority {
    /// Admits a request to a registry's `/v2/`, or says why not.
    pub fn admit(&self, presented: Presented, access: Access<'_>) -> Result<Admitted, Refusal> {
        let public = access.namespace == Namespace::Public;
        let holder = match presented {
            Presented::None => None,
            Presented::Basic { user, password } if user.is_empty() && password.is_empty() => None,
            Presented::Basic { user, password } => {
                Some(self.holder(&user, &password, access.namespace)?)
            }
            Presented::Bearer(token) if public => Some(self.bearer(&token, access)?),
            Presented::Bearer(_) | Presented::Unusable => {
                return Err(Refusal::Unusable {
                    bearer_accepted: public,
                })
            }
        };
        if let Some(holder) = holder {
            let registry = match access.named {
                Some((_, region)) if *region != holder.registry.region => {
                    return Err(Refusal::OtherRegion {
                        password: holder.registry.region,
                        requested: region.clone(),
                    })
                }
                Some((account, region)) => Registry::private(account.clone(), region.clone()),
                None => holder.registry,
            };
            return Ok(Admitted {
                registry,
                principal: holder.principal,
                access_key: holder.access_key,
            });
        }
        let public_read = public && !access.base && access.action == Action::Pull;
        if !(self.credentials.is_open() || public_read) {
            return Err(Refusal::Missing);
        }
        let registry = match (access.namespace, access.named) {
            (Namespace::Public, _) => Registry::public(self.credentials.account().clone()),
            (Namespace::Private, Some((account, region))) => {
                Registry::private(account.clone(), region.clone())
            }
            (Namespace::Private, None) => {
                Registry::private(self.credentials.account().clone(), self.region.clone())
            }
        };
        Ok(Admitted {
            principal: Principal::root(registry.account.clone()),
            registry,
            access_key: None,
        })
    }

    /// Who asks the public registry's token endpoint: anonymous (`None`), or the
    /// holder of its password. It takes Basic credentials or none.
    pub fn token_requester(&self, presented: Presented) -> Result<Option<Holder>, Refusal> {
        match presented {
            Presented::None => Ok(None),
            Presented::Basic { user, password } if user.is_empty() && password.is_empty() => {
                Ok(None)
            }
            Presented::Basic { user, password } => {
                self.holder(&user, &password, Namespace::Public).map(Some)
            }
            Presented::Bearer(_) | Presented::Unusable => Err(Refusal::Unusable {
                bearer_accepted: false,
            }),
        }
    }

    /// The holder of a Basic `AWS:<password>` pair for `namespace`'s registry.
    fn holder(&self, user: &str, password: &str, namespace: Namespace) -> Result<Holder, Refusal> {
        if user != TOKEN_USER {
            return Err(Refusal::WrongUser);
        }
        match self.check_password(password) {
            TokenCheck::Valid(holder) if holder.registry.namespace == namespace => Ok(holder),
            TokenCheck::Valid(_) => Err(Refusal::OtherRegistry),
            TokenCheck::Expired => Err(Refusal::PasswordExpired),
            TokenCheck::Revoked => Err(Refusal::Revoked),
            TokenCheck::Invalid => Err(Refusal::InvalidPassword),
        }
    }

    /// The holder of a bearer token, if it grants what the request does to the
    /// repository it names. Requests that name none (`/v2/`, the catalog) need only a
    /// valid token.
    fn bearer(&self, token: &str, access: Access<'_>) -> Result<Holder, Refusal> {
        let (holder, grants) = match self.check_bearer(token) {
            TokenCheck::Valid((holder, grants))
                if holder.registry.namespace == access.namespace =>
            {
                (holder, grants)
            }
            TokenCheck::Valid(_) | TokenCheck::Invalid => return Err(Refusal::InvalidBearer),
            TokenCheck::Expired => return Err(Refusal::BearerExpired),
            TokenCheck::Revoked => return Err(Refusal::Revoked),
        };
        match access.repository {
            Some(name)
                if !grants
                    .iter()
                    .any(|g| g.repository == *name && g.actions.contains(&access.action)) =>
            {
                Err(Refusal::NotGranted {
                    action: access.action,
                    repository: name.clone(),
                })
            }
            _ => Ok(holder),
        }
    }
}
