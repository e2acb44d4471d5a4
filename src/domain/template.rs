//! Repository creation templates: the settings a repository that ECR creates on the
//! registry's behalf (a push to a name that does not exist, a pull through cache, a
//! replication) is given, chosen by the longest prefix of its name.

use chrono::{DateTime, Utc};

use super::names::REPOSITORY_NAME;
use super::{Registry, RepositoryName, TagMutability};

/// How a repository is encrypted: `AES256`, `KMS` or `KMS_DSSE`, with a KMS key only
/// for the KMS types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    pub encryption_type: String,
    pub kms_key: Option<String>,
}

impl Default for Encryption {
    fn default() -> Self {
        Self {
            encryption_type: "AES256".into(),
            kms_key: None,
        }
    }
}

impl Encryption {
    /// Whether a key goes with a type that uses none, which ECR refuses.
    pub fn key_without_kms(&self) -> bool {
        self.encryption_type == "AES256" && self.kms_key.is_some()
    }
}

/// The actions that create repositories from a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppliedFor {
    Replication,
    PullThroughCache,
    CreateOnPush,
}

impl AppliedFor {
    pub const ALL: [AppliedFor; 3] = [
        AppliedFor::Replication,
        AppliedFor::PullThroughCache,
        AppliedFor::CreateOnPush,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppliedFor::Replication => "REPLICATION",
            AppliedFor::PullThroughCache => "PULL_THROUGH_CACHE",
            AppliedFor::CreateOnPush => "CREATE_ON_PUSH",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Which repositories a template is for: `ROOT` (every repository no other template
/// matches) or a namespace prefix, kept without its trailing `/` since `prod` and
/// `prod/` name the same template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TemplatePrefix {
    Root,
    Namespace(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a prefix is ROOT or a repository namespace (lowercase letters, digits, separators '.', '_', '-', '/'), up to 256 characters")]
pub struct PrefixError;

impl TemplatePrefix {
    pub fn parse(s: &str) -> Result<Self, PrefixError> {
        if s == "ROOT" {
            return Ok(Self::Root);
        }
        let namespace = s.strip_suffix('/').unwrap_or(s);
        if s.len() <= 256 && REPOSITORY_NAME.is_match(namespace) {
            Ok(Self::Namespace(namespace.to_owned()))
        } else {
            Err(PrefixError)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Root => "ROOT",
            Self::Namespace(n) => n,
        }
    }

    /// How well the prefix matches `name`: `None` when it does not; a namespace
    /// prefix matches names under it (`prod` matches `prod/app`, not `prod` nor
    /// `production`) and ranks by its length; ROOT matches every name, ranking last.
    pub fn match_length(&self, name: &RepositoryName) -> Option<usize> {
        match self {
            Self::Root => Some(0),
            Self::Namespace(n) => name
                .as_str()
                .strip_prefix(n.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
                .then_some(n.len()),
        }
    }
}

impl std::fmt::Display for TemplatePrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A repository creation template of a private registry. Policies are kept byte for
/// byte as they were given (and were valid then).
#[derive(Debug, Clone, PartialEq)]
pub struct RepositoryTemplate {
    pub registry: Registry,
    pub prefix: TemplatePrefix,
    pub description: Option<String>,
    /// `None`: repositories get the default (AES256).
    pub encryption: Option<Encryption>,
    pub resource_tags: Vec<(String, String)>,
    pub mutability: TagMutability,
    pub repository_policy: Option<String>,
    pub lifecycle_policy: Option<String>,
    /// Never empty; each case once.
    pub applied_for: Vec<AppliedFor>,
    /// Kept and returned only: berth has no roles to assume.
    pub custom_role_arn: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RepositoryTemplate {
    pub fn applies_to(&self, case: AppliedFor) -> bool {
        self.applied_for.contains(&case)
    }
}

/// The template among `templates` for a repository `name` created by `case`: the
/// longest namespace prefix that matches, else ROOT.
pub fn choose_template<'a>(
    templates: &'a [RepositoryTemplate],
    name: &RepositoryName,
    case: AppliedFor,
) -> Option<&'a RepositoryTemplate> {
    templates
        .iter()
        .filter(|t| t.applies_to(case))
        .filter_map(|t| t.prefix.match_length(name).map(|len| (len, t)))
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Region, RegistryId};

    fn template(prefix: &str, applied_for: &[AppliedFor]) -> RepositoryTemplate {
        RepositoryTemplate {
            registry: Registry::private(
                RegistryId::parse("123456789012").unwrap(),
                Region::parse("us-east-1").unwrap(),
            ),
            prefix: TemplatePrefix::parse(prefix).unwrap(),
            description: None,
            encryption: None,
            resource_tags: Vec::new(),
            mutability: TagMutability::Mutable,
            repository_policy: None,
            lifecycle_policy: None,
            applied_for: applied_for.to_vec(),
            custom_role_arn: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    fn name(s: &str) -> RepositoryName {
        RepositoryName::parse(s).unwrap()
    }

    #[test]
    fn prefixes_parse_with_or_without_the_slash() {
        assert_eq!(
            TemplatePrefix::parse("prod/").unwrap(),
            TemplatePrefix::parse("prod").unwrap()
        );
        assert_eq!(TemplatePrefix::parse("ROOT").unwrap(), TemplatePrefix::Root);
        assert_eq!(TemplatePrefix::parse("a/b-c/").unwrap().as_str(), "a/b-c");
        for bad in ["", "/", "Prod", "prod//", "-x", "a b"] {
            assert!(TemplatePrefix::parse(bad).is_err(), "{bad:?}");
        }
        // Lowercase `root` is an ordinary namespace.
        assert_eq!(TemplatePrefix::parse("root/").unwrap().as_str(), "root");
    }

    #[test]
    fn a_prefix_matches_names_under_it_only() {
        let prod = TemplatePrefix::parse("prod").unwrap();
        assert_eq!(prod.match_length(&name("prod/app")), Some(4));
        assert_eq!(prod.match_length(&name("prod/a/b")), Some(4));
        assert_eq!(prod.match_length(&name("prod")), None);
        assert_eq!(prod.match_length(&name("production/app")), None);
        assert_eq!(TemplatePrefix::Root.match_length(&name("x1")), Some(0));
    }

    #[test]
    fn the_longest_matching_prefix_wins_and_root_comes_last() {
        use AppliedFor::*;
        let templates = vec![
            template("ROOT", &[CreateOnPush]),
            template("prod", &[CreateOnPush]),
            template("prod/team", &[CreateOnPush, Replication]),
            template("prod/team/x", &[Replication]),
        ];
        let pick =
            |n: &str, case| choose_template(&templates, &name(n), case).map(|t| t.prefix.as_str());
        assert_eq!(pick("prod/team/x/app", CreateOnPush), Some("prod/team"));
        assert_eq!(pick("prod/team/x/app", Replication), Some("prod/team/x"));
        assert_eq!(pick("prod/other", CreateOnPush), Some("prod"));
        assert_eq!(pick("dev/app", CreateOnPush), Some("ROOT"));
        assert_eq!(pick("dev/app", Replication), None);
        assert_eq!(pick("prod/app", PullThroughCache), None);
    }
}
