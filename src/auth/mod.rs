//! Who is calling: SigV4 verification for the JSON faces (registry tokens are the
//! service's, see `service::tokens`).

pub mod sigv4;

use std::collections::HashMap;
use std::fmt;

use actix_web::HttpRequest;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use sigv4::{HeaderCheck, SigV4Error, Verified};

/// What a credential's fingerprint is an HMAC of, under its secret.
const FINGERPRINT_LABEL: &[u8] = b"berth credential fingerprint v1";

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
