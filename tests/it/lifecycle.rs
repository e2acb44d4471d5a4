//! Lifecycle policies through aws-sdk-ecr: validation, put/get/delete, previews, and
//! runs (from the service as the schedule runs them, and from `berth lifecycle run`).
//! The evaluator's worked examples with explicit push times are unit tests
//! (src/domain/lifecycle/evaluate/tests.rs); here pushes are "now", so the cases
//! count images and match tags.

use std::collections::BTreeSet;

use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::types::{
    ImageActionType, LifecyclePolicyPreviewFilter, LifecyclePolicyPreviewStatus, TagStatus,
};

use crate::both_stores;
use crate::fixtures::{assert_code, batch_get_image, by_digest, by_tag, Format, Image, Manifest};
use crate::helpers::TestApp;

/// A policy of the given rules (JSON objects), padded to the 100 characters the
/// model asks of a policy text.
fn policy(rules: &[String]) -> String {
    format!("{:<100}", format!(r#"{{"rules": [{}]}}"#, rules.join(", ")))
}

/// An expire rule selecting `selection` (the members inside `selection`).
fn expire(priority: u32, selection: &str) -> String {
    format!(
        r#"{{"rulePriority": {priority}, "selection": {{{selection}}}, "action": {{"type": "expire"}}}}"#
    )
}

fn keep_untagged(n: u32) -> String {
    expire(
        1,
        &format!(
            r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": {n}"#
        ),
    )
}

async fn put_policy(app: &TestApp, repo: &str, text: &str) {
    app.ecr
        .put_lifecycle_policy()
        .repository_name(repo)
        .lifecycle_policy_text(text)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put lifecycle policy: {e:?}"));
}

/// Pushes a fresh image under each of `tags` (none: untagged); returns its digest.
async fn push(app: &TestApp, repo: &str, tags: &[&str]) -> String {
    let (manifest, digest) = app.push_image(repo, tags.first().copied(), 1).await;
    for tag in tags.iter().skip(1) {
        app.put_ok(repo, &manifest, Some(tag)).await;
    }
    digest
}

/// Whether the image is still in the repository.
async fn present(app: &TestApp, repo: &str, digest: &str) -> bool {
    batch_get_image(&app.ecr, repo, by_digest(digest))
        .await
        .failures()
        .is_empty()
}

/// Every image of the repository, by digest.
async fn digests(app: &TestApp, repo: &str) -> BTreeSet<String> {
    let out = app
        .ecr
        .list_images()
        .repository_name(repo)
        .send()
        .await
        .expect("list images");
    out.image_ids()
        .iter()
        .filter_map(|i| i.image_digest().map(str::to_owned))
        .collect()
}

async fn start_preview(app: &TestApp, repo: &str, text: Option<&str>) {
    let out = app
        .ecr
        .start_lifecycle_policy_preview()
        .repository_name(repo)
        .set_lifecycle_policy_text(text.map(str::to_owned))
        .send()
        .await
        .expect("start preview");
    assert_eq!(out.status(), Some(&LifecyclePolicyPreviewStatus::Complete));
}

/// The whole preview as (digest, rule) pairs, walked a page of `page` at a time.
async fn preview(app: &TestApp, repo: &str, page: i32) -> Vec<(String, i32)> {
    let (mut all, mut token) = (Vec::new(), None);
    loop {
        let out = app
            .ecr
            .get_lifecycle_policy_preview()
            .repository_name(repo)
            .max_results(page)
            .set_next_token(token)
            .send()
            .await
            .expect("get preview");
        assert_eq!(out.status(), Some(&LifecyclePolicyPreviewStatus::Complete));
        assert!(out.preview_results().len() <= page as usize);
        for r in out.preview_results() {
            assert_eq!(
                r.action().and_then(|a| a.r#type()),
                Some(&ImageActionType::Expire)
            );
            all.push((
                r.image_digest().unwrap_or_default().to_owned(),
                r.applied_rule_priority().unwrap_or_default(),
            ));
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return all;
        }
    }
}

/// Runs every repository's policy, as the schedule does; returns the digests acted on.
async fn run(app: &TestApp) -> BTreeSet<String> {
    app.service()
        .await
        .run_lifecycle(None, false)
        .await
        .expect("lifecycle run")
        .into_iter()
        .flat_map(|r| r.actions)
        .map(|a| a.digest.to_string())
        .collect()
}

async fn validation_errors(app: TestApp) {
    app.create_repo("checked").await;
    let any = |p: u32| {
        expire(
            p,
            r#""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 3"#,
        )
    };
    let tagged = |p: u32, filter: &str| {
        expire(
            p,
            &format!(
                r#""tagStatus": "tagged", {filter}, "countType": "imageCountMoreThan", "countNumber": 3"#
            ),
        )
    };
    let transition = |p: u32, selection: &str, action: &str| {
        format!(r#"{{"rulePriority": {p}, "selection": {{{selection}}}, "action": {action}}}"#)
    };
    let cases: Vec<(String, &str)> = vec![
        (format!("{:<100}", "not json"), "not valid JSON"),
        (format!("{:<100}", "[]"), "the policy must be an object"),
        (policy(&[]), "at least one rule"),
        (
            format!("{:<100}", r#"{"rulez": []}"#),
            "unknown member 'rulez'",
        ),
        (
            policy(&[any(1).replace("\"rulePriority\": 1", "\"rulePriority\": 0")]),
            "rulePriority must be an integer of at least 1",
        ),
        (
            policy(&[any(1).replace("\"rulePriority\": 1", "\"rulePriority\": 1.5")]),
            "rulePriority must be an integer of at least 1",
        ),
        (
            policy(&[
                tagged(2, r#""tagPrefixList": ["a"]"#),
                tagged(2, r#""tagPrefixList": ["b"]"#),
            ]),
            "rulePriority 2 is used by more than one rule",
        ),
        (
            policy(&[any(1), tagged(2, r#""tagPrefixList": ["a"]"#)]),
            "rule 1 has tagStatus 'any' and must have the highest rulePriority",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "some", "countType": "imageCountMoreThan", "countNumber": 1"#,
            )]),
            "'some' is not a valid tagStatus",
        ),
        (
            policy(&[expire(
                1,
                r#""countType": "imageCountMoreThan", "countNumber": 1"#,
            )]),
            "missing 'tagStatus'",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
            )]),
            "rule 1 has tagStatus 'tagged' and needs a tagPrefixList or a tagPatternList",
        ),
        (
            policy(&[tagged(
                1,
                r#""tagPrefixList": ["a"], "tagPatternList": ["b*"]"#,
            )]),
            "rule 1 may have a tagPrefixList or a tagPatternList, not both",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "tagPrefixList": ["a"], "countType": "imageCountMoreThan", "countNumber": 1"#,
            )]),
            "rule 1: tagPrefixList is only allowed with tagStatus 'tagged'",
        ),
        (
            policy(&[tagged(1, r#""tagPatternList": []"#)]),
            "rule 1: tagPatternList must be a non-empty list",
        ),
        (
            policy(&[tagged(1, r#""tagPatternList": ["test*1*2*3*4*5*6"]"#)]),
            "the tag pattern 'test*1*2*3*4*5*6' has more than 4 wildcards",
        ),
        (
            policy(&[
                tagged(1, r#""tagPrefixList": ["a", "b"]"#),
                tagged(2, r#""tagPrefixList": ["b", "a"]"#),
            ]),
            "rules 1 and 2 select the same storage class with the same tag filter",
        ),
        (
            policy(&[
                keep_untagged(1),
                expire(
                    2,
                    r#""tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1"#,
                ),
            ]),
            "rules 1 and 2 both select untagged images",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "countType": "sinceImagePushed", "countNumber": 1"#,
            )]),
            "countUnit 'days' is required with countType 'sinceImagePushed'",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countUnit": "days", "countNumber": 1"#,
            )]),
            "countUnit is not allowed with countType 'imageCountMoreThan'",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "hours", "countNumber": 1"#,
            )]),
            "'hours' is not a valid countUnit",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 0"#,
            )]),
            "countNumber must be an integer of at least 1",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "countType": "sinceImageAged", "countUnit": "days", "countNumber": 1"#,
            )]),
            "'sinceImageAged' is not a valid countType",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "storageClass": "archive", "countType": "imageCountMoreThan", "countNumber": 1"#,
            )]),
            "storageClass 'archive' cannot be used with countType 'imageCountMoreThan'",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 1"#,
            )]),
            "storageClass 'standard' cannot be used with countType 'sinceImageTransitioned'",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "storageClass": "cold", "countType": "imageCountMoreThan", "countNumber": 1"#,
            )]),
            "'cold' is not a valid storageClass",
        ),
        (
            policy(&[expire(
                1,
                r#""tagStatus": "untagged", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 1"#,
            )]),
            "action 'expire' cannot be used with countType 'sinceImagePulled'",
        ),
        (
            policy(&[transition(
                1,
                r#""tagStatus": "untagged", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 1"#,
                r#"{"type": "transition", "targetStorageClass": "archive"}"#,
            )]),
            "action 'transition' cannot be used with countType 'sinceImageTransitioned'",
        ),
        (
            policy(&[transition(
                1,
                r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
                r#"{"type": "transition"}"#,
            )]),
            "action 'transition' needs targetStorageClass 'archive'",
        ),
        (
            policy(&[transition(
                1,
                r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
                r#"{"type": "expire", "targetStorageClass": "archive"}"#,
            )]),
            "targetStorageClass is only allowed with action 'transition'",
        ),
        (
            policy(&[transition(
                1,
                r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
                r#"{"type": "delete"}"#,
            )]),
            "'delete' is not a valid action.type",
        ),
        (
            policy(&[transition(
                1,
                r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
                r#"{"type": "expire", "when": "now"}"#,
            )]),
            "rules[0].action has an unknown member 'when'",
        ),
    ];
    for (text, wanted) in &cases {
        let err = assert_code(
            app.ecr
                .put_lifecycle_policy()
                .repository_name("checked")
                .lifecycle_policy_text(text)
                .send()
                .await,
            "InvalidParameterException",
            text,
        );
        let message = err.message().unwrap_or_default();
        assert!(message.contains(wanted), "{text}: {message}");
        // A preview of the same text is refused alike.
        assert_code(
            app.ecr
                .start_lifecycle_policy_preview()
                .repository_name("checked")
                .lifecycle_policy_text(text)
                .send()
                .await,
            "InvalidParameterException",
            text,
        );
    }
    // Nothing was stored.
    assert_code(
        app.ecr
            .get_lifecycle_policy()
            .repository_name("checked")
            .send()
            .await,
        "LifecyclePolicyNotFoundException",
        "get after refusals",
    );
}

