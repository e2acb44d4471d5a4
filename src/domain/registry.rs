//! Which registry a repository lives in. An account has two, as on AWS: its private
//! ECR registry and its ECR Public registry. Names are unique within a registry only.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use super::{NameError, Region, RegistryId};

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

/// One registry: an account's private registry in a region, or its public one (which is
/// global, and lives in `Region::public_home`). Shown as its account id, which is how
/// both APIs name it in `registryId` and in messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Registry {
    pub account: RegistryId,
    pub region: Region,
    pub namespace: Namespace,
}

impl Registry {
    pub fn private(account: RegistryId, region: Region) -> Self {
        Self {
            account,
            region,
            namespace: Namespace::Private,
        }
    }

    pub fn public(account: RegistryId) -> Self {
        Self {
            account,
            region: Region::public_home(),
            namespace: Namespace::Public,
        }
    }

    /// The registry `namespace` names for an account in a region: the public one is
    /// the same in every region.
    pub fn of(account: RegistryId, region: Region, namespace: Namespace) -> Self {
        match namespace {
            Namespace::Private => Self::private(account, region),
            Namespace::Public => Self::public(account),
        }
    }

    /// The ARN a resource policy names the registry by, for actions on the registry
    /// itself: `arn:aws:ecr:<region>:<account>:registry/<account>` (ECR Public's has no
    /// region).
    pub fn arn(&self) -> String {
        self.resource_arn(&format!("registry/{}", self.account))
    }

    /// `arn:aws:ecr:<region>:<account>:<resource>`, or for the public registry
    /// `arn:aws:ecr-public::<account>:<resource>`.
    pub fn resource_arn(&self, resource: &str) -> String {
        match self.namespace {
            Namespace::Private => {
                format!("arn:aws:ecr:{}:{}:{resource}", self.region, self.account)
            }
            Namespace::Public => format!("arn:aws:ecr-public::{}:{resource}", self.account),
        }
    }
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
