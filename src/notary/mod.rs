//! Notary Project signatures, as ECR's managed signing makes them: the signing
//! material of a profile (a key and its certificate chain, from the signing directory)
//! and the JWS envelope over an image's descriptor (`envelope.rs`).
//!
//! A profile `arn:…:/signing-profiles/<name>` signs with `<name>.key` (a PKCS#8 PEM
//! private key: ECDSA P-256, or RSA of 2048, 3072 or 4096 bits) and `<name>.crt` (PEM
//! certificates, the key's own first, then its issuers up to the root). Both are read
//! at each signing, so a profile's material can be replaced without a restart.

mod envelope;

use std::path::{Path, PathBuf};

use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
use x509_cert::der::Encode;

use crate::domain::{SigningFailure, SigningProfileArn};

pub use envelope::{signature_manifest, Envelope, Target, ARTIFACT_TYPE, EMPTY_CONFIG};

/// Why a profile cannot sign; `failure()` is the code its status shows.
#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    #[error("no signing directory is configured (--signing-dir, BERTH_SIGNING_DIR)")]
    NoDirectory,
    // Files are named without the directory: the reason is shown to the registry's
    // users, where the files live is the operator's to know.
    #[error("the signing directory has no {0}")]
    Missing(String),
    #[error("{file} cannot be read: {cause}")]
    Unreadable { file: String, cause: std::io::Error },
    #[error("{0} is not a PKCS#8 PEM private key of ECDSA P-256 or RSA")]
    BadKey(String),
    #[error("{0} is an RSA key of {1} bits; berth signs with 2048, 3072 or 4096")]
    RsaSize(String, usize),
    #[error("{file} holds no PEM certificate chain: {reason}")]
    BadCertificates { file: String, reason: String },
    #[error("the first certificate of {0} is not for the profile's key")]
    KeyMismatch(String),
}

impl MaterialError {
    pub fn failure(&self) -> SigningFailure {
        match self {
            MaterialError::NoDirectory | MaterialError::Missing(_) => {
                SigningFailure::ProfileNotFound
            }
            MaterialError::Unreadable { .. }
            | MaterialError::BadKey(_)
            | MaterialError::RsaSize(..)
            | MaterialError::BadCertificates { .. }
            | MaterialError::KeyMismatch(_) => SigningFailure::InvalidSigningMaterial,
        }
    }
}

/// The directory of signing profiles' material, if one is configured.
#[derive(Debug, Clone, Default)]
pub struct SigningDirectory(Option<PathBuf>);

impl SigningDirectory {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self(dir)
    }

    /// The profile's key and certificate chain, checked to belong together.
    pub async fn signer(&self, profile: &SigningProfileArn) -> Result<Signer, MaterialError> {
        let dir = self.0.as_deref().ok_or(MaterialError::NoDirectory)?;
        let key_file = format!("{}.key", profile.name());
        let crt_file = format!("{}.crt", profile.name());
        let key = SigningKey::from_pem(&key_file, &read(dir, &key_file).await?)?;
        let chain = certificates(&crt_file, &read(dir, &crt_file).await?)?;
        let (leaf, _) = &chain[0];
        let leaf_key = leaf.tbs_certificate.subject_public_key_info.to_der().ok();
        if leaf_key.is_none() || leaf_key != key.public_key_der() {
            return Err(MaterialError::KeyMismatch(crt_file));
        }
        Ok(Signer {
            key,
            chain: chain.into_iter().map(|(_, der)| der).collect(),
        })
    }
}

async fn read(dir: &Path, file: &str) -> Result<String, MaterialError> {
    match tokio::fs::read_to_string(dir.join(file)).await {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(MaterialError::Missing(file.to_owned()))
        }
        Err(cause) => Err(MaterialError::Unreadable {
            file: file.to_owned(),
            cause,
        }),
    }
}

/// Each certificate of a PEM chain with its DER, in order; at least one.
fn certificates(
    file: &str,
    pem: &str,
) -> Result<Vec<(x509_cert::Certificate, Vec<u8>)>, MaterialError> {
    let bad = |reason: String| MaterialError::BadCertificates {
        file: file.to_owned(),
        reason,
    };
    let chain =
        x509_cert::Certificate::load_pem_chain(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if chain.is_empty() {
        return Err(bad("no certificate".into()));
    }
    chain
        .into_iter()
        .map(|c| {
            let der = c.to_der().map_err(|e| bad(e.to_string()))?;
            Ok((c, der))
        })
        .collect()
}

/// A private key berth signs with, and the JWS algorithm the Notary Project
/// specification assigns it (by curve, or by RSA modulus size, with PSS).
pub(crate) enum SigningKey {
    Es256(p256::ecdsa::SigningKey),
    Ps256(rsa::RsaPrivateKey),
    Ps384(rsa::RsaPrivateKey),
    Ps512(rsa::RsaPrivateKey),
}

impl SigningKey {
    fn from_pem(file: &str, pem: &str) -> Result<Self, MaterialError> {
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::Es256(key));
        }
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|_| MaterialError::BadKey(file.to_owned()))?;
        let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
        match bits {
            2048 => Ok(SigningKey::Ps256(key)),
            3072 => Ok(SigningKey::Ps384(key)),
            4096 => Ok(SigningKey::Ps512(key)),
            _ => Err(MaterialError::RsaSize(file.to_owned(), bits)),
        }
    }

    fn public_key_der(&self) -> Option<Vec<u8>> {
        let der = match self {
            SigningKey::Es256(k) => k.verifying_key().to_public_key_der(),
            SigningKey::Ps256(k) | SigningKey::Ps384(k) | SigningKey::Ps512(k) => {
                k.to_public_key().to_public_key_der()
            }
        };
        der.ok().map(|d| d.as_bytes().to_vec())
    }

    pub(crate) fn alg(&self) -> &'static str {
        match self {
            SigningKey::Es256(_) => "ES256",
            SigningKey::Ps256(_) => "PS256",
            SigningKey::Ps384(_) => "PS384",
            SigningKey::Ps512(_) => "PS512",
        }
    }

    /// The JWS signature of `input`: ECDSA as the fixed-size `r || s`, RSASSA-PSS with
    /// the hash's length as the salt's.
    pub(crate) fn sign(&self, input: &[u8]) -> Vec<u8> {
        use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer as _};
        let mut rng = rand::thread_rng();
        match self {
            SigningKey::Es256(k) => {
                let signature: p256::ecdsa::Signature = k.sign(input);
                signature.to_bytes().to_vec()
            }
            SigningKey::Ps256(k) => rsa::pss::SigningKey::<sha2::Sha256>::new(k.clone())
                .sign_with_rng(&mut rng, input)
                .to_vec(),
            SigningKey::Ps384(k) => rsa::pss::SigningKey::<sha2::Sha384>::new(k.clone())
                .sign_with_rng(&mut rng, input)
                .to_vec(),
            SigningKey::Ps512(k) => rsa::pss::SigningKey::<sha2::Sha512>::new(k.clone())
                .sign_with_rng(&mut rng, input)
                .to_vec(),
        }
    }
}

/// A profile's key with its certificate chain (DER, the key's certificate first).
pub struct Signer {
    pub(crate) key: SigningKey,
    pub(crate) chain: Vec<Vec<u8>>,
}