async fn put_get_delete(app: TestApp) {
    app.create_repo("kept").await;
    let text = policy(&[keep_untagged(2)]);
    assert_code(
        app.ecr
            .get_lifecycle_policy()
            .repository_name("kept")
            .send()
            .await,
        "LifecyclePolicyNotFoundException",
        "get without a policy",
    );
    assert_code(
        app.ecr
            .delete_lifecycle_policy()
            .repository_name("kept")
            .send()
            .await,
        "LifecyclePolicyNotFoundException",
        "delete without a policy",
    );
    assert_code(
        app.ecr
            .put_lifecycle_policy()
            .repository_name("missing")
            .lifecycle_policy_text(&text)
            .send()
            .await,
        "RepositoryNotFoundException",
        "put on a missing repository",
    );
    let put = app
        .ecr
        .put_lifecycle_policy()
        .repository_name("kept")
        .lifecycle_policy_text(&text)
        .send()
        .await
        .expect("put");
    assert_eq!(put.lifecycle_policy_text(), Some(text.as_str()));
    assert_eq!(put.repository_name(), Some("kept"));
    assert_eq!(put.registry_id(), Some(crate::helpers::ACCOUNT));

    let got = app
        .ecr
        .get_lifecycle_policy()
        .repository_name("kept")
        .send()
        .await
        .expect("get");
    assert_eq!(got.lifecycle_policy_text(), Some(text.as_str()));
    assert_eq!(got.last_evaluated_at(), None, "never run yet");

    let before = chrono::Utc::now().timestamp();
    run(&app).await;
    let got = app
        .ecr
        .get_lifecycle_policy()
        .repository_name("kept")
        .send()
        .await
        .expect("get after a run");
    let evaluated = got
        .last_evaluated_at()
        .map(|t| t.secs())
        .unwrap_or_default();
    assert!(
        evaluated >= before,
        "lastEvaluatedAt {evaluated} < {before}"
    );

    // A second put replaces the text.
    let second = policy(&[keep_untagged(5)]);
    put_policy(&app, "kept", &second).await;
    let deleted = app
        .ecr
        .delete_lifecycle_policy()
        .repository_name("kept")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.lifecycle_policy_text(), Some(second.as_str()));
    assert!(deleted.last_evaluated_at().is_some());
    assert_code(
        app.ecr
            .get_lifecycle_policy()
            .repository_name("kept")
            .send()
            .await,
        "LifecyclePolicyNotFoundException",
        "get after delete",
    );
    assert_code(
        app.ecr
            .get_lifecycle_policy()
            .repository_name("missing")
            .send()
            .await,
        "RepositoryNotFoundException",
        "get on a missing repository",
    );
}

