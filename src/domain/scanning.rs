//! Image scanning: a registry's scanning configuration (its scan type and rules), what
//! it makes of one repository, and where an image's scan stands. The model checks the
//! shapes (the filters' pattern, at most 2 rules of at most 100 filters).
//!
//! Filters follow AWS's scanning filters, which differ from the other wildcard filters:
//! a filter without `*` matches every name that contains it; one with `*` matches the
//! whole name, each `*` standing for any run of characters.

use std::fmt;

use super::mutability::wildcard_match;
use super::RepositoryName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScanType {
    /// OS packages, scanned on push or on request.
    #[default]
    Basic,
    /// OS and language packages, scanned on push or continuously (rescanned when the
    /// vulnerability database changes); never on request.
    Enhanced,
}

impl ScanType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanType::Basic => "BASIC",
            ScanType::Enhanced => "ENHANCED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Basic, Self::Enhanced]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFrequency {
    ScanOnPush,
    ContinuousScan,
    Manual,
}

impl ScanFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanFrequency::ScanOnPush => "SCAN_ON_PUSH",
            ScanFrequency::ContinuousScan => "CONTINUOUS_SCAN",
            ScanFrequency::Manual => "MANUAL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::ScanOnPush, Self::ContinuousScan, Self::Manual]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanningRule {
    pub frequency: ScanFrequency,
    /// Scanning filters (see the module's note); none: the rule matches nothing.
    pub filters: Vec<String>,
}

impl ScanningRule {
    /// The rule's filters that match `name`.
    fn matching(&self, name: &RepositoryName) -> Vec<String> {
        self.filters
            .iter()
            .filter(|f| filter_matches(f, name.as_str()))
            .cloned()
            .collect()
    }
}

/// Whether a scanning filter matches a repository name.
pub fn filter_matches(filter: &str, name: &str) -> bool {
    if filter.contains('*') {
        wildcard_match(filter, name)
    } else {
        name.contains(filter)
    }
}

/// A registry's scanning configuration; the default (none put) is BASIC with no rules:
/// only repositories with `scanOnPush` are scanned on push.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanningConfiguration {
    pub scan_type: ScanType,
    pub rules: Vec<ScanningRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanningProblem {
    #[error("scan frequency CONTINUOUS_SCAN needs scan type ENHANCED")]
    ContinuousWithBasic,
    #[error("scan frequency {0} is given by more than one rule")]
    RepeatedFrequency(&'static str),
}

/// What a registry's configuration makes of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedScanning {
    pub scan_type: ScanType,
    pub frequency: ScanFrequency,
    /// The filters that gave the frequency (none when it is the repository's own
    /// `scanOnPush`, or the MANUAL default).
    pub filters: Vec<String>,
}

impl AppliedScanning {
    /// The scan a push queues: on push or continuous; none under MANUAL.
    pub fn on_push(&self) -> Option<ScanType> {
        match self.frequency {
            ScanFrequency::ScanOnPush | ScanFrequency::ContinuousScan => Some(self.scan_type),
            ScanFrequency::Manual => None,
        }
    }
}

impl ScanningConfiguration {
    /// Checks what the model cannot: BASIC has no continuous scanning, and each
    /// frequency has one rule.
    pub fn new(
        scan_type: ScanType,
        rules: Vec<ScanningRule>,
    ) -> Result<ScanningConfiguration, ScanningProblem> {
        for (i, rule) in rules.iter().enumerate() {
            if scan_type == ScanType::Basic && rule.frequency == ScanFrequency::ContinuousScan {
                return Err(ScanningProblem::ContinuousWithBasic);
            }
            if rules[..i].iter().any(|r| r.frequency == rule.frequency) {
                return Err(ScanningProblem::RepeatedFrequency(rule.frequency.as_str()));
            }
        }
        Ok(ScanningConfiguration { scan_type, rules })
    }

    /// The frequency of repository `name`, whose own `scanOnPush` is `scan_on_push`.
    /// Continuous scanning wins over scan on push, which wins over a MANUAL rule. Under
    /// BASIC a repository no rule scans on push still does when its own flag says so;
    /// under ENHANCED a repository no rule matches is not scanned (MANUAL, and manual
    /// scans are BASIC's only).
    pub fn applied(&self, name: &RepositoryName, scan_on_push: bool) -> AppliedScanning {
        let rule_match = |frequency| {
            self.rules
                .iter()
                .filter(|r| r.frequency == frequency)
                .map(|r| r.matching(name))
                .find(|filters| !filters.is_empty())
        };
        let applied = |frequency, filters| AppliedScanning {
            scan_type: self.scan_type,
            frequency,
            filters,
        };
        for frequency in [ScanFrequency::ContinuousScan, ScanFrequency::ScanOnPush] {
            if let Some(filters) = rule_match(frequency) {
                return applied(frequency, filters);
            }
        }
        if self.scan_type == ScanType::Basic && scan_on_push {
            return applied(ScanFrequency::ScanOnPush, Vec::new());
        }
        applied(
            ScanFrequency::Manual,
            rule_match(ScanFrequency::Manual).unwrap_or_default(),
        )
    }
}

