//! Sealing with the registry's secret: HMAC over a purpose and a payload, for tokens
//! that must be unforgeable (registry passwords and bearer tokens, download URLs, page
//! tokens). The secret lives in the metadata store, so every process sharing the
//! database accepts what another sealed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub struct Sealer {
    key: Vec<u8>,
}

impl Sealer {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, purpose: &str, payload: &[u8]) -> HmacSha256 {
        // The purpose is part of the MAC so a token minted for one use is worthless
        // for another.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// A value derived from the secret: the same for the same purpose and input on
    /// every process sharing the store, and unguessable without the secret.
    pub fn derive(&self, purpose: &str, input: &[u8]) -> [u8; 32] {
        self.mac(purpose, input).finalize().into_bytes().into()
    }

    /// `base64url(payload).base64url(mac)`
    pub fn seal(&self, purpose: &str, payload: &[u8]) -> String {
        let tag = self.mac(purpose, payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The payload of a sealed token, if it was sealed by this registry for `purpose`.
    pub fn open(&self, purpose: &str, token: &str) -> Option<Vec<u8>> {
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        // verify_slice compares in constant time.
        self.mac(purpose, &payload).verify_slice(&tag).ok()?;
        Some(payload)
    }

    /// `value` as JSON, sealed.
    pub fn seal_json<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        // Plain data serializes infallibly; an empty payload would not open as `T`.
        self.seal(purpose, &serde_json::to_vec(value).unwrap_or_default())
    }

    /// The value a token sealed with `seal_json` holds, if it is genuine and a `T`.
    pub fn open_json<T: DeserializeOwned>(&self, purpose: &str, token: &str) -> Option<T> {
        serde_json::from_slice(&self.open(purpose, token)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let s = Sealer::new(vec![7; 32]);
        let t = s.seal("a", b"hello");
        assert_eq!(s.open("a", &t).as_deref(), Some(&b"hello"[..]));
        assert_eq!(s.open("b", &t), None, "purpose is bound");
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(b"hellp"),
            t.split_once('.').map_or("", |p| p.1)
        );
        assert_eq!(s.open("a", &forged), None);
        assert_eq!(s.open("a", "garbage"), None);
        assert_eq!(Sealer::new(vec![8; 32]).open("a", &t), None);
    }
}