/// AWS's "Filtering on multiple rules" example A and "Filtering on multiple tags in a
/// single rule" example B, pushed in the page's order.
async fn aws_examples(app: TestApp) {
    app.create_repo("rules").await;
    let a = push(&app, "rules", &["beta-1", "prod-1"]).await;
    let b = push(&app, "rules", &["beta-2", "prod-2"]).await;
    let c = push(&app, "rules", &["beta-3"]).await;
    let keep_one = |p, prefix| {
        expire(
            p,
            &format!(
                r#""tagStatus": "tagged", "tagPrefixList": ["{prefix}"], "countType": "imageCountMoreThan", "countNumber": 1"#
            ),
        )
    };
    put_policy(
        &app,
        "rules",
        &policy(&[keep_one(1, "prod"), keep_one(2, "beta")]),
    )
    .await;

    app.create_repo("tags").await;
    let d = push(&app, "tags", &["alpha-1", "beta-1", "gamma-1"]).await;
    let e = push(&app, "tags", &["alpha-2", "beta-2"]).await;
    let f = push(&app, "tags", &["alpha-3", "beta-3", "gamma-2"]).await;
    put_policy(
        &app,
        "tags",
        &policy(&[expire(
            1,
            r#""tagStatus": "tagged", "tagPrefixList": ["alpha", "beta"], "countType": "imageCountMoreThan", "countNumber": 1"#,
        )]),
    )
    .await;

    start_preview(&app, "rules", None).await;
    assert_eq!(preview(&app, "rules", 10).await, [(a.clone(), 1)]);

    let acted = run(&app).await;
    assert_eq!(acted, BTreeSet::from([a.clone(), d.clone(), e.clone()]));
    assert_eq!(digests(&app, "rules").await, BTreeSet::from([b, c]));
    assert_eq!(digests(&app, "tags").await, BTreeSet::from([f]));
    // The expired images' tags went with them.
    assert!(!batch_get_image(&app.ecr, "rules", by_tag("prod-1"))
        .await
        .failures()
        .is_empty());
}

