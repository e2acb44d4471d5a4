//! The evaluator: which rule acts on which image, by AWS's evaluation rules.
//!
//! - Every rule identifies the images its tag status, tag filter and storage class
//!   select, and marks those its count chooses, counting over all it identified,
//!   including images lower-numbered rules identified ("rules can still identify
//!   them as if they haven't been expired").
//! - Rules apply lowest `rulePriority` first; a rule acts only on marked images no
//!   earlier rule identified, so an image is acted on by one rule or none, and an
//!   image matching an earlier rule's tags is never touched by a later one.
//! - An image an index in the repository lists is acted on only when the index goes
//!   first: expired with it, or archived when the index is archived or archiving.

use chrono::{DateTime, Duration, Utc};

use super::{Action, Count, LifecyclePolicy, Rule, StorageClass, TagFilter, TagSelection};

/// One image as the evaluator sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub tags: Vec<String>,
    pub pushed_at: DateTime<Utc>,
    pub last_pulled_at: Option<DateTime<Utc>>,
    pub storage_class: StorageClass,
    pub last_archived_at: Option<DateTime<Utc>>,
    /// When it was last restored from the archive.
    pub last_activated_at: Option<DateTime<Utc>>,
    /// The candidates (by position) that are indexes listing this image.
    pub listed_by: Vec<usize>,
}

/// A rule's action on the candidate at `image` (its position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub image: usize,
    pub action: Action,
    pub rule: u32,
}

/// The actions `policy` takes on `images` at `now`, in candidate order. Ties in push
/// time are broken by position: a later candidate counts as the newer.
pub fn evaluate(
    policy: &LifecyclePolicy,
    images: &[Candidate],
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let mut identified = vec![false; images.len()];
    let mut decided: Vec<Option<(Action, u32)>> = vec![None; images.len()];
    for rule in policy.rules() {
        let selected: Vec<usize> = (0..images.len())
            .filter(|&i| selects(rule, &images[i]))
            .collect();
        for i in marked(rule, images, &selected, now) {
            if !identified[i] {
                decided[i] = Some((rule.action, rule.priority));
            }
        }
        for i in selected {
            identified[i] = true;
        }
    }
    hold_listed(images, &mut decided);
    decided
        .into_iter()
        .enumerate()
        .filter_map(|(image, d)| {
            d.map(|(action, rule)| Decision {
                image,
                action,
                rule,
            })
        })
        .collect()
}

fn selects(rule: &Rule, image: &Candidate) -> bool {
    if image.storage_class != rule.selection.storage_class {
        return false;
    }
    match &rule.selection.tags {
        TagSelection::Any => true,
        TagSelection::Untagged => image.tags.is_empty(),
        TagSelection::Tagged(TagFilter::Prefixes(prefixes)) => {
            !image.tags.is_empty()
                && prefixes
                    .iter()
                    .all(|p| image.tags.iter().any(|t| t.starts_with(p.as_str())))
        }
        TagSelection::Tagged(TagFilter::Patterns(patterns)) => {
            !image.tags.is_empty()
                && patterns
                    .iter()
                    .all(|p| image.tags.iter().any(|t| p.matches(t)))
        }
    }
}

/// Of the `selected` images, those the rule's count chooses.
fn marked(rule: &Rule, images: &[Candidate], selected: &[usize], now: DateTime<Utc>) -> Vec<usize> {
    let older = |t: DateTime<Utc>, days: u32| now - t > Duration::days(i64::from(days));
    match rule.selection.count {
        Count::MoreThan(keep) => {
            // Newest first; a restored image counts from its restoration.
            let mut by_age = selected.to_vec();
            by_age.sort_by_key(|&i| {
                let image = &images[i];
                std::cmp::Reverse((image.last_activated_at.unwrap_or(image.pushed_at), i))
            });
            by_age.into_iter().skip(keep as usize).collect()
        }
        Count::SincePushed(days) => selected
            .iter()
            .copied()
            .filter(|&i| older(images[i].pushed_at, days))
            .collect(),
        Count::SincePulled(days) => selected
            .iter()
            .copied()
            .filter(|&i| older(last_used(&images[i]), days))
            .collect(),
        Count::SinceTransitioned(days) => selected
            .iter()
            .copied()
            .filter(|&i| images[i].last_archived_at.is_some_and(|t| older(t, days)))
            .collect(),
    }
}

/// The last pull, unless the image was restored since (then the restoration), or
/// never pulled (then the push).
fn last_used(image: &Candidate) -> DateTime<Utc> {
    match (image.last_pulled_at, image.last_activated_at) {
        (Some(pulled), Some(activated)) if activated > pulled => activated,
        (Some(pulled), _) => pulled,
        (None, Some(activated)) => activated,
        (None, None) => image.pushed_at,
    }
}

/// Drops actions on images an index still lists, until none is left: an expired
/// image needs every index listing it expired too, an archived one every such index
/// archived already or archiving.
fn hold_listed(images: &[Candidate], decided: &mut [Option<(Action, u32)>]) {
    loop {
        let mut changed = false;
        for i in 0..images.len() {
            let Some((action, _)) = decided[i] else {
                continue;
            };
            let allowed = images[i].listed_by.iter().all(|&parent| {
                match (action, decided[parent].map(|(a, _)| a)) {
                    (_, Some(Action::Expire)) => true,
                    (Action::Transition, Some(Action::Transition)) => true,
                    (Action::Transition, None) => {
                        images[parent].storage_class == StorageClass::Archive
                    }
                    _ => false,
                }
            });
            if !allowed {
                decided[i] = None;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
