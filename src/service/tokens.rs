//! Registry credentials: GetAuthorizationToken mints a password that `docker login -u
//! AWS` presents to the registry face. It is sealed with the registry's secret (so it
//! cannot be forged), names the account, and expires after 12 hours. It is bound to
//! the access key that minted it: once that key is no longer configured, or its
//! secret changed, the token is refused, and a token minted in open mode is refused
//! as soon as credentials are configured.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{now, Caller, Result, Service};
use crate::domain::{Namespace, Registry, RegistryId};

const TOKEN_TTL: Duration = Duration::hours(12);
const PURPOSE: &str = "registry-password";
/// The user name ECR's tokens carry.
pub const TOKEN_USER: &str = "AWS";

#[derive(Debug, Clone)]
pub struct AuthorizationData {
    /// `base64("AWS:" + password)`
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub proxy_endpoint: String,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    a: String,
    e: i64,
    /// The registry's namespace: a private registry's token does not open the public
    /// one, as on AWS. Tokens minted before ECR Public existed carry none: private.
    #[serde(default = "private")]
    n: String,
    /// The access key that minted the token and a fingerprint of its secret; absent
    /// for tokens minted in open mode (or before tokens were bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<String>,
}

fn private() -> String {
    Namespace::Private.as_str().to_owned()
}

/// What checking a registry password found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    Valid {
        registry: Registry,
        /// The access key the token was minted with, if any.
        access_key: Option<String>,
    },
    Expired,
    /// Genuine, but the credential that minted it is no longer configured as it was.
    Revoked,
    Invalid,
}

impl Service {
    pub fn get_authorization_token(
        &self,
        caller: &Caller,
        registries: Option<&[RegistryId]>,
    ) -> Result<Vec<AuthorizationData>> {
        let registries = match registries {
            Some(ids) => ids
                .iter()
                .map(|r| self.registry(caller, Some(r)))
                .collect::<Result<Vec<_>>>()?,
            None => vec![caller.registry()],
        };
        let expires_at = now() + TOKEN_TTL;
        let (k, f) = self.credential_binding(caller.access_key.as_deref());
        Ok(registries
            .into_iter()
            .map(|registry| {
                let claims = Claims {
                    a: registry.account.to_string(),
                    e: expires_at.timestamp(),
                    n: registry.namespace.as_str().to_owned(),
                    k: k.clone(),
                    f: f.clone(),
                };
                let payload = serde_json::to_vec(&claims).unwrap_or_default();
                let password = self.inner.signer.seal(PURPOSE, &payload);
                AuthorizationData {
                    token: STANDARD.encode(format!("{TOKEN_USER}:{password}")),
                    expires_at,
                    proxy_endpoint: match registry.namespace {
                        Namespace::Private => &self.settings().public_url,
                        Namespace::Public => &self.settings().public_registry_url,
                    }
                    .trim_end_matches('/')
                    .to_owned(),
                }
            })
            .collect())
    }

    /// Checks a password minted by `get_authorization_token`.
    pub fn check_registry_password(&self, password: &str) -> PasswordCheck {
        let claims = self
            .inner
            .signer
            .open(PURPOSE, password)
            .and_then(|p| serde_json::from_slice::<Claims>(&p).ok());
        let Some(claims) = claims else {
            return PasswordCheck::Invalid;
        };
        match (RegistryId::parse(&claims.a), Namespace::parse(&claims.n)) {
            (Ok(_), Some(_)) if claims.e < now().timestamp() => PasswordCheck::Expired,
            (Ok(_), Some(_))
                if !self.credential_stands(claims.k.as_deref(), claims.f.as_deref()) =>
            {
                PasswordCheck::Revoked
            }
            (Ok(account), Some(namespace)) => PasswordCheck::Valid {
                registry: Registry { account, namespace },
                access_key: claims.k,
            },
            _ => PasswordCheck::Invalid,
        }
    }

    /// What a token minted with `access_key` is bound to: the key and a fingerprint of
    /// its secret. In open mode no key is configured, so none is bound.
    pub(super) fn credential_binding(
        &self,
        access_key: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        let credentials = &self.settings().credentials;
        access_key
            .and_then(|key| Some((key.to_owned(), credentials.fingerprint(key)?)))
            .unzip()
    }

    /// Whether the credential a token was minted with (its `credential_binding`) still
    /// holds: the same key with the same secret. In open mode every caller is let in
    /// anyway, so every token this registry minted holds; a token minted in open mode
    /// names no key and so holds only there.
    pub(super) fn credential_stands(&self, key: Option<&str>, fingerprint: Option<&str>) -> bool {
        let credentials = &self.settings().credentials;
        credentials.is_open()
            || match (key, fingerprint) {
                (Some(key), Some(fingerprint)) => {
                    credentials.fingerprint(key).as_deref() == Some(fingerprint)
                }
                _ => false,
            }
    }
}
