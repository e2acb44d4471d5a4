//! `lifecyclePolicyText` checked as ECR checks it (AWS's "Lifecycle policy
//! properties" and "Lifecycle policy evaluation rules"): every problem is a
//! `LifecycleProblem` naming the rule (by priority, or by position before the
//! priority is known) and what is wrong; the faces word it.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{
    Action, Count, LifecyclePolicy, Rule, Selection, StorageClass, TagFilter, TagSelection,
};
use crate::domain::WildcardFilter;

/// The most `*` a tag pattern may hold.
pub const MAX_WILDCARDS: usize = 4;

/// What is wrong with a lifecycle policy. `rule` is the rule's `rulePriority`;
/// `index` (from 0) names a rule whose priority is itself the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleProblem {
    /// Not JSON, with the parser's reason.
    NotJson(String),
    /// `path` is not of the JSON type `expected` (an object, a list, ...).
    WrongType {
        path: String,
        expected: &'static str,
    },
    /// A member ECR does not know.
    UnknownMember {
        path: String,
        member: String,
    },
    /// A required member is absent.
    Missing {
        path: String,
        member: &'static str,
    },
    /// `rules` is empty.
    NoRules,
    /// A `rulePriority` that is not an integer of at least 1.
    BadPriority {
        index: usize,
    },
    DuplicatePriority {
        rule: u32,
    },
    /// A value outside its member's enumeration.
    NotOneOf {
        rule: u32,
        member: &'static str,
        value: String,
        allowed: &'static str,
    },
    /// A `tagStatus` of `any` on a rule that is not the last.
    AnyNotLast {
        rule: u32,
    },
    /// `tagged` without `tagPrefixList` or `tagPatternList`.
    TaggedWithoutFilter {
        rule: u32,
    },
    /// `tagPrefixList` or `tagPatternList` on a rule that is not `tagged`.
    FilterWithoutTagged {
        rule: u32,
        member: &'static str,
    },
    BothFilters {
        rule: u32,
    },
    /// An empty list, or an empty entry in one.
    EmptyFilter {
        rule: u32,
        member: &'static str,
    },
    TooManyWildcards {
        rule: u32,
        pattern: String,
    },
    /// A pattern with characters a tag cannot hold.
    BadPattern {
        rule: u32,
        pattern: String,
    },
    /// Two rules on one storage class with the same tag filter.
    DuplicateFilter {
        rule: u32,
        other: u32,
    },
    /// Two rules on one storage class selecting untagged images.
    SecondUntagged {
        rule: u32,
        other: u32,
    },
    /// `countUnit` absent with a `since*` count type.
    CountUnitMissing {
        rule: u32,
        count_type: &'static str,
    },
    /// `countUnit` with `imageCountMoreThan`.
    CountUnitNotAllowed {
        rule: u32,
    },
    /// `countNumber` not an integer of at least 1.
    BadCountNumber {
        rule: u32,
    },
    /// A storage class the count type does not go with.
    StorageClassForCount {
        rule: u32,
        storage_class: &'static str,
        count_type: &'static str,
    },
    /// An action the count type does not go with.
    ActionForCount {
        rule: u32,
        action: &'static str,
        count_type: &'static str,
    },
    /// `transition` without `targetStorageClass`.
    TargetMissing {
        rule: u32,
    },
    /// `targetStorageClass` with `expire`.
    TargetWithExpire {
        rule: u32,
    },
}

type Checked<T> = Result<T, LifecycleProblem>;

const RULE_MEMBERS: [&str; 4] = ["rulePriority", "description", "selection", "action"];
const SELECTION_MEMBERS: [&str; 7] = [
    "tagStatus",
    "tagPatternList",
    "tagPrefixList",
    "storageClass",
    "countType",
    "countUnit",
    "countNumber",
];
const ACTION_MEMBERS: [&str; 2] = ["type", "targetStorageClass"];

