//! Lifecycle policies: the rules ECR applies to a repository's images, parsed and
//! checked as ECR checks them (`parse.rs`), and the evaluator that decides what each
//! rule does to which image (`evaluate.rs`). No I/O.

mod evaluate;
mod parse;

use chrono::{DateTime, Utc};

pub use super::StorageClass;
use super::{Digest, ImageTag, WildcardFilter};

pub use evaluate::{evaluate, Candidate, Decision};
pub use parse::{LifecycleProblem, MAX_WILDCARDS};

/// A lifecycle policy that passed every check, with the text it was given as (kept
/// byte for byte: clients compare the text they put with the text they get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePolicy {
    text: String,
    /// In priority order, lowest `rulePriority` first.
    rules: Vec<Rule>,
}

impl LifecyclePolicy {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub priority: u32,
    pub description: Option<String>,
    pub selection: Selection,
    pub action: Action,
}

/// Which images a rule identifies, and which of those it acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub tags: TagSelection,
    pub storage_class: StorageClass,
    pub count: Count,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSelection {
    /// Images with tags matching every entry of the filter.
    Tagged(TagFilter),
    Untagged,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// Each prefix must start one of the image's tags.
    Prefixes(Vec<String>),
    /// Each pattern (`*` matches any run of characters) must match one of its tags.
    Patterns(Vec<WildcardFilter>),
}

/// What makes an identified image one the rule acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// All but the newest `n` (by push time).
    MoreThan(u32),
    /// Pushed more than `n` days ago.
    SincePushed(u32),
    /// Last pulled (else activated, else pushed) more than `n` days ago.
    SincePulled(u32),
    /// Archived more than `n` days ago.
    SinceTransitioned(u32),
}

impl Count {
    pub fn wire(self) -> &'static str {
        match self {
            Count::MoreThan(_) => "imageCountMoreThan",
            Count::SincePushed(_) => "sinceImagePushed",
            Count::SincePulled(_) => "sinceImagePulled",
            Count::SinceTransitioned(_) => "sinceImageTransitioned",
        }
    }
}

/// What a rule does to the images it acts on. A transition always goes to the
/// archive storage class, the only target there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Expire,
    Transition,
}

/// One image a preview says a rule acts on, as it stood when the preview ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewResult {
    pub digest: Digest,
    pub tags: Vec<ImageTag>,
    pub pushed_at: DateTime<Utc>,
    pub action: Action,
    pub rule_priority: u32,
    pub storage_class: StorageClass,
}

/// Where a preview stands. berth evaluates a preview as it is started, so a stored
/// preview is always complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewStatus {
    Complete,
}
