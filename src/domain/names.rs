use std::fmt;
use std::sync::Arc;
use std::sync::LazyLock;

use regex::Regex;

/// Why a name did not parse; the text is the model's constraint, ready for a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A 12-digit AWS account id naming a registry. Shared, not copied: registries (and
/// the errors that name them) are cloned often.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistryId(Arc<str>);
string_newtype!(RegistryId);

impl RegistryId {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.into()))
        } else {
            Err(NameError(
                "Member must satisfy regular expression pattern: [0-9]{12}".into(),
            ))
        }
    }
}

/// An AWS region as requests name it (`us-east-1`, `eu-central-1`, `us-gov-west-1`):
/// a private registry lives in one. Lower-case letters, digits and hyphens, starting
/// with a letter, at most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(Arc<str>);
string_newtype!(Region);

impl Region {
    /// Where ECR Public lives: its calls are made in us-east-1, as AWS requires.
    pub fn public_home() -> Self {
        Self("us-east-1".into())
    }

    pub fn parse(s: &str) -> Result<Self, NameError> {
        let mut bytes = s.bytes();
        let starts_with_letter = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
        if s.len() <= 32
            && starts_with_letter
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Ok(Self(s.into()))
        } else {
            Err(NameError(format!("'{s}' is not a region name")))
        }
    }
}

pub(super) static REPOSITORY_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
        .expect("static pattern")
});

/// An ECR repository name: 2 to 256 characters of lower-case path components.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);
string_newtype!(RepositoryName);

impl RepositoryName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.len() < 2 {
            return Err(NameError(
                "Member must have length greater than or equal to 2".into(),
            ));
        }
        if s.len() > 256 {
            return Err(NameError(
                "Member must have length less than or equal to 256".into(),
            ));
        }
        if !REPOSITORY_NAME.is_match(s) {
            return Err(NameError(format!(
                "Member must satisfy regular expression pattern: {}",
                REPOSITORY_NAME
                    .as_str()
                    .trim_start_matches('^')
                    .trim_end_matches('$')
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

/// An image tag. ECR's model allows 300 characters of anything, but a tag that the
/// registry face (`/v2/<name>/manifests/<tag>`) cannot address is useless, so berth
/// holds tags to the distribution grammar that docker and skopeo accept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageTag(String);
string_newtype!(ImageTag);

static IMAGE_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$").expect("static pattern"));

impl ImageTag {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if IMAGE_TAG.is_match(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError(
                "Member must satisfy regular expression pattern: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
                    .into(),
            ))
        }
    }
}

/// Ids that are random UUIDs, accepted only in the canonical hyphenated lower-case
/// form because they are also file names in the blob store.
macro_rules! uuid_newtype {
    ($name:ident) => {
        string_newtype!($name);
        impl $name {
            pub fn new() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
            }

            pub fn parse(s: &str) -> Result<Self, NameError> {
                canonical_uuid(s).map(Self)
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

/// A layer upload session id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);
uuid_newtype!(UploadId);

/// One part of an upload: names the file its bytes were written to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartId(String);
uuid_newtype!(PartId);

fn canonical_uuid(s: &str) -> Result<String, NameError> {
    match uuid::Uuid::try_parse(s) {
        Ok(u) if s.len() == 36 => Ok(u.to_string()),
        _ => Err(NameError(
            "Member must satisfy regular expression pattern: [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in ["ab", "team/app-1", "a__b/c.d", "x--y", "0a"] {
            assert!(RepositoryName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a", "AB", "a/", "/a", "a//b", "a___b", "a..b", "-a", "a b", "../x",
        ] {
            assert!(RepositoryName::parse(bad).is_err(), "{bad}");
        }
        assert!(RepositoryName::parse(&"a".repeat(257)).is_err());
        assert!(RepositoryName::parse(&"a".repeat(256)).is_ok());
    }

    #[test]
    fn tags_and_ids() {
        assert!(ImageTag::parse("v1.0_rc-2").is_ok());
        assert!(ImageTag::parse(".hidden").is_err());
        assert!(ImageTag::parse("a/b").is_err());
        assert!(ImageTag::parse(&"a".repeat(129)).is_err());
        assert!(RegistryId::parse("123456789012").is_ok());
        assert!(RegistryId::parse("12345678901x").is_err());
        for good in ["us-east-1", "eu-central-1", "us-gov-west-1", "local"] {
            assert!(Region::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "US-EAST-1",
            "1us",
            "us_east_1",
            "us/east",
            &"a".repeat(33),
        ] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
        let id = UploadId::new();
        assert_eq!(UploadId::parse(id.as_str()), Ok(id));
        assert!(UploadId::parse("../../etc/passwd").is_err());
        assert!(UploadId::parse("67e5504410b1426f9247bb680e5fe0c8").is_err());
    }
}