impl LifecyclePolicy {
    pub fn parse(text: &str) -> Checked<Self> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| LifecycleProblem::NotJson(e.to_string()))?;
        let doc = object(&doc, "the policy")?;
        only(doc, "the policy", &["rules"])?;
        let rules = match doc.get("rules") {
            None => {
                return Err(LifecycleProblem::Missing {
                    path: "the policy".into(),
                    member: "rules",
                })
            }
            Some(Value::Array(rules)) => rules,
            Some(_) => {
                return Err(LifecycleProblem::WrongType {
                    path: "rules".into(),
                    expected: "a list",
                })
            }
        };
        if rules.is_empty() {
            return Err(LifecycleProblem::NoRules);
        }
        let mut parsed = Vec::with_capacity(rules.len());
        let mut priorities = HashSet::new();
        for (index, rule) in rules.iter().enumerate() {
            let rule = parse_rule(index, rule)?;
            if !priorities.insert(rule.priority) {
                return Err(LifecycleProblem::DuplicatePriority {
                    rule: rule.priority,
                });
            }
            parsed.push(rule);
        }
        parsed.sort_by_key(|r| r.priority);
        check_across(&parsed)?;
        Ok(Self {
            text: text.to_owned(),
            rules: parsed,
        })
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Checked<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| LifecycleProblem::WrongType {
        path: path.to_owned(),
        expected: "an object",
    })
}

fn only(o: &Map<String, Value>, path: &str, known: &[&str]) -> Checked<()> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(member) => Err(LifecycleProblem::UnknownMember {
            path: path.to_owned(),
            member: member.clone(),
        }),
        None => Ok(()),
    }
}

fn required<'a>(o: &'a Map<String, Value>, path: &str, member: &'static str) -> Checked<&'a Value> {
    o.get(member).ok_or_else(|| LifecycleProblem::Missing {
        path: path.to_owned(),
        member,
    })
}

/// An optional string member.
fn enumerated<'a>(
    o: &'a Map<String, Value>,
    path: &str,
    member: &'static str,
) -> Checked<Option<&'a str>> {
    o.get(member)
        .map(|v| string(v, format!("{path}.{member}")))
        .transpose()
}

fn string(v: &Value, path: String) -> Checked<&str> {
    v.as_str().ok_or(LifecycleProblem::WrongType {
        path,
        expected: "a string",
    })
}

/// A positive integer that fits a `u32` (JSON numbers with a fraction are not).
fn positive(v: &Value) -> Option<u32> {
    v.as_u64()
        .filter(|n| *n >= 1)
        .and_then(|n| u32::try_from(n).ok())
}

