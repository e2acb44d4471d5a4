//! Managed signing: a registry's rules (which signing profile signs the images of which
//! repositories) and where the signature of one image by one profile stands. The
//! model checks the shapes (the ARN's pattern, the filters', at most 10 rules).

use std::fmt;

use super::mutability::wildcard_match;
use super::RepositoryName;

/// A signing profile's ARN: `arn:<partition>:signer:<region>:<account>:/signing-profiles/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SigningProfileArn(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a signing profile ARN (arn:aws:signer:<region>:<account>:/signing-profiles/<name>)")]
pub struct NotASigningProfileArn(pub String);

impl SigningProfileArn {
    pub fn parse(s: &str) -> Result<Self, NotASigningProfileArn> {
        let bad = || NotASigningProfileArn(s.to_owned());
        let fields: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = fields[..] else {
            return Err(bad());
        };
        let name = resource
            .strip_prefix("/signing-profiles/")
            .ok_or_else(bad)?;
        let ok = arn == "arn"
            && partition.starts_with("aws")
            && service == "signer"
            && !region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && name.len() >= 2
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok && s.len() <= 200 {
            Ok(Self(s.to_owned()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The profile's name: its key and certificate files are named for it. Only
    /// letters, digits and `_`, so it is safe as a file name.
    pub fn name(&self) -> &str {
        self.0
            .rsplit_once("/signing-profiles/")
            .map_or("", |(_, name)| name)
    }
}

impl fmt::Display for SigningProfileArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registry's signing configuration; no rules: nothing is signed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SigningConfiguration {
    pub rules: Vec<SigningRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningRule {
    pub profile: SigningProfileArn,
    /// `WILDCARD_MATCH` patterns over whole repository names (`*` any run of
    /// characters); none: every repository.
    pub filters: Vec<String>,
}

impl SigningRule {
    pub fn matches(&self, name: &RepositoryName) -> bool {
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|f| wildcard_match(f, name.as_str()))
    }
}

impl SigningConfiguration {
    /// The profiles that sign an image pushed to repository `name`: each of the
    /// matching rules', once, in configuration order.
    pub fn profiles_for(&self, name: &RepositoryName) -> Vec<SigningProfileArn> {
        let mut out: Vec<SigningProfileArn> = Vec::new();
        for rule in self.rules.iter().filter(|r| r.matches(name)) {
            if !out.contains(&rule.profile) {
                out.push(rule.profile.clone());
            }
        }
        out
    }
}

/// Where the signature of an image by one profile stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningStatus {
    InProgress,
    Complete,
    Failed,
}

impl SigningStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningStatus::InProgress => "IN_PROGRESS",
            SigningStatus::Complete => "COMPLETE",
            SigningStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::InProgress, Self::Complete, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why an image was not signed: the `failureCode` DescribeImageSigningStatus shows
/// (the reason goes with it as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningFailure {
    /// No signing directory is configured, or it has no key or certificate for the
    /// profile.
    ProfileNotFound,
    /// The key or certificate files cannot be used: not PEM, not PKCS#8, an algorithm
    /// berth does not sign with, or a certificate that is not the key's.
    InvalidSigningMaterial,
    /// The image left the repository before it was signed.
    ImageNotFound,
    /// Retries ran out on a fault.
    Internal,
}

impl SigningFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningFailure::ProfileNotFound => "SIGNING_PROFILE_NOT_FOUND",
            SigningFailure::InvalidSigningMaterial => "INVALID_SIGNING_MATERIAL",
            SigningFailure::ImageNotFound => "IMAGE_NOT_FOUND",
            SigningFailure::Internal => "INTERNAL_ERROR",
        }
    }
}

impl fmt::Display for SigningFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(name: &str) -> SigningProfileArn {
        SigningProfileArn::parse(&format!(
            "arn:aws:signer:us-east-1:111122223333:/signing-profiles/{name}"
        ))
        .unwrap()
    }

    #[test]
    fn profile_arns() {
        assert_eq!(arn("release_2").name(), "release_2");
        for bad in [
            "arn:aws:signer:us-east-1:111122223333:/signing-profiles/a",
            "arn:aws:signer:us-east-1:111122223333:/signing-profiles/../x",
            "arn:aws:signer:us-east-1:1111:/signing-profiles/release",
            "arn:aws:ecr:us-east-1:111122223333:/signing-profiles/release",
            "arn:aws:signer:us-east-1:111122223333:signing-profiles/release",
        ] {
            assert!(SigningProfileArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn profiles_by_wildcard() {
        let rule = |p: &str, filters: &[&str]| SigningRule {
            profile: arn(p),
            filters: filters.iter().map(|f| (*f).to_owned()).collect(),
        };
        let config = SigningConfiguration {
            rules: vec![
                rule("prod", &["prod/*", "*/production"]),
                rule("all", &[]),
                rule("prod", &["*app*"]),
            ],
        };
        let name = |n| RepositoryName::parse(n).unwrap();
        assert_eq!(
            config.profiles_for(&name("prod/web")),
            vec![arn("prod"), arn("all")]
        );
        assert_eq!(
            config.profiles_for(&name("team/production")),
            vec![arn("prod"), arn("all")]
        );
        assert_eq!(config.profiles_for(&name("dev/web")), vec![arn("all")]);
        assert_eq!(
            config.profiles_for(&name("myapp")),
            vec![arn("all"), arn("prod")]
        );
        // A filter matches the whole name.
        let only = SigningConfiguration {
            rules: vec![rule("prod", &["prod"])],
        };
        assert!(only.profiles_for(&name("prod/web")).is_empty());
        assert_eq!(only.profiles_for(&name("prod")), vec![arn("prod")]);
    }
}
