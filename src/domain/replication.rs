//! Private image replication: a registry's rules (which repositories are copied where)
//! and the state of one copy. ECR's limits live here; the model checks the shapes.

use std::fmt;

use super::{Region, Registry, RegistryId, RepositoryName};

/// The most rules a configuration holds, and distinct destinations across them.
pub const MAX_RULES: usize = 10;
pub const MAX_DESTINATIONS: usize = 25;

/// A registry's replication configuration; no rules: nothing is replicated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicationConfiguration {
    pub rules: Vec<ReplicationRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationRule {
    pub destinations: Vec<Destination>,
    /// Name prefixes (`PREFIX_MATCH`, the one filter type); none: every repository.
    pub filters: Vec<String>,
}

/// A private registry images are copied to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub region: Region,
    pub account: RegistryId,
}

impl Destination {
    pub fn registry(&self) -> Registry {
        Registry::private(self.account.clone(), self.region.clone())
    }
}

/// What makes a configuration one ECR refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicationProblem {
    #[error("a replication configuration may hold at most {MAX_RULES} rules")]
    TooManyRules,
    #[error(
        "a replication configuration may name at most {MAX_DESTINATIONS} distinct destinations"
    )]
    TooManyDestinations,
    /// A destination that is the source registry itself (its own account and region).
    #[error("replication destination {region}/{account} is the source registry")]
    SourceAsDestination { region: Region, account: RegistryId },
}

impl ReplicationConfiguration {
    /// The configuration as `source` may hold it, or the first problem.
    pub fn check(&self, source: &Registry) -> Result<(), ReplicationProblem> {
        if self.rules.len() > MAX_RULES {
            return Err(ReplicationProblem::TooManyRules);
        }
        if let Some(d) = self.all_destinations().find(|d| &d.registry() == source) {
            return Err(ReplicationProblem::SourceAsDestination {
                region: d.region.clone(),
                account: d.account.clone(),
            });
        }
        if distinct(self.all_destinations()).len() > MAX_DESTINATIONS {
            return Err(ReplicationProblem::TooManyDestinations);
        }
        Ok(())
    }

    fn all_destinations(&self) -> impl Iterator<Item = &Destination> {
        self.rules.iter().flat_map(|r| r.destinations.iter())
    }

    /// Where a push to repository `name` is copied: every destination of every rule
    /// that matches it, each once, in configuration order.
    pub fn destinations_for(&self, name: &RepositoryName) -> Vec<Destination> {
        distinct(
            self.rules
                .iter()
                .filter(|r| r.matches(name))
                .flat_map(|r| r.destinations.iter()),
        )
    }
}

impl ReplicationRule {
    /// No filters match every repository; otherwise a name starting with one.
    pub fn matches(&self, name: &RepositoryName) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.as_str().starts_with(f))
    }
}

fn distinct<'a>(all: impl Iterator<Item = &'a Destination>) -> Vec<Destination> {
    let mut out: Vec<Destination> = Vec::new();
    for d in all {
        if !out.contains(d) {
            out.push(d.clone());
        }
    }
    out
}

/// Where one copy of an image to one destination stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationStatus {
    InProgress,
    Complete,
    Failed,
}

impl ReplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationStatus::InProgress => "IN_PROGRESS",
            ReplicationStatus::Complete => "COMPLETE",
            ReplicationStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::InProgress, Self::Complete, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why a copy failed for good: the `failureCode` DescribeImageReplicationStatus shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationFailure {
    /// The destination's registry policy does not let the source account replicate
    /// (or create the repository).
    AccessDenied,
    /// The destination holds the tag, immutable, on another image.
    TagImmutable,
    /// The image or one of its blobs left the source before it was copied.
    SourceImageGone,
    /// The destination's manifest checks refused the image.
    ImageRejected,
    /// Retries ran out on a fault.
    Internal,
}

impl ReplicationFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationFailure::AccessDenied => "ACCESS_DENIED",
            ReplicationFailure::TagImmutable => "IMAGE_TAG_IMMUTABLE",
            ReplicationFailure::SourceImageGone => "SOURCE_IMAGE_NOT_FOUND",
            ReplicationFailure::ImageRejected => "IMAGE_REJECTED",
            ReplicationFailure::Internal => "INTERNAL_ERROR",
        }
    }
}

impl fmt::Display for ReplicationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(account: &str, region: &str) -> Destination {
        Destination {
            region: Region::parse(region).unwrap(),
            account: RegistryId::parse(account).unwrap(),
        }
    }

    fn source() -> Registry {
        dest("111122223333", "us-east-1").registry()
    }

    fn rule(destinations: Vec<Destination>, filters: &[&str]) -> ReplicationRule {
        ReplicationRule {
            destinations,
            filters: filters.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn source_is_refused_as_destination() {
        let config = ReplicationConfiguration {
            rules: vec![rule(vec![dest("111122223333", "us-east-1")], &[])],
        };
        assert!(matches!(
            config.check(&source()),
            Err(ReplicationProblem::SourceAsDestination { .. })
        ));
        let other_region = ReplicationConfiguration {
            rules: vec![rule(vec![dest("111122223333", "us-west-2")], &[])],
        };
        assert_eq!(other_region.check(&source()), Ok(()));
    }

    #[test]
    fn limits() {
        let many: Vec<_> = (0..26)
            .map(|i| dest(&format!("{:012}", 200 + i), "us-west-2"))
            .collect();
        let config = ReplicationConfiguration {
            rules: vec![
                rule(many[..13].to_vec(), &[]),
                rule(many[13..].to_vec(), &[]),
            ],
        };
        assert_eq!(
            config.check(&source()),
            Err(ReplicationProblem::TooManyDestinations)
        );
        // The same destination in two rules counts once.
        let repeated = ReplicationConfiguration {
            rules: vec![
                rule(many[..25].to_vec(), &[]),
                rule(many[..25].to_vec(), &[]),
            ],
        };
        assert_eq!(repeated.check(&source()), Ok(()));
        let rules = ReplicationConfiguration {
            rules: vec![rule(vec![], &[]); 11],
        };
        assert_eq!(
            rules.check(&source()),
            Err(ReplicationProblem::TooManyRules)
        );
    }

    #[test]
    fn destinations_by_prefix() {
        let west = dest("111122223333", "us-west-2");
        let other = dest("444455556666", "eu-west-1");
        let config = ReplicationConfiguration {
            rules: vec![
                rule(vec![west.clone()], &["prod"]),
                rule(vec![other.clone(), west.clone()], &["team/", "ops"]),
            ],
        };
        let name = |n| RepositoryName::parse(n).unwrap();
        assert_eq!(
            config.destinations_for(&name("prod/app")),
            vec![west.clone()]
        );
        assert_eq!(
            config.destinations_for(&name("team/app")),
            vec![other.clone(), west.clone()]
        );
        assert!(config.destinations_for(&name("dev/app")).is_empty());
        let all = ReplicationConfiguration {
            rules: vec![rule(vec![other.clone()], &[])],
        };
        assert_eq!(all.destinations_for(&name("anything")), vec![other]);
    }
}
