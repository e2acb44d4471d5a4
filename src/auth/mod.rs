//! Who is calling: SigV4 verification for the JSON faces (registry tokens are the
//! service's, see `service::tokens`).

pub mod sigv4;

use std::collections::HashMap;

use actix_web::HttpRequest;

pub use sigv4::{SigV4Error, Verified};

/// Known access keys and their secrets; empty means open mode.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    secrets: HashMap<String, String>,
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

    /// Verifies the request's SigV4 signature for `service` over `body`.
    pub fn verify(
        &self,
        req: &HttpRequest,
        body: &[u8],
        service: &str,
    ) -> Result<Verified, SigV4Error> {
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
            body,
        };
        let lookup = |key: &str| self.secrets.get(key).cloned();
        let secret_for: Option<sigv4::SecretLookup<'_>> =
            if self.is_open() { None } else { Some(&lookup) };
        sigv4::verify(&signed, service, chrono::Utc::now(), secret_for)
    }
}
