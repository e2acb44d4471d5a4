//! The Notary Project JWS envelope (specs/signature-envelope-jws.md, `notary.x509`
//! signing scheme) and the OCI manifest that stores it as a referrer of the image,
//! as notation packs it against a registry with the referrers API: an image manifest
//! with `artifactType` `application/vnd.cncf.notary.signature`, the empty config, the
//! envelope as its one layer, the image as its `subject`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::Signer;

pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
const ENVELOPE_MEDIA_TYPE: &str = "application/jose+json";
const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
const THUMBPRINTS: &str = "io.cncf.notary.x509chain.thumbprint#S256";
/// The empty config every signature manifest carries (OCI's empty descriptor).
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// The signed artifact, as its descriptor names it.
#[derive(Debug, Clone)]
pub struct Target {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Target {
    fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// A signature envelope's bytes, with the SHA-256 thumbprints of the chain that
/// signed it (lowercase hex, leaf first) for the manifest's annotation.
pub struct Envelope {
    pub bytes: Vec<u8>,
    pub thumbprints: Vec<String>,
}

impl Signer {
    /// The flattened JWS JSON envelope over `target`'s descriptor, signed at `at`.
    pub fn sign(&self, target: &Target, at: DateTime<Utc>, agent: &str) -> Envelope {
        let payload = json!({"targetArtifact": target.descriptor()}).to_string();
        let protected = json!({
            "alg": self.key.alg(),
            "crit": [SIGNING_SCHEME],
            "cty": PAYLOAD_MEDIA_TYPE,
            SIGNING_SCHEME: "notary.x509",
            // RFC 3339 without fractional seconds, as the specification asks.
            "io.cncf.notary.signingTime": at.to_rfc3339_opts(SecondsFormat::Secs, true),
        })
        .to_string();
        let protected = URL_SAFE_NO_PAD.encode(protected);
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let signature = self.key.sign(format!("{protected}.{payload}").as_bytes());
        let envelope = json!({
            "payload": payload,
            "protected": protected,
            "header": {
                "x5c": self.chain.iter().map(|der| STANDARD.encode(der)).collect::<Vec<_>>(),
                "io.cncf.notary.signingAgent": agent,
            },
            "signature": URL_SAFE_NO_PAD.encode(signature),
        });
        Envelope {
            bytes: envelope.to_string().into_bytes(),
            thumbprints: self
                .chain
                .iter()
                .map(|der| hex::encode(Sha256::digest(der)))
                .collect(),
        }
    }
}

/// The signature manifest: `envelope` (stored as the blob `envelope_digest`) as a
/// referrer of `subject`.
pub fn signature_manifest(
    subject: &Target,
    envelope: &Envelope,
    envelope_digest: &str,
    empty_digest: &str,
    created: DateTime<Utc>,
) -> Vec<u8> {
    let thumbprints = serde_json::to_string(&envelope.thumbprints).unwrap_or_default();
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty_digest, "size": EMPTY_CONFIG.len()},
        "layers": [{
            "mediaType": ENVELOPE_MEDIA_TYPE,
            "digest": envelope_digest,
            "size": envelope.bytes.len(),
        }],
        "subject": subject.descriptor(),
        "annotations": {
            THUMBPRINTS: thumbprints,
            "org.opencontainers.image.created": created.to_rfc3339_opts(SecondsFormat::Secs, true),
        },
    })
    .to_string()
    .into_bytes()
}
