//! The configured access keys: what SigV4 checks signatures against, and what registry
//! tokens are bound to.

use std::collections::HashMap;
use std::fmt;

use actix_web::HttpRequest;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::sigv4::{self, HeaderCheck, SigV4Error};

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

/// Known access keys and their secrets; empty means open mode.
#[derive(Clone, Default)]
pub struct Credentials {
    secrets: HashMap<String, String>,
}

/// Key ids only: secrets stay out of logs.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.secrets.keys()).finish()
    }
}

impl Credentials {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            secrets: pairs.into_iter().collect(),
        }
    }

    /// Open mode: no keys configured, any well-formed signature is accepted.
    pub fn is_open(&self) -> bool {
        self.secrets.is_empty()
    }

    /// A value that names the secret of `access_key_id` without revealing it, so what
    /// was issued under one secret can be refused once the key is removed or its
    /// secret changes. `None` for a key that is not configured.
    pub fn fingerprint(&self, access_key_id: &str) -> Option<String> {
        let secret = self.secrets.get(access_key_id)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
        mac.update(FINGERPRINT_LABEL);
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// What a token minted with `access_key` is bound to: the key and a fingerprint of
    /// its secret. In open mode no key is configured, so none is bound.
    pub fn binding(&self, access_key: Option<&str>) -> Binding {
        let (key, fingerprint) = access_key
            .and_then(|key| Some((key.to_owned(), self.fingerprint(key)?)))
            .unzip();
        Binding { key, fingerprint }
    }

    /// Whether the credential a token was bound to still holds: the same key with the
    /// same secret. In open mode every caller is let in anyway, so every token this
    /// registry minted holds; a token minted in open mode names no key and so holds
    /// only there.
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
        let lookup = |key: &str| self.secrets.get(key).cloned();
        let secret_for: Option<sigv4::SecretLookup<'_>> =
            if self.is_open() { None } else { Some(&lookup) };
        sigv4::check_headers(&signed, service, chrono::Utc::now(), secret_for)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_follow_the_secret_and_hide_it() {
        let a = Credentials::new([("K".to_owned(), "one".to_owned())]);
        let b = Credentials::new([("K".to_owned(), "two".to_owned())]);
        let fa = a.fingerprint("K").unwrap();
        assert_eq!(a.fingerprint("K").as_ref(), Some(&fa));
        assert_ne!(b.fingerprint("K"), Some(fa.clone()));
        assert!(!fa.contains("one"));
        assert_eq!(a.fingerprint("OTHER"), None);
        assert!(!format!("{a:?}").contains("one"));
    }
}