/// Where an image's scan stands, in ECR's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanStatus {
    /// A BASIC scan is queued or running.
    InProgress,
    /// An ENHANCED scan is queued or running.
    Pending,
    /// Scanned; the findings are final (BASIC, or ENHANCED on push).
    Complete,
    /// Scanned and watched: rescanned when the vulnerability database changes.
    Active,
    Failed,
    /// Not an image a scan can read (an index, an artifact such as a signature).
    UnsupportedImage,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::InProgress => "IN_PROGRESS",
            ScanStatus::Pending => "PENDING",
            ScanStatus::Complete => "COMPLETE",
            ScanStatus::Active => "ACTIVE",
            ScanStatus::Failed => "FAILED",
            ScanStatus::UnsupportedImage => "UNSUPPORTED_IMAGE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::InProgress,
            Self::Pending,
            Self::Complete,
            Self::Active,
            Self::Failed,
            Self::UnsupportedImage,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// The status of a scan of `scan_type` that is queued or running.
    pub fn queued(scan_type: ScanType) -> Self {
        match scan_type {
            ScanType::Basic => ScanStatus::InProgress,
            ScanType::Enhanced => ScanStatus::Pending,
        }
    }
}

impl fmt::Display for ScanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> RepositoryName {
        RepositoryName::parse(n).unwrap()
    }

    fn rule(frequency: ScanFrequency, filters: &[&str]) -> ScanningRule {
        ScanningRule {
            frequency,
            filters: filters.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    /// The table in AWS's "Filters to choose which repositories are scanned".
    #[test]
    fn filters_as_aws_documents_them() {
        let names = [
            "prod",
            "repo-prod",
            "prod-repo",
            "repo-prod-repo",
            "prodrepo",
        ];
        let table: [(&str, [bool; 5]); 5] = [
            ("prod", [true, true, true, true, true]),
            ("*prod", [true, true, false, false, false]),
            ("prod*", [true, false, true, false, true]),
            ("*prod*", [true, true, true, true, true]),
            ("prod*repo", [false, false, true, false, true]),
        ];
        for (filter, expected) in table {
            for (n, want) in names.iter().zip(expected) {
                assert_eq!(filter_matches(filter, n), want, "{filter} on {n}");
            }
        }
    }

    #[test]
    fn frequencies_by_precedence() {
        let config = ScanningConfiguration::new(
            ScanType::Enhanced,
            vec![
                rule(ScanFrequency::ScanOnPush, &["web", "api*"]),
                rule(ScanFrequency::ContinuousScan, &["prod/*"]),
            ],
        )
        .unwrap();
        let applied = config.applied(&name("prod/web"), false);
        assert_eq!(applied.frequency, ScanFrequency::ContinuousScan);
        assert_eq!(applied.filters, vec!["prod/*".to_owned()]);
        assert_eq!(applied.on_push(), Some(ScanType::Enhanced));
        let applied = config.applied(&name("dev/web"), false);
        assert_eq!(applied.frequency, ScanFrequency::ScanOnPush);
        assert_eq!(applied.filters, vec!["web".to_owned()]);
        // Under ENHANCED the repository's own flag does not scan.
        let applied = config.applied(&name("dev/db"), true);
        assert_eq!(applied.frequency, ScanFrequency::Manual);
        assert_eq!(applied.on_push(), None);
    }

    #[test]
    fn basic_keeps_the_repository_flag() {
        let none = ScanningConfiguration::default();
        assert_eq!(
            none.applied(&name("a/b"), true).frequency,
            ScanFrequency::ScanOnPush
        );
        assert_eq!(none.applied(&name("a/b"), false).on_push(), None);
        let config = ScanningConfiguration::new(
            ScanType::Basic,
            vec![rule(ScanFrequency::ScanOnPush, &["*"])],
        )
        .unwrap();
        let applied = config.applied(&name("a/b"), false);
        assert_eq!(applied.on_push(), Some(ScanType::Basic));
        assert_eq!(
            (applied.frequency, applied.filters),
            (ScanFrequency::ScanOnPush, vec!["*".to_owned()])
        );
    }

    #[test]
    fn rules_the_model_cannot_check() {
        assert_eq!(
            ScanningConfiguration::new(
                ScanType::Basic,
                vec![rule(ScanFrequency::ContinuousScan, &["*"])]
            ),
            Err(ScanningProblem::ContinuousWithBasic)
        );
        assert_eq!(
            ScanningConfiguration::new(
                ScanType::Enhanced,
                vec![
                    rule(ScanFrequency::ScanOnPush, &["a"]),
                    rule(ScanFrequency::ScanOnPush, &["b"])
                ]
            ),
            Err(ScanningProblem::RepeatedFrequency("SCAN_ON_PUSH"))
        );
    }
}
