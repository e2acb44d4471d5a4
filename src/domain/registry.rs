//! Which registry a repository lives in. An account has two, as on AWS: its private
//! ECR registry and its ECR Public registry. Names are unique within a registry only.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use super::{NameError, RegistryId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// ECR: `<account>.dkr.ecr.<region>.amazonaws.com/<name>`.
    Private,
    /// ECR Public: `public.ecr.aws/<alias>/<name>`.
    Public,
}

impl Namespace {
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Private => "private",
            Namespace::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(Namespace::Private),
            "public" => Some(Namespace::Public),
            _ => None,
        }
    }
}

/// One registry: an account's private or public one. Shown as its account id, which
/// is how both APIs name it in `registryId` and in messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Registry {
    pub account: RegistryId,
    pub namespace: Namespace,
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.account.fmt(f)
    }
}

static ALIAS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9]+(?:[._-][a-z0-9]+)*$").expect("static pattern"));

/// A public registry's alias, the first path component of its repositories' URIs
/// (`public.ecr.aws/<alias>/<name>`): 2 to 50 characters, ECR Public's grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryAlias(String);

impl RegistryAlias {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if (2..=50).contains(&s.len()) && ALIAS.is_match(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError(
                "Member must satisfy regular expression pattern: [a-z][a-z0-9]+(?:[._-][a-z0-9]+)* and be 2 to 50 characters".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegistryAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_the_model() {
        for good in ["berth", "a1", "my-org", "my.org_x"] {
            assert!(RegistryAlias::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "1abc", "Berth", "ab-", "a/b", &"a".repeat(51)] {
            assert!(RegistryAlias::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespaces_round_trip() {
        for ns in [Namespace::Private, Namespace::Public] {
            assert_eq!(Namespace::parse(ns.as_str()), Some(ns));
        }
        assert_eq!(Namespace::parse("Public"), None);
    }
}