/// A run with nothing changed since the preview does what the preview showed.
async fn preview_equals_run(app: TestApp) {
    app.create_repo("mixed").await;
    let mut pushed = BTreeSet::new();
    for tags in [
        &[][..],
        &["release-1", "stable"],
        &["dev-1"],
        &[],
        &["release-2"],
        &["dev-2"],
        &["release-3", "stable-3"],
        &[],
        &["dev-3"],
    ] {
        pushed.insert(push(&app, "mixed", tags).await);
    }
    let text = policy(&[
        expire(
            1,
            r#""tagStatus": "tagged", "tagPatternList": ["release-*"], "countType": "imageCountMoreThan", "countNumber": 2"#,
        ),
        expire(
            2,
            r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
        ),
        expire(
            3,
            r#""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 4"#,
        ),
    ]);
    start_preview(&app, "mixed", Some(&text)).await;
    let previewed = preview(&app, "mixed", 3).await;
    assert_eq!(previewed.len(), 4, "{previewed:?}");
    let previewed_digests: BTreeSet<String> = previewed.iter().map(|(d, _)| d.clone()).collect();

    // The preview ran the given text; the repository still has no policy, so a run
    // does nothing until it is put.
    assert!(run(&app).await.is_empty());
    assert_eq!(digests(&app, "mixed").await, pushed);
    put_policy(&app, "mixed", &text).await;
    assert_eq!(run(&app).await, previewed_digests);
    let left: BTreeSet<String> = pushed.difference(&previewed_digests).cloned().collect();
    assert_eq!(digests(&app, "mixed").await, left);
    // Nothing further to do.
    assert!(run(&app).await.is_empty());
}

