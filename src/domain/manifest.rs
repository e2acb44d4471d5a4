//! Image manifests and indexes: the four media types berth stores, parsed only as far
//! as the rules need (what a manifest references, its subject and artifact type). The
//! exact bytes are kept elsewhere and never re-serialised.

use serde::Deserialize;

use super::{Digest, DigestError};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The four, indexes first: what berth asks another registry for.
pub const MEDIA_TYPES: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];
const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// Layers whose bytes live elsewhere by design (they carry `urls`): exempt from the
/// presence check.
const NON_DISTRIBUTABLE: [&str; 2] = [
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
];

/// The largest manifest accepted, in bytes (ECR: 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// A single image (or artifact): config plus layers.
    Image,
    /// A list of other manifests.
    Index,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: i64,
}

impl Descriptor {
    /// Non-distributable layers are fetched from their `urls`, not from the registry.
    pub fn is_non_distributable(&self) -> bool {
        NON_DISTRIBUTABLE
            .iter()
            .any(|p| self.media_type.starts_with(p))
    }
}

/// A parsed manifest of one of the four supported media types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub kind: ManifestKind,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub children: Vec<Descriptor>,
    pub subject: Option<Digest>,
    pub artifact_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "the manifest media type is missing: give imageManifestMediaType or a mediaType member"
    )]
    MissingMediaType,
    #[error("the manifest's mediaType '{in_body}' does not match the given media type '{given}'")]
    MediaTypeMismatch { given: String, in_body: String },
    #[error("Docker image manifest schema 1 is not supported; push schema 2 or OCI")]
    Schema1,
    #[error("unsupported manifest media type '{0}'")]
    UnsupportedMediaType(String),
    #[error("the manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge,
    #[error("the manifest is not valid: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    artifact_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: i64,
}

/// A media type as OCI's schema requires it (RFC 6838 names, no parameters):
/// `^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`.
fn is_media_type(s: &str) -> bool {
    let name = |part: &str| {
        part.len() <= 127
            && part
                .bytes()
                .enumerate()
                .all(|(i, b)| b.is_ascii_alphanumeric() || (i > 0 && b"!#$&^_.+-".contains(&b)))
            && !part.is_empty()
    };
    s.split_once('/')
        .is_some_and(|(kind, sub)| name(kind) && name(sub))
}

fn check_media_type(at: &str, media_type: Option<&str>) -> Result<(), ManifestError> {
    match media_type {
        Some(t) if !is_media_type(t) => Err(ManifestError::Invalid(format!(
            "{at}: '{}' is not a media type",
            t.escape_default()
        ))),
        _ => Ok(()),
    }
}

impl RawDescriptor {
    fn parse(self, at: &str) -> Result<Descriptor, ManifestError> {
        let bad = |e: DigestError| ManifestError::Invalid(format!("{at}: {e}"));
        if self.size < 0 {
            return Err(ManifestError::Invalid(format!(
                "{at}: size must not be negative"
            )));
        }
        check_media_type(&format!("{at}.mediaType"), self.media_type.as_deref())?;
        Ok(Descriptor {
            media_type: self.media_type.unwrap_or_default(),
            digest: Digest::parse(&self.digest).map_err(bad)?,
            size: self.size,
        })
    }
}