fn parse_rule(index: usize, rule: &Value) -> Checked<Rule> {
    let at = format!("rules[{index}]");
    let rule = object(rule, &at)?;
    only(rule, &at, &RULE_MEMBERS)?;
    let priority = positive(required(rule, &at, "rulePriority")?)
        .ok_or(LifecycleProblem::BadPriority { index })?;
    let description = rule
        .get("description")
        .map(|d| string(d, format!("{at}.description")).map(str::to_owned))
        .transpose()?;
    let selection_at = format!("{at}.selection");
    let selection = object(required(rule, &at, "selection")?, &selection_at)?;
    only(selection, &selection_at, &SELECTION_MEMBERS)?;
    let action_at = format!("{at}.action");
    let action = object(required(rule, &at, "action")?, &action_at)?;
    only(action, &action_at, &ACTION_MEMBERS)?;

    let not_one_of = |member, value: &str, allowed| LifecycleProblem::NotOneOf {
        rule: priority,
        member,
        value: value.to_owned(),
        allowed,
    };

    let tag_status =
        enumerated(selection, &selection_at, "tagStatus")?.ok_or(LifecycleProblem::Missing {
            path: selection_at.clone(),
            member: "tagStatus",
        })?;
    let prefixes = tag_list(priority, selection, "tagPrefixList")?;
    let patterns = tag_list(priority, selection, "tagPatternList")?;
    let tags = match tag_status {
        "tagged" => match (prefixes, patterns) {
            (Some(_), Some(_)) => return Err(LifecycleProblem::BothFilters { rule: priority }),
            (Some(p), None) => TagSelection::Tagged(TagFilter::Prefixes(p)),
            (None, Some(p)) => TagSelection::Tagged(TagFilter::Patterns(
                p.iter()
                    .map(|p| pattern(priority, p))
                    .collect::<Checked<_>>()?,
            )),
            (None, None) => return Err(LifecycleProblem::TaggedWithoutFilter { rule: priority }),
        },
        "untagged" | "any" => {
            for (list, member) in [(&prefixes, "tagPrefixList"), (&patterns, "tagPatternList")] {
                if list.is_some() {
                    return Err(LifecycleProblem::FilterWithoutTagged {
                        rule: priority,
                        member,
                    });
                }
            }
            if tag_status == "any" {
                TagSelection::Any
            } else {
                TagSelection::Untagged
            }
        }
        other => return Err(not_one_of("tagStatus", other, "tagged, untagged, any")),
    };

    let storage_class = match enumerated(selection, &selection_at, "storageClass")? {
        None | Some("standard") => StorageClass::Standard,
        Some("archive") => StorageClass::Archive,
        Some(other) => return Err(not_one_of("storageClass", other, "standard, archive")),
    };

    let count_type =
        enumerated(selection, &selection_at, "countType")?.ok_or(LifecycleProblem::Missing {
            path: selection_at.clone(),
            member: "countType",
        })?;
    let number = positive(required(selection, &selection_at, "countNumber")?)
        .ok_or(LifecycleProblem::BadCountNumber { rule: priority })?;
    let count =
        match count_type {
            "imageCountMoreThan" => Count::MoreThan(number),
            "sinceImagePushed" => Count::SincePushed(number),
            "sinceImagePulled" => Count::SincePulled(number),
            "sinceImageTransitioned" => Count::SinceTransitioned(number),
            other => return Err(not_one_of(
                "countType",
                other,
                "imageCountMoreThan, sinceImagePushed, sinceImagePulled, sinceImageTransitioned",
            )),
        };
    match (count, enumerated(selection, &selection_at, "countUnit")?) {
        (Count::MoreThan(_), Some(_)) => {
            return Err(LifecycleProblem::CountUnitNotAllowed { rule: priority })
        }
        (Count::MoreThan(_), None) | (_, Some("days")) => {}
        (_, Some(other)) => return Err(not_one_of("countUnit", other, "days")),
        (count, None) => {
            return Err(LifecycleProblem::CountUnitMissing {
                rule: priority,
                count_type: count.wire(),
            })
        }
    }
    // Archived images are chosen only by how long ago they were archived, and only
    // that count chooses them.
    let wanted = match count {
        Count::SinceTransitioned(_) => StorageClass::Archive,
        _ => StorageClass::Standard,
    };
    if storage_class != wanted {
        return Err(LifecycleProblem::StorageClassForCount {
            rule: priority,
            storage_class: match storage_class {
                StorageClass::Standard => "standard",
                StorageClass::Archive => "archive",
            },
            count_type: count.wire(),
        });
    }

    let action_type = enumerated(action, &action_at, "type")?.ok_or(LifecycleProblem::Missing {
        path: action_at.clone(),
        member: "type",
    })?;
    let target = enumerated(action, &action_at, "targetStorageClass")?;
    let action = match action_type {
        "expire" if target.is_some() => {
            return Err(LifecycleProblem::TargetWithExpire { rule: priority })
        }
        "expire" => Action::Expire,
        "transition" => match target {
            Some("archive") => Action::Transition,
            Some(other) => return Err(not_one_of("targetStorageClass", other, "archive")),
            None => return Err(LifecycleProblem::TargetMissing { rule: priority }),
        },
        other => return Err(not_one_of("action.type", other, "expire, transition")),
    };
    // Pull times only archive (an image unused for long is kept, cheaper); archived
    // images only expire.
    let misfit = match (count, action) {
        (Count::SincePulled(_), Action::Expire) => Some("expire"),
        (Count::SinceTransitioned(_), Action::Transition) => Some("transition"),
        _ => None,
    };
    if let Some(action) = misfit {
        return Err(LifecycleProblem::ActionForCount {
            rule: priority,
            action,
            count_type: count.wire(),
        });
    }

    Ok(Rule {
        priority,
        description,
        selection: Selection {
            tags,
            storage_class,
            count,
        },
        action,
    })
}

