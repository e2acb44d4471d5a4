//! Repository creation templates: their four actions through aws-sdk-ecr, the
//! choice of template by longest prefix, and CREATE_ON_PUSH on ECR's push calls and on
//! `/v2/`.

use aws_sdk_ecr::types::{
    EncryptionConfigurationForRepositoryCreationTemplate as TemplateEncryption, EncryptionType,
    ImageTagMutability, RctAppliedFor, RepositoryCreationTemplate, Tag,
};
use serde_json::json;

use crate::both_stores;
use crate::fixtures::{
    assert_code, complete_upload, describe_repository, initiate_upload, put_image, upload_part,
    wildcard, Format, Image,
};
use crate::helpers::{ecr_client_in, TestApp, ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY};
use crate::oci_client::Registry;

both_stores!(
    crud_round_trips_every_setting,
    invalid_settings_are_refused,
    templates_per_registry_are_limited,
    describe_pages_and_filters_by_prefix,
    push_through_ecr_creates_from_the_template,
    push_through_v2_creates_from_the_template,
    longest_prefix_then_root,
    pushes_without_an_applicable_template_are_refused,
    templates_are_per_region,
);

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:BatchGetImage"]}]}"#;
const LIFECYCLE: &str = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#;

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().expect("tag")
}

fn kms(key: Option<&str>) -> TemplateEncryption {
    TemplateEncryption::builder()
        .encryption_type(EncryptionType::Kms)
        .set_kms_key(key.map(str::to_owned))
        .build()
        .expect("encryption")
}

