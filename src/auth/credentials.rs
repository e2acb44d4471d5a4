//! The configured access keys: what SigV4 checks signatures against, whom each speaks
//! for (an account and a principal ARN), and what registry tokens are bound to.

use std::collections::HashMap;
use std::fmt;

use actix_web::HttpRequest;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::sigv4::{self, HeaderCheck, SigV4Error};
use crate::domain::{Principal, RegistryId};

/// What a credential's fingerprint is an HMAC of, under its secret.
const FINGERPRINT_LABEL: &[u8] = b"berth credential fingerprint v1";

/// The access key a token was minted with and a fingerprint of its secret, as the
/// token carries them (`k`, `f`); both absent for a token minted in open mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// One configured access key: its secret and whom it speaks for.
#[derive(Clone)]
pub struct AccessKey {
    pub secret: String,
    pub principal: Principal,
}

/// Known access keys; none means open mode.
#[derive(Clone)]
pub struct Credentials {
    keys: HashMap<String, AccessKey>,
    /// The configured account: whom anonymous callers, and in open mode callers whose
    /// key names no account, are served as.
    account: RegistryId,
}

/// Key ids and principals only: secrets stay out of logs.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.keys.iter().map(|(id, key)| (id, &key.principal.arn)))
            .finish()
    }
}

impl Credentials {
    pub fn new(account: RegistryId, keys: impl IntoIterator<Item = (String, AccessKey)>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
            account,
        }
    }

    /// Open mode: no keys configured, any well-formed signature is accepted.
    pub fn is_open(&self) -> bool {
        self.keys.is_empty()
    }

    /// The configured account.
    pub fn account(&self) -> &RegistryId {
        &self.account
    }

    /// Whom a request signed with `access_key` (or, `None`, an anonymous one) speaks
    /// for: a configured key's principal; in open mode, the account a 12-digit key id
    /// names (the convention other AWS emulators follow), or else the configured
    /// account's root.
    pub fn principal(&self, access_key: Option<&str>) -> Principal {
        if let Some(key) = access_key.and_then(|k| self.keys.get(k)) {
            return key.principal.clone();
        }
        let named = access_key
            .filter(|_| self.is_open())
            .and_then(|k| RegistryId::parse(k).ok());
        Principal::root(named.unwrap_or_else(|| self.account.clone()))
    }

    /// A value that names the secret of `access_key_id` without revealing it, so what
    /// was issued under one secret can be refused once the key is removed or its
    /// secret changes. `None` for a key that is not configured.
    pub fn fingerprint(&self, access_key_id: &str) -> Option<String> {
        let key = self.keys.get(access_key_id)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.secret.as_bytes()).ok()?;
        mac.update(FINGERPRINT_LABEL);
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// One value for the whole set of keys (ids, secrets by fingerprint, principals):
    /// processes serving one store compare it to know they accept the same callers.
    pub fn digest(&self) -> String {
        use sha2::Digest as _;
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        let mut hasher = Sha256::new();
        for id in ids {
            let principal = self.keys.get(id).map(|k| k.principal.arn.as_str());
            for part in [
                id.as_str(),
                &self.fingerprint(id).unwrap_or_default(),
                principal.unwrap_or_default(),
            ] {
                hasher.update(part.as_bytes());
                hasher.update([0]);
            }
        }
        hex::encode(hasher.finalize())
    }

    /// What a token minted with `access_key` is bound to: the key and a fingerprint of
    /// its secret. In open mode no secret is configured, so only the key is bound
    /// (it still says whom the token speaks for).
    pub fn binding(&self, access_key: Option<&str>) -> Binding {
        Binding {
            key: access_key.map(str::to_owned),
            fingerprint: access_key.and_then(|key| self.fingerprint(key)),
        }
    }

    /// Whether the credential a token was bound to still holds: the same key with the
    /// same secret. In open mode every caller is let in anyway, so every token this
    /// registry minted holds; a token minted in open mode has no fingerprint and so
    /// holds only there.
    pub fn stands(&self, binding: &Binding) -> bool {
        self.is_open()
            || match (&binding.key, &binding.fingerprint) {
                (Some(key), Some(fingerprint)) => {
                    self.fingerprint(key).as_ref() == Some(fingerprint)
                }
                _ => false,
            }
    }

    /// The header stage of SigV4 for `service`: what can be checked before the body
    /// is read. The body stage is [`HeaderCheck::finish`].
    pub fn check_headers(
        &self,
        req: &HttpRequest,
        service: &str,
    ) -> Result<HeaderCheck, SigV4Error> {
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let signed = sigv4::SignedRequest {
            method: req.method().as_str(),
            path: req.path(),
            query: req.query_string(),
            headers: &headers,
        };
        let lookup = |key: &str| self.keys.get(key).map(|k| k.secret.clone());
        let secret_for: Option<sigv4::SecretLookup<'_>> =
            if self.is_open() { None } else { Some(&lookup) };
        sigv4::check_headers(&signed, service, chrono::Utc::now(), secret_for)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> RegistryId {
        RegistryId::parse(id).unwrap()
    }

    fn one_key(secret: &str, principal: Principal) -> Credentials {
        let key = AccessKey {
            secret: secret.to_owned(),
            principal,
        };
        Credentials::new(account("000000000000"), [("K".to_owned(), key)])
    }

    #[test]
    fn fingerprints_follow_the_secret_and_hide_it() {
        let root = Principal::root(account("000000000000"));
        let a = one_key("one", root.clone());
        let b = one_key("two", root);
        let fa = a.fingerprint("K").unwrap();
        assert_eq!(a.fingerprint("K").as_ref(), Some(&fa));
        assert_ne!(b.fingerprint("K"), Some(fa.clone()));
        assert!(!fa.contains("one"));
        assert_eq!(a.fingerprint("OTHER"), None);
        assert!(!format!("{a:?}").contains("one"));
    }

    #[test]
    fn principals_come_from_keys_or_in_open_mode_from_key_ids() {
        let alice = Principal::parse(
            account("111122223333"),
            "arn:aws:iam::111122223333:user/alice",
        )
        .unwrap();
        let configured = one_key("s", alice.clone());
        assert_eq!(configured.principal(Some("K")), alice);
        assert_eq!(
            configured.principal(Some("444455556666")),
            Principal::root(account("000000000000")),
            "outside open mode a key id names no account"
        );
        assert_eq!(
            configured.principal(None),
            Principal::root(account("000000000000"))
        );
        let open = Credentials::new(account("000000000000"), []);
        assert_eq!(
            open.principal(Some("444455556666")),
            Principal::root(account("444455556666"))
        );
        assert_eq!(
            open.principal(Some("AKIDEXAMPLE")),
            Principal::root(account("000000000000"))
        );
    }
}