/// `tagPrefixList` or `tagPatternList`: a non-empty list of non-empty strings.
fn tag_list(
    rule: u32,
    selection: &Map<String, Value>,
    member: &'static str,
) -> Checked<Option<Vec<String>>> {
    let Some(list) = selection.get(member) else {
        return Ok(None);
    };
    let empty = LifecycleProblem::EmptyFilter { rule, member };
    let Value::Array(items) = list else {
        return Err(LifecycleProblem::WrongType {
            path: format!("rule {rule}'s {member}"),
            expected: "a list of strings",
        });
    };
    if items.is_empty() {
        return Err(empty);
    }
    items
        .iter()
        .map(|item| match item.as_str() {
            Some("") => Err(empty.clone()),
            Some(s) => Ok(s.to_owned()),
            None => Err(LifecycleProblem::WrongType {
                path: format!("rule {rule}'s {member}"),
                expected: "a list of strings",
            }),
        })
        .collect::<Checked<_>>()
        .map(Some)
}

fn pattern(rule: u32, p: &str) -> Checked<WildcardFilter> {
    if p.matches('*').count() > MAX_WILDCARDS {
        return Err(LifecycleProblem::TooManyWildcards {
            rule,
            pattern: p.to_owned(),
        });
    }
    WildcardFilter::parse(p).map_err(|_| LifecycleProblem::BadPattern {
        rule,
        pattern: p.to_owned(),
    })
}

/// The checks across rules, on rules in priority order.
fn check_across(rules: &[Rule]) -> Checked<()> {
    let before_last = &rules[..rules.len().saturating_sub(1)];
    if let Some(any) = before_last
        .iter()
        .find(|r| r.selection.tags == TagSelection::Any)
    {
        return Err(LifecycleProblem::AnyNotLast { rule: any.priority });
    }
    for (i, rule) in rules.iter().enumerate() {
        for earlier in &rules[..i] {
            if earlier.selection.storage_class != rule.selection.storage_class {
                continue;
            }
            match (&earlier.selection.tags, &rule.selection.tags) {
                (TagSelection::Untagged, TagSelection::Untagged) => {
                    return Err(LifecycleProblem::SecondUntagged {
                        rule: rule.priority,
                        other: earlier.priority,
                    })
                }
                (TagSelection::Tagged(a), TagSelection::Tagged(b)) if same_filter(a, b) => {
                    return Err(LifecycleProblem::DuplicateFilter {
                        rule: rule.priority,
                        other: earlier.priority,
                    })
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Whether two filters select by the same set of prefixes (or of patterns).
fn same_filter(a: &TagFilter, b: &TagFilter) -> bool {
    fn set<'a>(items: impl Iterator<Item = &'a str>) -> HashSet<&'a str> {
        items.collect()
    }
    match (a, b) {
        (TagFilter::Prefixes(a), TagFilter::Prefixes(b)) => {
            set(a.iter().map(String::as_str)) == set(b.iter().map(String::as_str))
        }
        (TagFilter::Patterns(a), TagFilter::Patterns(b)) => {
            set(a.iter().map(WildcardFilter::as_str)) == set(b.iter().map(WildcardFilter::as_str))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_policy_keeps_its_text_and_orders_its_rules() {
        let text = r#"{"rules": [
            {"rulePriority": 10, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}},
            {"rulePriority": 2, "description": "old pulls", "selection": {"tagStatus": "tagged", "tagPatternList": ["*prod*"], "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 30}, "action": {"type": "transition", "targetStorageClass": "archive"}},
            {"rulePriority": 3, "selection": {"tagStatus": "tagged", "tagPatternList": ["*prod*"], "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 90}, "action": {"type": "expire"}}
        ]}"#;
        let policy = LifecyclePolicy::parse(text).expect("valid");
        assert_eq!(policy.as_str(), text);
        let priorities: Vec<u32> = policy.rules().iter().map(|r| r.priority).collect();
        assert_eq!(priorities, [2, 3, 10]);
        assert_eq!(policy.rules()[0].action, Action::Transition);
        assert_eq!(policy.rules()[0].description.as_deref(), Some("old pulls"));
        assert_eq!(
            policy.rules()[1].selection.storage_class,
            StorageClass::Archive
        );
        assert_eq!(policy.rules()[2].selection.count, Count::MoreThan(5));
    }

    #[test]
    fn the_any_rule_may_not_come_before_another() {
        let text = r#"{"rules": [
            {"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}},
            {"rulePriority": 2, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}
        ]}"#;
        assert_eq!(
            LifecyclePolicy::parse(text),
            Err(LifecycleProblem::AnyNotLast { rule: 1 })
        );
    }
}
