//! Every worked example of AWS's "Examples of lifecycle policies in Amazon ECR"
//! page, with the outcome the page gives, and the rules its examples do not show.

use chrono::{DateTime, Duration, Utc};

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

/// An image pushed `days` days (and `minutes` minutes) ago, named by letter.
fn image(tags: &[&str], days: i64, minutes: i64) -> Candidate {
    Candidate {
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        pushed_at: now() - Duration::days(days) - Duration::minutes(minutes),
        last_pulled_at: None,
        storage_class: StorageClass::Standard,
        last_archived_at: None,
        last_activated_at: None,
        listed_by: Vec::new(),
    }
}

fn policy(rules: &str) -> LifecyclePolicy {
    let text = format!(r#"{{"rules": [{rules}]}}"#);
    match LifecyclePolicy::parse(&text) {
        Ok(p) => p,
        Err(e) => panic!("{e:?}: {text}"),
    }
}

fn rule(priority: u32, selection: &str) -> String {
    format!(
        r#"{{"rulePriority": {priority}, "selection": {{{selection}}}, "action": {{"type": "expire"}}}}"#
    )
}

/// The letters (A = the first image) of the images acted on, in order.
fn expired(policy: &LifecyclePolicy, images: &[Candidate]) -> String {
    evaluate(policy, images, now())
        .iter()
        .map(|d| char::from(b'A' + d.image as u8))
        .collect()
}

#[test]
fn filtering_on_image_age() {
    let p = policy(&rule(
        1,
        r#""tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14"#,
    ));
    let images = [
        image(&["prod-1"], 15, 0),
        image(&["prod-2"], 13, 0),
        image(&["dev-1"], 20, 0),
        image(&[], 20, 0),
    ];
    assert_eq!(expired(&p, &images), "A");
}

#[test]
fn filtering_on_image_count() {
    let p = policy(&rule(
        1,
        r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
    ));
    let images = [
        image(&[], 3, 0),
        image(&[], 2, 0),
        image(&["v1"], 5, 0),
        image(&[], 1, 0),
    ];
    assert_eq!(expired(&p, &images), "AB");
}

const PROD_KEEP_ONE: &str = r#""tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1"#;
const BETA_KEEP_ONE: &str = r#""tagStatus": "tagged", "tagPrefixList": ["beta"], "countType": "imageCountMoreThan", "countNumber": 1"#;

fn multiple_rules_repository() -> [Candidate; 3] {
    [
        image(&["beta-1", "prod-1"], 10, 0),
        image(&["beta-2", "prod-2"], 9, 0),
        image(&["beta-3"], 8, 0),
    ]
}

#[test]
fn multiple_rules_example_a() {
    // Rule 2 would mark A and B; A went to rule 1, and B matched rule 1's tags.
    let p = policy(&format!(
        "{}, {}",
        rule(1, PROD_KEEP_ONE),
        rule(2, BETA_KEEP_ONE)
    ));
    let decisions = evaluate(&p, &multiple_rules_repository(), now());
    assert_eq!(
        decisions,
        [Decision {
            image: 0,
            action: Action::Expire,
            rule: 1
        }]
    );
}

#[test]
fn multiple_rules_example_b() {
    let p = policy(&format!(
        "{}, {}",
        rule(1, BETA_KEEP_ONE),
        rule(2, PROD_KEEP_ONE)
    ));
    assert_eq!(expired(&p, &multiple_rules_repository()), "AB");
}

#[test]
fn multiple_tags_example_a() {
    let p = policy(&rule(
        1,
        r#""tagStatus": "tagged", "tagPrefixList": ["alpha", "beta"], "countType": "sinceImagePushed", "countNumber": 5, "countUnit": "days""#,
    ));
    let images = [
        image(&["alpha-1"], 12, 0),
        image(&["beta-1"], 11, 0),
        image(&["alpha-2", "beta-2"], 10, 0),
        image(&["alpha-3"], 4, 0),
        image(&["beta-3"], 3, 0),
        image(&["alpha-4", "beta-4"], 2, 0),
    ];
    assert_eq!(expired(&p, &images), "C");
}

#[test]
fn multiple_tags_example_b() {
    let p = policy(&rule(
        1,
        r#""tagStatus": "tagged", "tagPrefixList": ["alpha", "beta"], "countType": "imageCountMoreThan", "countNumber": 1"#,
    ));
    let images = [
        image(&["alpha-1", "beta-1", "gamma-1"], 10, 0),
        image(&["alpha-2", "beta-2"], 9, 0),
        image(&["alpha-3", "beta-3", "gamma-2"], 8, 0),
    ];
    assert_eq!(expired(&p, &images), "AB");
}

#[test]
fn all_images_example_a() {
    let p = policy(&rule(
        1,
        r#""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1"#,
    ));
    let images = [
        image(&["alpha-1"], 4, 0),
        image(&["beta-1"], 3, 0),
        image(&[], 2, 0),
        image(&["alpha-2"], 1, 0),
    ];
    assert_eq!(expired(&p, &images), "ABC");
}

#[test]
fn all_images_example_b() {
    // Rule 3 keeps E and would mark A to D, but only D was identified by no earlier
    // rule. D and E were both pushed "1 day ago"; E is the newer.
    let p = policy(&format!(
        "{}, {}, {}",
        rule(
            1,
            r#""tagStatus": "tagged", "tagPrefixList": ["alpha"], "countType": "imageCountMoreThan", "countNumber": 1"#
        ),
        rule(
            2,
            r#""tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1"#
        ),
        rule(
            3,
            r#""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1"#
        ),
    ));
    let images = [
        image(&["alpha-1", "beta-1"], 4, 0),
        image(&[], 3, 0),
        image(&["alpha-2"], 2, 0),
        image(&["git hash"], 1, 0),
        image(&[], 0, 23 * 60),
    ];
    let decisions = evaluate(&p, &images, now());
    let by_rule: Vec<(usize, u32)> = decisions.iter().map(|d| (d.image, d.rule)).collect();
    assert_eq!(by_rule, [(0, 1), (1, 2), (3, 3)]);
}

#[test]
fn tag_patterns_must_all_match_some_tag() {
    let p = policy(&rule(
        1,
        r#""tagStatus": "tagged", "tagPatternList": ["*prod*", "v*.*"], "countType": "imageCountMoreThan", "countNumber": 1"#,
    ));
    let images = [
        image(&["repo-production", "v1.0"], 5, 0),
        image(&["prod-team"], 4, 0),
        image(&["v2.0", "xprodx"], 3, 0),
    ];
    // A and C match both patterns; C is newer and kept.
    assert_eq!(expired(&p, &images), "A");
}

#[test]
fn pulls_count_from_the_last_pull_then_restoration_then_push() {
    let p = policy(
        r#"{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 30}, "action": {"type": "transition", "targetStorageClass": "archive"}}"#,
    );
    let mut recently_pulled = image(&["a"], 60, 0);
    recently_pulled.last_pulled_at = Some(now() - Duration::days(5));
    let never_pulled = image(&["b"], 60, 0);
    let mut restored_not_pulled = image(&["c"], 120, 0);
    restored_not_pulled.last_pulled_at = Some(now() - Duration::days(90));
    restored_not_pulled.last_activated_at = Some(now() - Duration::days(60));
    let mut restored_recently = image(&["d"], 120, 0);
    restored_recently.last_pulled_at = Some(now() - Duration::days(90));
    restored_recently.last_activated_at = Some(now() - Duration::days(2));
    let images = [
        recently_pulled,
        never_pulled,
        restored_not_pulled,
        restored_recently,
    ];
    let decisions = evaluate(&p, &images, now());
    assert!(decisions.iter().all(|d| d.action == Action::Transition));
    assert_eq!(expired(&p, &images), "BC");
}

#[test]
fn archived_images_expire_by_their_archival_time_only() {
    let p = policy(
        r#"{"rulePriority": 1, "selection": {"tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 90}, "action": {"type": "expire"}}"#,
    );
    let mut archived_long_ago = image(&["a"], 1, 0);
    archived_long_ago.storage_class = StorageClass::Archive;
    archived_long_ago.last_archived_at = Some(now() - Duration::days(91));
    let mut archived_lately = image(&["b"], 400, 0);
    archived_lately.storage_class = StorageClass::Archive;
    archived_lately.last_archived_at = Some(now() - Duration::days(10));
    let old_standard = image(&["c"], 400, 0);
    assert_eq!(
        expired(&p, &[archived_long_ago, archived_lately, old_standard]),
        "A"
    );
}

#[test]
fn standard_rules_leave_archived_images_alone() {
    let p = policy(&rule(
        1,
        r#""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1"#,
    ));
    let mut archived = image(&["a"], 5, 0);
    archived.storage_class = StorageClass::Archive;
    let images = [archived, image(&["b"], 10, 0), image(&["c"], 0, 1)];
    assert_eq!(expired(&p, &images), "B");
}

#[test]
fn an_image_an_index_lists_goes_only_with_the_index() {
    let p = policy(&rule(
        1,
        r#""tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1"#,
    ));
    // A is listed by C (kept: tagged), B by D (expired too).
    let mut a = image(&[], 5, 0);
    a.listed_by = vec![2];
    let mut b = image(&[], 5, 0);
    b.listed_by = vec![3];
    let images = [a, b, image(&["multi"], 5, 0), image(&[], 5, 0)];
    assert_eq!(expired(&p, &images), "BD");
}

#[test]
fn ages_are_strictly_more_than_the_count() {
    let p = policy(&rule(
        1,
        r#""tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1"#,
    ));
    assert_eq!(expired(&p, &[image(&[], 1, 0), image(&[], 1, 1)]), "B");
}