impl Manifest {
    /// Parses `bytes` as a manifest. `given_media_type` is the caller's statement of the
    /// type (PutImage's `imageManifestMediaType`, a registry PUT's `Content-Type`).
    pub fn parse(bytes: &[u8], given_media_type: Option<&str>) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge);
        }
        let raw: RawManifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        let media_type = match (given_media_type, raw.media_type.as_deref()) {
            (Some(given), Some(body)) if given != body => {
                return Err(ManifestError::MediaTypeMismatch {
                    given: given.to_owned(),
                    in_body: body.to_owned(),
                })
            }
            (Some(t), _) | (None, Some(t)) => t.to_owned(),
            (None, None) => return Err(ManifestError::MissingMediaType),
        };
        let kind = match media_type.as_str() {
            DOCKER_MANIFEST | OCI_MANIFEST => ManifestKind::Image,
            DOCKER_LIST | OCI_INDEX => ManifestKind::Index,
            t if DOCKER_SCHEMA1.contains(&t) => return Err(ManifestError::Schema1),
            t => return Err(ManifestError::UnsupportedMediaType(t.to_owned())),
        };
        if raw.schema_version != Some(2) {
            return Err(ManifestError::Invalid("schemaVersion must be 2".into()));
        }
        check_media_type("artifactType", raw.artifact_type.as_deref())?;
        let subject = raw
            .subject
            .map(|s| s.parse("subject"))
            .transpose()?
            .map(|d| d.digest);
        let mut manifest = Manifest {
            media_type,
            kind,
            config: None,
            layers: Vec::new(),
            children: Vec::new(),
            subject,
            artifact_type: raw.artifact_type,
        };
        match kind {
            ManifestKind::Image => {
                let config = raw
                    .config
                    .ok_or_else(|| ManifestError::Invalid("config is required".into()))?;
                manifest.config = Some(config.parse("config")?);
                let layers = raw
                    .layers
                    .ok_or_else(|| ManifestError::Invalid("layers is required".into()))?;
                manifest.layers = layers
                    .into_iter()
                    .enumerate()
                    .map(|(i, l)| l.parse(&format!("layers[{i}]")))
                    .collect::<Result<_, _>>()?;
                let total = manifest
                    .config
                    .iter()
                    .chain(&manifest.layers)
                    .try_fold(0_i64, |sum, d| sum.checked_add(d.size));
                if total.is_none() {
                    return Err(ManifestError::Invalid(
                        "the sizes of config and layers add up to more than 2^63 - 1".into(),
                    ));
                }
            }
            ManifestKind::Index => {
                let children = raw
                    .manifests
                    .ok_or_else(|| ManifestError::Invalid("manifests is required".into()))?;
                manifest.children = children
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| m.parse(&format!("manifests[{i}]")))
                    .collect::<Result<_, _>>()?;
            }
        }
        Ok(manifest)
    }

    /// Blobs that must be present in the repository: the config and every
    /// distributable layer.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config
            .iter()
            .chain(self.layers.iter().filter(|l| !l.is_non_distributable()))
    }

    /// ECR's `imageSizeInBytes` for an image: config plus layers. Indexes are sized
    /// from their children by the caller.
    pub fn image_size(&self) -> i64 {
        // `parse` refuses totals past i64; saturate anyway rather than panic.
        self.config
            .iter()
            .chain(&self.layers)
            .fold(0, |sum, d| sum.saturating_add(d.size))
    }

    /// ECR's `artifactMediaType`: the config's media type.
    pub fn artifact_media_type(&self) -> Option<&str> {
        self.config
            .as_ref()
            .map(|c| c.media_type.as_str())
            .filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: &[u8]) -> String {
        Digest::sha256_of(b).to_string()
    }

    #[test]
    fn image_and_index() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":5}},
            {{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"{}","size":7,"urls":["http://x"]}}]}}"#,
            d(b"c"),
            d(b"l"),
            d(b"n")
        );
        let m = Manifest::parse(body.as_bytes(), None).expect("parses");
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.image_size(), 14);
        assert_eq!(m.required_blobs().count(), 2);
        assert_eq!(
            m.artifact_media_type(),
            Some("application/vnd.oci.image.config.v1+json")
        );

        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":3}}]}}"#,
            d(b"m")
        );
        let m = Manifest::parse(index.as_bytes(), Some(OCI_INDEX)).expect("parses");
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.children.len(), 1);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Manifest::parse(br#"{"schemaVersion":2}"#, None),
            Err(ManifestError::MissingMediaType)
        );
        assert_eq!(
            Manifest::parse(br#"{"schemaVersion":1}"#, Some(DOCKER_SCHEMA1[0])),
            Err(ManifestError::Schema1)
        );
        assert!(matches!(
            Manifest::parse(br#"{"schemaVersion":2,"mediaType":"a"}"#, Some(OCI_INDEX)),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
        assert!(matches!(
            Manifest::parse(b"not json", Some(OCI_INDEX)),
            Err(ManifestError::Invalid(_))
        ));
        let bad_digest =
            br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:../../x","size":3}]}"#;
        assert!(matches!(
            Manifest::parse(bad_digest, Some(OCI_INDEX)),
            Err(ManifestError::Invalid(_))
        ));
        // Media types from the body are stored: they must be media types.
        for bad in [
            r#""x\u0000y/z""#,
            r#""a/b\u0000""#,
            r#""nope""#,
            r#""/b""#,
            r#""a/""#,
            r#""a/b; c=d""#,
        ] {
            let config = format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":{bad},"digest":"{}","size":2}},"layers":[]}}"#,
                d(b"c")
            );
            assert!(
                matches!(
                    Manifest::parse(config.as_bytes(), None),
                    Err(ManifestError::Invalid(_))
                ),
                "{config}"
            );
            let artifact = format!(r#"{{"schemaVersion":2,"artifactType":{bad},"manifests":[]}}"#);
            assert!(
                matches!(
                    Manifest::parse(artifact.as_bytes(), Some(OCI_INDEX)),
                    Err(ManifestError::Invalid(_))
                ),
                "{artifact}"
            );
        }
        let huge = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"digest":"{}","size":{}}},"layers":[{{"digest":"{}","size":1}}]}}"#,
            d(b"c"),
            i64::MAX,
            d(b"l")
        );
        assert!(matches!(
            Manifest::parse(huge.as_bytes(), None),
            Err(ManifestError::Invalid(_))
        ));
        for good in [
            "application/vnd.cncf.helm.config.v1+json",
            "a/b",
            "x-y/z.w+json",
        ] {
            assert!(is_media_type(good), "{good}");
        }
    }
}