fn tags_of(t: &RepositoryCreationTemplate) -> Vec<(String, String)> {
    t.resource_tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn filters_of(t: &RepositoryCreationTemplate) -> Vec<String> {
    t.image_tag_mutability_exclusion_filters()
        .iter()
        .map(|f| f.filter().to_owned())
        .collect()
}

/// Creates a template applied for `applied_for` that sets only mutability and tags.
async fn simple(
    app: &TestApp,
    prefix: &str,
    mutability: ImageTagMutability,
    tags: &[(&str, &str)],
    applied_for: &[RctAppliedFor],
) {
    app.ecr
        .create_repository_creation_template()
        .prefix(prefix)
        .image_tag_mutability(mutability)
        .set_resource_tags(Some(tags.iter().map(|(k, v)| tag(k, v)).collect()))
        .set_applied_for(Some(applied_for.to_vec()))
        .send()
        .await
        .expect("create template");
}

async fn describe(app: &TestApp, prefix: &str) -> RepositoryCreationTemplate {
    let out = app
        .ecr
        .describe_repository_creation_templates()
        .prefixes(prefix)
        .send()
        .await
        .expect("describe templates");
    assert_eq!(out.registry_id(), Some(ACCOUNT));
    let [one] = out.repository_creation_templates() else {
        panic!("one template for {prefix}: {out:?}")
    };
    one.clone()
}

async fn crud_round_trips_every_setting(app: TestApp) {
    let key = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/0f4a1b2c-3d4e-5f60-7182-93a4b5c6d7e8");
    let created = app
        .ecr
        .create_repository_creation_template()
        .prefix("prod/")
        .description("production images")
        .encryption_configuration(kms(Some(&key)))
        .resource_tags(tag("team", "core"))
        .resource_tags(tag("cost", "42"))
        .image_tag_mutability(ImageTagMutability::ImmutableWithExclusion)
        .image_tag_mutability_exclusion_filters(wildcard("latest"))
        .image_tag_mutability_exclusion_filters(wildcard("dev-*"))
        .repository_policy(POLICY)
        .lifecycle_policy(LIFECYCLE)
        .applied_for(RctAppliedFor::CreateOnPush)
        .applied_for(RctAppliedFor::Replication)
        .custom_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/ecr-templates"))
        .send()
        .await
        .expect("create");
    assert_eq!(created.registry_id(), Some(ACCOUNT));
    let t = created
        .repository_creation_template()
        .expect("template")
        .clone();
    let check = |t: &RepositoryCreationTemplate| {
        // `prod/` and `prod` are one prefix; it is answered without the slash.
        assert_eq!(t.prefix(), Some("prod"));
        assert_eq!(t.description(), Some("production images"));
        let e = t.encryption_configuration().expect("encryption");
        assert_eq!(e.encryption_type(), &EncryptionType::Kms);
        assert_eq!(e.kms_key(), Some(key.as_str()));
        assert_eq!(
            tags_of(t),
            [("team".into(), "core".into()), ("cost".into(), "42".into())]
        );
        assert_eq!(
            t.image_tag_mutability(),
            Some(&ImageTagMutability::ImmutableWithExclusion)
        );
        assert_eq!(filters_of(t), ["latest", "dev-*"]);
        assert_eq!(t.repository_policy(), Some(POLICY));
        assert_eq!(t.lifecycle_policy(), Some(LIFECYCLE));
        let mut applied = t.applied_for().to_vec();
        applied.sort_by_key(|a| a.as_str().to_owned());
        assert_eq!(
            applied,
            [RctAppliedFor::CreateOnPush, RctAppliedFor::Replication]
        );
        assert_eq!(
            t.custom_role_arn(),
            Some(format!("arn:aws:iam::{ACCOUNT}:role/ecr-templates").as_str())
        );
        assert!(t.created_at().is_some() && t.updated_at().is_some());
    };
    check(&t);
    check(&describe(&app, "prod").await);

    // Only the members given change.
    let updated = app
        .ecr
        .update_repository_creation_template()
        .prefix("prod")
        .description("prod, renamed")
        .image_tag_mutability(ImageTagMutability::Mutable)
        .send()
        .await
        .expect("update");
    let u = updated.repository_creation_template().expect("template");
    assert_eq!(u.description(), Some("prod, renamed"));
    assert_eq!(u.image_tag_mutability(), Some(&ImageTagMutability::Mutable));
    assert!(filters_of(u).is_empty(), "a mode alone drops the filters");
    assert_eq!(u.repository_policy(), Some(POLICY));
    assert_eq!(u.lifecycle_policy(), Some(LIFECYCLE));
    assert_eq!(tags_of(u), tags_of(&t));
    assert_eq!(u.created_at(), t.created_at());
    let after = describe(&app, "prod/").await;
    assert_eq!(after.description(), Some("prod, renamed"));
    assert_eq!(
        after.encryption_configuration(),
        t.encryption_configuration()
    );

    // Filters alone keep the mode; an empty policy text clears the policy.
    let u = app
        .ecr
        .update_repository_creation_template()
        .prefix("prod")
        .image_tag_mutability(ImageTagMutability::MutableWithExclusion)
        .image_tag_mutability_exclusion_filters(wildcard("v*"))
        .repository_policy("")
        .applied_for(RctAppliedFor::PullThroughCache)
        .send()
        .await
        .expect("update");
    let u = u.repository_creation_template().expect("template");
    assert_eq!(filters_of(u), ["v*"]);
    assert_eq!(u.repository_policy(), None);
    assert_eq!(u.applied_for(), [RctAppliedFor::PullThroughCache]);
    let u = app
        .ecr
        .update_repository_creation_template()
        .prefix("prod")
        .image_tag_mutability_exclusion_filters(wildcard("w*"))
        .send()
        .await
        .expect("update");
    let u = u.repository_creation_template().expect("template");
    assert_eq!(
        u.image_tag_mutability(),
        Some(&ImageTagMutability::MutableWithExclusion)
    );
    assert_eq!(filters_of(u), ["w*"]);

    // A second template for the same prefix, either spelling.
    for prefix in ["prod", "prod/"] {
        let again = app
            .ecr
            .create_repository_creation_template()
            .prefix(prefix)
            .applied_for(RctAppliedFor::CreateOnPush)
            .send()
            .await;
        assert_code(again, "TemplateAlreadyExistsException", "duplicate");
    }

    // Delete answers the deleted template; then it is gone.
    let deleted = app
        .ecr
        .delete_repository_creation_template()
        .prefix("prod/")
        .send()
        .await
        .expect("delete");
    let d = deleted.repository_creation_template().expect("template");
    assert_eq!(d.prefix(), Some("prod"));
    assert_eq!(filters_of(d), ["w*"]);
    let none = app
        .ecr
        .describe_repository_creation_templates()
        .send()
        .await
        .expect("describe");
    assert!(none.repository_creation_templates().is_empty());
    let gone = app
        .ecr
        .delete_repository_creation_template()
        .prefix("prod")
        .send()
        .await;
    assert_code(gone, "TemplateNotFoundException", "delete again");
    let gone = app
        .ecr
        .update_repository_creation_template()
        .prefix("prod")
        .description("x")
        .send()
        .await;
    assert_code(gone, "TemplateNotFoundException", "update deleted");

    // ROOT is a prefix of its own; KMS without a key is kept without one.
    let root = app
        .ecr
        .create_repository_creation_template()
        .prefix("ROOT")
        .encryption_configuration(kms(None))
        .applied_for(RctAppliedFor::CreateOnPush)
        .send()
        .await
        .expect("root");
    let r = root.repository_creation_template().expect("template");
    assert_eq!(r.prefix(), Some("ROOT"));
    assert_eq!(r.encryption_configuration().and_then(|e| e.kms_key()), None);
    assert_eq!(r.image_tag_mutability(), Some(&ImageTagMutability::Mutable));
}

async fn invalid_settings_are_refused(app: TestApp) {
    let base = || {
        app.ecr
            .create_repository_creation_template()
            .prefix("bad")
            .applied_for(RctAppliedFor::CreateOnPush)
    };
    let cases = [
        (
            "repository policy",
            base().repository_policy(r#"{"Statement":"nope"}"#),
        ),
        (
            "lifecycle policy",
            base().lifecycle_policy(r#"{"rules":[]}"#),
        ),
        (
            "filters with MUTABLE",
            base()
                .image_tag_mutability(ImageTagMutability::Mutable)
                .image_tag_mutability_exclusion_filters(wildcard("x*")),
        ),
        (
            "exclusion mode without filters",
            base().image_tag_mutability(ImageTagMutability::ImmutableWithExclusion),
        ),
        (
            "KMS key with AES256",
            base().encryption_configuration(
                TemplateEncryption::builder()
                    .encryption_type(EncryptionType::Aes256)
                    .kms_key(format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/abc"))
                    .build()
                    .expect("encryption"),
            ),
        ),
        (
            "reserved tag key",
            base().resource_tags(tag("aws:owner", "x")),
        ),
        ("empty tag key", base().resource_tags(tag("", "x"))),
        (
            "too many tags",
            base().set_resource_tags(Some((0..51).map(|i| tag(&format!("k{i}"), "v")).collect())),
        ),
        ("empty appliedFor", base().set_applied_for(Some(Vec::new()))),
        ("bad prefix", base().prefix("Bad_Prefix")),
    ];
    for (what, request) in cases {
        assert_code(request.send().await, "InvalidParameterException", what);
    }
    let described = app
        .ecr
        .describe_repository_creation_templates()
        .send()
        .await
        .expect("describe");
    assert!(described.repository_creation_templates().is_empty());

    // appliedFor is required on create, and an update may not empty it.
    let r = app
        .call_json("CreateRepositoryCreationTemplate", json!({"prefix": "bad"}))
        .await;
    r.assert_error("InvalidParameterException");
    simple(
        &app,
        "good",
        ImageTagMutability::Mutable,
        &[],
        &[RctAppliedFor::CreateOnPush],
    )
    .await;
    let emptied = app
        .ecr
        .update_repository_creation_template()
        .prefix("good")
        .set_applied_for(Some(Vec::new()))
        .send()
        .await;
    assert_code(
        emptied,
        "InvalidParameterException",
        "update to no appliedFor",
    );
    let bad_policy = app
        .ecr
        .update_repository_creation_template()
        .prefix("good")
        .lifecycle_policy("not json")
        .send()
        .await;
    assert_code(
        bad_policy,
        "InvalidParameterException",
        "update lifecycle policy",
    );
    assert_eq!(describe(&app, "good").await.lifecycle_policy(), None);
}

async fn templates_per_registry_are_limited(app: TestApp) {
    for i in 0..50 {
        simple(
            &app,
            &format!("t{i}"),
            ImageTagMutability::Mutable,
            &[],
            &[RctAppliedFor::CreateOnPush],
        )
        .await;
    }
    let over = app
        .ecr
        .create_repository_creation_template()
        .prefix("t50")
        .applied_for(RctAppliedFor::CreateOnPush)
        .send()
        .await;
    assert_code(over, "LimitExceededException", "51st template");
    app.ecr
        .delete_repository_creation_template()
        .prefix("t0")
        .send()
        .await
        .expect("delete");
    simple(
        &app,
        "t50",
        ImageTagMutability::Mutable,
        &[],
        &[RctAppliedFor::CreateOnPush],
    )
    .await;
}

async fn describe_pages_and_filters_by_prefix(app: TestApp) {
    let prefixes = ["a", "b/c", "ROOT", "b", "z-z", "a/b"];
    for p in prefixes {
        simple(
            &app,
            p,
            ImageTagMutability::Mutable,
            &[],
            &[RctAppliedFor::CreateOnPush],
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let out = app
            .ecr
            .describe_repository_creation_templates()
            .max_results(4)
            .set_next_token(token)
            .send()
            .await
            .expect("page");
        assert!(out.repository_creation_templates().len() <= 4);
        seen.extend(
            out.repository_creation_templates()
                .iter()
                .map(|t| t.prefix().unwrap_or_default().to_owned()),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["ROOT", "a", "a/b", "b", "b/c", "z-z"]);

    let filtered = app
        .ecr
        .describe_repository_creation_templates()
        .prefixes("b/")
        .prefixes("ROOT")
        .prefixes("missing")
        .send()
        .await
        .expect("filtered");
    let got: Vec<_> = filtered
        .repository_creation_templates()
        .iter()
        .filter_map(|t| t.prefix())
        .collect();
    assert_eq!(got, ["ROOT", "b"]);

    // A filtered listing's token resumes only that listing.
    let first = app
        .ecr
        .describe_repository_creation_templates()
        .prefixes("a")
        .prefixes("b")
        .max_results(1)
        .send()
        .await
        .expect("first page");
    let token = first.next_token().expect("more").to_owned();
    let second = app
        .ecr
        .describe_repository_creation_templates()
        .prefixes("a")
        .prefixes("b")
        .next_token(&token)
        .send()
        .await
        .expect("second page");
    let got: Vec<_> = second
        .repository_creation_templates()
        .iter()
        .filter_map(|t| t.prefix())
        .collect();
    assert_eq!(got, ["b"]);
    let foreign = app
        .ecr
        .describe_repository_creation_templates()
        .next_token(&token)
        .send()
        .await;
    assert_code(
        foreign,
        "InvalidParameterException",
        "token of another listing",
    );
}

/// A template for `prod` that sets every setting a repository takes from it.
async fn full_template(app: &TestApp, prefix: &str) {
    app.ecr
        .create_repository_creation_template()
        .prefix(prefix)
        .encryption_configuration(kms(None))
        .resource_tags(tag("team", "core"))
        .image_tag_mutability(ImageTagMutability::ImmutableWithExclusion)
        .image_tag_mutability_exclusion_filters(wildcard("latest"))
        .repository_policy(POLICY)
        .lifecycle_policy(LIFECYCLE)
        .applied_for(RctAppliedFor::CreateOnPush)
        .send()
        .await
        .expect("create template");
}

/// Asserts that repository `name` has the settings `full_template` gives.
async fn assert_configured(app: &TestApp, name: &str) {
    let repo = describe_repository(&app.ecr, name).await;
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::ImmutableWithExclusion)
    );
    let filters: Vec<_> = repo
        .image_tag_mutability_exclusion_filters()
        .iter()
        .map(|f| f.filter())
        .collect();
    assert_eq!(filters, ["latest"]);
    let encryption = repo.encryption_configuration().expect("encryption");
    assert_eq!(encryption.encryption_type(), &EncryptionType::Kms);
    let key = encryption.kms_key().expect("the registry's managed key");
    assert!(
        key.starts_with(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/")),
        "{key}"
    );
    let tags = app
        .ecr
        .list_tags_for_resource()
        .resource_arn(repo.repository_arn().expect("arn"))
        .send()
        .await
        .expect("tags");
    let tags: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "core")]);
    let policy = app
        .ecr
        .get_repository_policy()
        .repository_name(name)
        .send()
        .await
        .expect("policy");
    assert_eq!(policy.policy_text(), Some(POLICY));
    let lifecycle = app
        .ecr
        .get_lifecycle_policy()
        .repository_name(name)
        .send()
        .await
        .expect("lifecycle policy");
    assert_eq!(lifecycle.lifecycle_policy_text(), Some(LIFECYCLE));
}

/// Pushes a one-layer image through ECR's layer calls and PutImage under `tag`.
async fn push_through_ecr(app: &TestApp, name: &str, tag: &str) {
    let image = Image::new(Format::Oci, &[700]);
    for blob in image.blobs() {
        let id = initiate_upload(&app.ecr, name).await;
        upload_part(&app.ecr, name, &id, 0, blob)
            .await
            .expect("part");
        complete_upload(&app.ecr, name, &id, &crate::helpers::sha256(blob))
            .await
            .expect("complete");
    }
    put_image(&app.ecr, name, &image.manifest, Some(tag))
        .await
        .expect("put image");
}

async fn push_through_ecr_creates_from_the_template(app: TestApp) {
    full_template(&app, "prod").await;
    push_through_ecr(&app, "prod/app", "latest").await;
    assert_configured(&app, "prod/app").await;
    // The created repository enforces the template's mutability.
    let image = Image::new(Format::Oci, &[300]);
    for blob in image.blobs() {
        let id = initiate_upload(&app.ecr, "prod/app").await;
        upload_part(&app.ecr, "prod/app", &id, 0, blob)
            .await
            .expect("part");
        complete_upload(&app.ecr, "prod/app", &id, &crate::helpers::sha256(blob))
            .await
            .expect("complete");
    }
    put_image(&app.ecr, "prod/app", &image.manifest, Some("v1"))
        .await
        .expect("first v1");
    push_through_ecr(&app, "prod/app", "latest").await;
    let moved = put_image(&app.ecr, "prod/app", &image.manifest, Some("latest")).await;
    moved.expect("latest is excluded from immutability");
    let image2 = Image::new(Format::Oci, &[301]);
    for blob in image2.blobs() {
        let id = initiate_upload(&app.ecr, "prod/app").await;
        upload_part(&app.ecr, "prod/app", &id, 0, blob)
            .await
            .expect("part");
        complete_upload(&app.ecr, "prod/app", &id, &crate::helpers::sha256(blob))
            .await
            .expect("complete");
    }
    let again = put_image(&app.ecr, "prod/app", &image2.manifest, Some("v1")).await;
    assert_code(again, "ImageTagAlreadyExistsException", "immutable v1");

    // PutImage alone creates the repository too (then finds no layers in it).
    let direct = put_image(&app.ecr, "prod/direct", &image.manifest, Some("x")).await;
    assert_code(
        direct,
        "LayersNotFoundException",
        "put into a new repository",
    );
    assert_configured(&app, "prod/direct").await;
}

async fn push_through_v2_creates_from_the_template(app: TestApp) {
    full_template(&app, "team/").await;
    let registry = Registry::login(&app).await;
    registry.push_image("team/web", "latest").await;
    assert_configured(&app, "team/web").await;
    // A blob upload alone (POST) creates it as well.
    registry.push_blob("team/blobs", b"just a blob").await;
    assert_configured(&app, "team/blobs").await;
    // No template for `other`: NAME_UNKNOWN, and nothing is created.
    let r = registry
        .post_blob("other/web", &crate::helpers::sha256(b"x"), b"x")
        .await;
    r.assert_error(404, "NAME_UNKNOWN");
    let missing = app
        .ecr
        .describe_repositories()
        .repository_names("other/web")
        .send()
        .await;
    assert_code(missing, "RepositoryNotFoundException", "not created");
}

async fn longest_prefix_then_root(app: TestApp) {
    let (push, replication) = (RctAppliedFor::CreateOnPush, RctAppliedFor::Replication);
    for (prefix, mutability, applied_for) in [
        ("ROOT", ImageTagMutability::Immutable, push.clone()),
        ("prod", ImageTagMutability::Mutable, push.clone()),
        ("prod/team", ImageTagMutability::Mutable, push),
        // The longest prefix, but not for pushes.
        ("prod/team/x", ImageTagMutability::Mutable, replication),
    ] {
        let from = if prefix == "ROOT" { "root" } else { prefix };
        simple(&app, prefix, mutability, &[("from", from)], &[applied_for]).await;
    }
    for (name, from, mutability) in [
        ("prod/team/x/app", "prod/team", ImageTagMutability::Mutable),
        ("prod/team/app", "prod/team", ImageTagMutability::Mutable),
        ("prod/app", "prod", ImageTagMutability::Mutable),
        ("production/app", "root", ImageTagMutability::Immutable),
        ("prod", "root", ImageTagMutability::Immutable),
        ("solo", "root", ImageTagMutability::Immutable),
    ] {
        initiate_upload(&app.ecr, name).await;
        let repo = describe_repository(&app.ecr, name).await;
        assert_eq!(repo.image_tag_mutability(), Some(&mutability), "{name}");
        let tags = app
            .ecr
            .list_tags_for_resource()
            .resource_arn(repo.repository_arn().expect("arn"))
            .send()
            .await
            .expect("tags");
        let tags: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
        assert_eq!(tags, [("from", from)], "{name}");
    }
}

async fn pushes_without_an_applicable_template_are_refused(app: TestApp) {
    simple(
        &app,
        "mirror",
        ImageTagMutability::Mutable,
        &[],
        &[RctAppliedFor::Replication, RctAppliedFor::PullThroughCache],
    )
    .await;
    simple(
        &app,
        "prod",
        ImageTagMutability::Mutable,
        &[],
        &[RctAppliedFor::CreateOnPush],
    )
    .await;
    for name in ["mirror/app", "dev/app"] {
        let r = app
            .ecr
            .initiate_layer_upload()
            .repository_name(name)
            .send()
            .await;
        assert_code(r, "RepositoryNotFoundException", name);
        let r = put_image(&app.ecr, name, "{}", Some("x")).await;
        assert_code(r, "RepositoryNotFoundException", name);
    }
    let listed = app.ecr.describe_repositories().send().await.expect("list");
    assert!(listed.repositories().is_empty(), "{listed:?}");
    // Other actions never create repositories.
    let r = app
        .ecr
        .describe_images()
        .repository_name("prod/app")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "describe images");
    let listed = app.ecr.describe_repositories().send().await.expect("list");
    assert!(listed.repositories().is_empty(), "{listed:?}");
}

async fn templates_are_per_region(app: TestApp) {
    simple(
        &app,
        "ROOT",
        ImageTagMutability::Mutable,
        &[],
        &[RctAppliedFor::CreateOnPush],
    )
    .await;
    let elsewhere = ecr_client_in(&app.url, ACCESS_KEY, SECRET_KEY, "us-west-2");
    let none = elsewhere
        .describe_repository_creation_templates()
        .send()
        .await
        .expect("describe in us-west-2");
    assert!(none.repository_creation_templates().is_empty());
    let r = elsewhere
        .initiate_layer_upload()
        .repository_name("app")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "push in us-west-2");
    initiate_upload(&app.ecr, "app").await;
    describe_repository(&app.ecr, "app").await;
    let gone = elsewhere
        .delete_repository_creation_template()
        .prefix("ROOT")
        .send()
        .await;
    assert_code(gone, "TemplateNotFoundException", "delete in us-west-2");
}
