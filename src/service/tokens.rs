//! GetAuthorizationToken: a password for `docker login -u AWS` to each registry asked
//! for (see `auth::tokens` for what it holds and how long).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::{now, Caller, Result, Service};
use crate::auth::{PASSWORD_TTL, TOKEN_USER};
use crate::domain::RegistryId;

#[derive(Debug, Clone)]
pub struct AuthorizationData {
    /// `base64("AWS:" + password)`
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub proxy_endpoint: String,
}

impl Service {
    pub fn get_authorization_token(
        &self,
        caller: &Caller,
        registries: Option<&[RegistryId]>,
    ) -> Result<Vec<AuthorizationData>> {
        let registries = match registries {
            Some(ids) => ids.iter().map(|r| self.registry(caller, Some(r))).collect(),
            None => vec![caller.registry.clone()],
        };
        let expires_at = now() + PASSWORD_TTL;
        Ok(registries
            .into_iter()
            .map(|registry| {
                let password = self.authority().mint_password(
                    &registry,
                    caller.access_key.as_deref(),
                    expires_at,
                );
                AuthorizationData {
                    token: STANDARD.encode(format!("{TOKEN_USER}:{password}")),
                    expires_at,
                    proxy_endpoint: self.registry_url(&registry),
                }
            })
            .collect())
    }
}