async fn preview_pages_ids_and_filter(app: TestApp) {
    app.create_repo("paged").await;
    assert_code(
        app.ecr
            .get_lifecycle_policy_preview()
            .repository_name("paged")
            .send()
            .await,
        "LifecyclePolicyPreviewNotFoundException",
        "no preview yet",
    );
    assert_code(
        app.ecr
            .start_lifecycle_policy_preview()
            .repository_name("paged")
            .send()
            .await,
        "LifecyclePolicyNotFoundException",
        "no text and no policy",
    );
    assert_code(
        app.ecr
            .get_lifecycle_policy_preview()
            .repository_name("missing")
            .send()
            .await,
        "RepositoryNotFoundException",
        "missing repository",
    );
    let mut untagged = Vec::new();
    for _ in 0..5 {
        untagged.push(push(&app, "paged", &[]).await);
    }
    let old_tagged = push(&app, "paged", &["tmp-1"]).await;
    push(&app, "paged", &["tmp-2"]).await;
    let text = policy(&[
        expire(
            1,
            r#""tagStatus": "tagged", "tagPrefixList": ["tmp"], "countType": "imageCountMoreThan", "countNumber": 1"#,
        ),
        expire(
            2,
            r#""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#,
        ),
    ]);
    // Without text, the stored policy is previewed.
    put_policy(&app, "paged", &text).await;
    start_preview(&app, "paged", None).await;

    let whole = preview(&app, "paged", 100).await;
    let mut expected: Vec<(String, i32)> = untagged[..4].iter().map(|d| (d.clone(), 2)).collect();
    expected.push((old_tagged.clone(), 1));
    assert_eq!(whole, expected);
    for page in [1, 2, 4] {
        assert_eq!(
            preview(&app, "paged", page).await,
            expected,
            "pages of {page}"
        );
    }

    let get = || {
        app.ecr
            .get_lifecycle_policy_preview()
            .repository_name("paged")
    };
    let out = get().send().await.expect("whole preview");
    assert_eq!(out.lifecycle_policy_text(), Some(text.as_str()));
    let summary = out.summary().expect("summary");
    assert_eq!(summary.expiring_image_total_count(), Some(5));
    assert!(summary.transitioning_image_total_counts().is_empty());
    let tagged = out
        .preview_results()
        .iter()
        .find(|r| r.image_digest() == Some(old_tagged.as_str()))
        .expect("the tagged result");
    assert_eq!(tagged.image_tags(), ["tmp-1"]);
    assert!(tagged.image_pushed_at().is_some());
    assert_eq!(
        tagged.storage_class(),
        Some(&aws_sdk_ecr::types::LifecyclePolicyStorageClass::Standard)
    );

    let filtered = |status| async move {
        get()
            .filter(
                LifecyclePolicyPreviewFilter::builder()
                    .tag_status(status)
                    .build(),
            )
            .send()
            .await
            .expect("filtered")
            .preview_results()
            .iter()
            .map(|r| r.image_digest().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        filtered(TagStatus::Tagged).await,
        std::slice::from_ref(&old_tagged)
    );
    assert_eq!(filtered(TagStatus::Untagged).await, untagged[..4].to_vec());

    let by_ids = get()
        .image_ids(by_tag("tmp-1"))
        .image_ids(by_digest(&untagged[1]))
        .image_ids(by_digest(&untagged[4]))
        .send()
        .await
        .expect("by image ids");
    let named: Vec<&str> = by_ids
        .preview_results()
        .iter()
        .filter_map(|r| r.image_digest())
        .collect();
    assert_eq!(
        named,
        [untagged[1].as_str(), old_tagged.as_str()],
        "the kept image is not a result"
    );
    assert_code(
        get().image_ids(by_tag("tmp-1")).max_results(2).send().await,
        "InvalidParameterException",
        "imageIds with maxResults",
    );

    // A token names the preview it pages through: a new preview voids it.
    let first = get().max_results(2).send().await.expect("first page");
    let token = first.next_token().expect("more pages").to_owned();
    start_preview(&app, "paged", None).await;
    assert_code(
        get().max_results(2).next_token(token).send().await,
        "InvalidParameterException",
        "a token of the replaced preview",
    );
}

/// An image an index in the repository lists is kept while the index stays, and goes
/// with it when the index expires in the same run.
async fn index_children(app: TestApp) {
    app.create_repo("multi").await;
    let children: Vec<Image> = (0..2).map(|_| Image::new(Format::Oci, &[512])).collect();
    let loose = push(&app, "multi", &[]).await;
    for child in &children {
        for blob in child.blobs() {
            app.push_blob("multi", blob).await;
        }
        app.put_ok("multi", &child.manifest, None).await;
    }
    let index = Manifest::index(
        crate::fixtures::OCI_INDEX,
        children.iter().map(Image::entry),
    )
    .to_string();
    let index_digest = app.put_ok("multi", &index, Some("multi")).await;
    let newest = push(&app, "multi", &[]).await;

    // Untagged, keep one: the loose image and both children are marked, but the
    // tagged index keeps its children.
    put_policy(&app, "multi", &policy(&[keep_untagged(1)])).await;
    start_preview(&app, "multi", None).await;
    assert_eq!(preview(&app, "multi", 10).await, [(loose.clone(), 1)]);
    assert_eq!(run(&app).await, BTreeSet::from([loose]));
    for child in &children {
        assert!(present(&app, "multi", &child.digest).await);
    }

    // Any, keep one: the index goes, and its children with it.
    put_policy(
        &app,
        "multi",
        &policy(&[expire(
            1,
            r#""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1"#,
        )]),
    )
    .await;
    let mut gone = BTreeSet::from([index_digest]);
    gone.extend(children.iter().map(|c| c.digest.clone()));
    assert_eq!(run(&app).await, gone);
    assert_eq!(digests(&app, "multi").await, BTreeSet::from([newest]));
}

/// Transition rules archive images; an index cannot be archived, so a transition
/// that would take it is no decision, in the preview as in the run.
async fn transitions(app: TestApp) {
    app.create_repo("tiered").await;
    let child = Image::new(Format::Oci, &[512]);
    for blob in child.blobs() {
        app.push_blob("tiered", blob).await;
    }
    app.put_ok("tiered", &child.manifest, None).await;
    let index = Manifest::index(crate::fixtures::OCI_INDEX, [child.entry()]).to_string();
    let index_digest = app.put_ok("tiered", &index, Some("v-index")).await;
    let mut versions = Vec::new();
    for tag in ["v1", "v2", "v3", "v4"] {
        versions.push(push(&app, "tiered", &[tag]).await);
    }
    let archive_old = r#"{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 2}, "action": {"type": "transition", "targetStorageClass": "archive"}}"#.to_owned();
    // Archived images expire only once they have been archived a day.
    let expire_archived = expire(
        2,
        r#""tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 1"#,
    );
    put_policy(&app, "tiered", &policy(&[archive_old, expire_archived])).await;

    start_preview(&app, "tiered", None).await;
    let out = app
        .ecr
        .get_lifecycle_policy_preview()
        .repository_name("tiered")
        .send()
        .await
        .expect("get preview");
    let mut previewed = BTreeSet::new();
    for r in out.preview_results() {
        let action = r.action().expect("action");
        assert_eq!(action.r#type(), Some(&ImageActionType::Transition));
        assert_eq!(
            action.target_storage_class().map(|c| c.as_str()),
            Some("ARCHIVE")
        );
        assert_eq!(r.storage_class().map(|c| c.as_str()), Some("STANDARD"));
        previewed.insert(r.image_digest().unwrap_or_default().to_owned());
    }
    let oldest = BTreeSet::from([versions[0].clone(), versions[1].clone()]);
    assert_eq!(previewed, oldest, "the index is not archived");
    let summary = out.summary().expect("summary");
    assert_eq!(summary.expiring_image_total_count(), Some(0));
    let counts = summary.transitioning_image_total_counts();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(counts[0].image_total_count(), Some(2));

    assert_eq!(run(&app).await, oldest);
    for digest in &versions[..2] {
        let detail = crate::fixtures::describe_image(&app.ecr, "tiered", by_digest(digest)).await;
        assert_eq!(
            detail.image_status(),
            Some(&aws_sdk_ecr::types::ImageStatus::Archived)
        );
        assert!(
            !present(&app, "tiered", digest).await,
            "archived: not pullable"
        );
    }
    // The active listing lost them; the index and the newest two stay active.
    let active = digests(&app, "tiered").await;
    assert!(active.contains(&index_digest));
    assert!(active.contains(&versions[3]));
    assert!(!active.contains(&versions[0]));
    // Nothing further: two standard images are left under the count, and the archived
    // ones have not been archived a day.
    assert!(run(&app).await.is_empty());
}

/// Pushes racing runs: a run never fails for them, and never expires an image a
/// push tagged (the policy expires only untagged images beyond the newest).
async fn runs_race_pushes(app: TestApp) {
    app.create_repo("busy").await;
    put_policy(&app, "busy", &policy(&[keep_untagged(1)])).await;
    let service = app.service().await;
    let (done_tx, mut done) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(async move {
        let mut runs = 0;
        loop {
            service
                .run_lifecycle(None, false)
                .await
                .expect("a run racing pushes");
            runs += 1;
            if *done.borrow_and_update() {
                return runs;
            }
        }
    });
    let mut tagged = Vec::new();
    for i in 0..12 {
        let tag = format!("t{i}");
        let digest = push(&app, "busy", &[tag.as_str()]).await;
        // The moving tag leaves the previous image, which keeps its own.
        let manifest = batch_get_image(&app.ecr, "busy", by_digest(&digest))
            .await
            .images()[0]
            .image_manifest()
            .unwrap_or_default()
            .to_owned();
        app.put_ok("busy", &manifest, Some("latest")).await;
        push(&app, "busy", &[]).await;
        tagged.push((tag, digest));
    }
    done_tx.send(true).expect("stop");
    let runs = runner.await.expect("runner");
    assert!(runs >= 1);
    for (tag, digest) in &tagged {
        let out = batch_get_image(&app.ecr, "busy", by_tag(tag)).await;
        assert!(out.failures().is_empty(), "{tag}: {:?}", out.failures());
        assert!(present(&app, "busy", digest).await);
    }
    // Settled: one untagged image is left after a last run.
    run(&app).await;
    let untagged = app
        .ecr
        .list_images()
        .repository_name("busy")
        .filter(
            aws_sdk_ecr::types::ListImagesFilter::builder()
                .tag_status(TagStatus::Untagged)
                .build(),
        )
        .send()
        .await
        .expect("untagged");
    assert_eq!(untagged.image_ids().len(), 1);
}

/// `berth lifecycle run`, dry and then real, against the app's store.
async fn cli_runs(app: TestApp) {
    app.create_repo("cli").await;
    let old = push(&app, "cli", &[]).await;
    push(&app, "cli", &[]).await;
    put_policy(&app, "cli", &policy(&[keep_untagged(1)])).await;
    let berth = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(["lifecycle", "run", "--data-dir"])
            .arg(app.data_dir.path())
            .args(extra);
        if let Some(url) = &app.database_url {
            cmd.arg("--database-url").arg(url);
        }
        let out = cmd
            .env_remove("DATABASE_URL")
            .output()
            .expect("berth lifecycle run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = berth(&["--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "WOULD EXPIRE {}/{}/cli@{old} tags=[] rule=1",
            crate::helpers::ACCOUNT,
            crate::helpers::REGION
        )),
        "{out}"
    );
    assert!(
        out.contains("1 repositories with a lifecycle policy (dry run): 1 images would expire"),
        "{out}"
    );
    assert!(
        present(&app, "cli", &old).await,
        "a dry run changes nothing"
    );

    let (code, out) = berth(&["--repository", "other"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 repositories"), "{out}");
    assert!(present(&app, "cli", &old).await);

    let (code, out) = berth(&["--repository", "cli"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "EXPIRED {}/{}/cli@{old}",
            crate::helpers::ACCOUNT,
            crate::helpers::REGION
        )),
        "{out}"
    );
    assert!(out.contains("1 images expired"), "{out}");
    assert!(!present(&app, "cli", &old).await);
}

/// The schedule applies policies by itself.
async fn scheduled(backend: crate::helpers::Backend) {
    let app = crate::helpers::spawn_app_with(backend, |c| {
        c.jobs.lifecycle_interval = std::time::Duration::from_millis(300);
    })
    .await;
    app.create_repo("timed").await;
    let old = push(&app, "timed", &[]).await;
    push(&app, "timed", &[]).await;
    put_policy(&app, "timed", &policy(&[keep_untagged(1)])).await;
    for _ in 0..100 {
        if !present(&app, "timed", &old).await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the scheduled run did not expire the old image");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_sqlite() {
    scheduled(crate::helpers::Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_postgres() {
    scheduled(crate::helpers::Backend::Postgres).await
}

both_stores!(
    validation_errors,
    put_get_delete,
    aws_examples,
    preview_equals_run,
    preview_pages_ids_and_filter,
    index_children,
    transitions,
    runs_race_pushes,
    cli_runs,
);
