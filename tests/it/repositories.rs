use aws_sdk_ecr::types::ImageTagMutability;

use crate::both_stores;
use crate::fixtures::{
    assert_code, by_tag, complete_upload, describe_repository, initiate_upload, layer_download_url,
    put_image, upload_part, wildcard,
};
use crate::helpers::{sha256, TestApp, ACCOUNT, REGION};

both_stores!(create_describe_delete);

async fn create_describe_delete(app: TestApp) {
    let created = app
        .ecr
        .create_repository()
        .repository_name("team/web")
        .send()
        .await
        .expect("create");
    let repo = created.repository().expect("repository");
    assert_eq!(repo.repository_name(), Some("team/web"));
    assert_eq!(repo.registry_id(), Some(ACCOUNT));
    assert_eq!(
        repo.repository_arn(),
        Some(format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/web").as_str())
    );
    assert_eq!(
        repo.repository_uri(),
        Some(format!("127.0.0.1:{}/team/web", app.port).as_str())
    );
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::Mutable)
    );
    assert!(repo.created_at().is_some());

    let r = app
        .ecr
        .create_repository()
        .repository_name("team/web")
        .send()
        .await;
    assert_code(r, "RepositoryAlreadyExistsException", "duplicate");

    describe_repository(&app.ecr, "team/web").await;

    let deleted = app
        .ecr
        .delete_repository()
        .repository_name("team/web")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        deleted.repository().and_then(|r| r.repository_name()),
        Some("team/web")
    );
    let r = app
        .ecr
        .describe_repositories()
        .repository_names("team/web")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "gone");
}

// ---------------------------------------------------------------------------------
// Repository, registry and resource-tag actions: every success and error path.
// ---------------------------------------------------------------------------------

use std::collections::BTreeSet;

use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::primitives::Blob;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration,
    ImageTagMutabilityExclusionFilter, Repository, Tag as ResourceTag,
};
use base64::Engine as _;

const FOREIGN_ACCOUNT: &str = "210987654321";

both_stores!(
    create_defaults,
    create_mutability_modes,
    create_mutability_filter_rules,
    create_scan_and_encryption,
    create_resource_tags,
    create_resource_tag_limits,
    create_bad_names,
    describe_by_names,
    describe_pagination,
    describe_default_page,
    describe_token_misuse,
    delete_repository_rules,
    put_image_tag_mutability_modes,
    put_image_scanning_configuration,
    resource_tagging,
    resource_tagging_errors,
    describe_registry,
    get_authorization_token,
    other_registries_are_refused_without_a_policy,
    second_server_on_the_same_store,
);

fn filters_of(filters: &[ImageTagMutabilityExclusionFilter]) -> Vec<(String, String)> {
    filters
        .iter()
        .map(|f| (f.filter_type().as_str().to_owned(), f.filter().to_owned()))
        .collect()
}

fn rtag(key: &str, value: &str) -> ResourceTag {
    ResourceTag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("tag")
}

fn arn(name: &str) -> String {
    format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}")
}

async fn list_tags(app: &TestApp, name: &str) -> Vec<(String, String)> {
    let out = app
        .ecr
        .list_tags_for_resource()
        .resource_arn(arn(name))
        .send()
        .await
        .expect("list tags");
    let mut tags: Vec<(String, String)> = out
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    tags
}

async fn all_repository_names(app: &TestApp) -> Vec<String> {
    let out = app
        .ecr
        .describe_repositories()
        .send()
        .await
        .expect("describe all");
    assert!(out.next_token().is_none());
    out.repositories()
        .iter()
        .filter_map(|r| r.repository_name().map(str::to_owned))
        .collect()
}

async fn create_defaults(app: TestApp) {
    let created = app
        .ecr
        .create_repository()
        .repository_name("plain")
        .send()
        .await
        .expect("create");
    for repo in [
        created.repository().expect("repository").clone(),
        describe_repository(&app.ecr, "plain").await,
    ] {
        assert_eq!(repo.repository_name(), Some("plain"));
        assert_eq!(
            repo.image_tag_mutability(),
            Some(&ImageTagMutability::Mutable)
        );
        assert!(repo.image_tag_mutability_exclusion_filters().is_empty());
        assert_eq!(
            repo.image_scanning_configuration()
                .map(ImageScanningConfiguration::scan_on_push),
            Some(false)
        );
        let enc = repo.encryption_configuration().expect("encryption");
        assert_eq!(enc.encryption_type(), &EncryptionType::Aes256);
        assert_eq!(enc.kms_key(), None);
    }
    assert!(list_tags(&app, "plain").await.is_empty());
}

async fn create_mutability_modes(app: TestApp) {
    let cases: [(&str, ImageTagMutability, Vec<&str>); 4] = [
        ("m-plain", ImageTagMutability::Mutable, vec![]),
        ("m-immutable", ImageTagMutability::Immutable, vec![]),
        (
            "m-immutable-excl",
            ImageTagMutability::ImmutableWithExclusion,
            vec!["dev-*", "latest"],
        ),
        (
            "m-mutable-excl",
            ImageTagMutability::MutableWithExclusion,
            vec!["v*.*.*"],
        ),
    ];
    for (name, mode, filters) in cases {
        let mut req = app
            .ecr
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(mode.clone());
        for f in &filters {
            req = req.image_tag_mutability_exclusion_filters(wildcard(f));
        }
        let created = req.send().await.expect("create");
        let expected: Vec<(String, String)> = filters
            .iter()
            .map(|f| ("WILDCARD".to_owned(), (*f).to_owned()))
            .collect();
        for repo in [
            created.repository().expect("repository").clone(),
            describe_repository(&app.ecr, name).await,
        ] {
            assert_eq!(repo.image_tag_mutability(), Some(&mode), "{name}");
            assert_eq!(
                filters_of(repo.image_tag_mutability_exclusion_filters()),
                expected,
                "{name}"
            );
        }
    }
}

async fn create_mutability_filter_rules(app: TestApp) {
    // Filters are refused with the plain modes and required with *_WITH_EXCLUSION.
    for mode in [ImageTagMutability::Mutable, ImageTagMutability::Immutable] {
        let r = app
            .ecr
            .create_repository()
            .repository_name("filters")
            .image_tag_mutability(mode.clone())
            .image_tag_mutability_exclusion_filters(wildcard("dev-*"))
            .send()
            .await;
        assert_code(
            r,
            "InvalidParameterException",
            &format!("filters with a plain mode: {mode}"),
        );
    }
    for mode in [
        ImageTagMutability::ImmutableWithExclusion,
        ImageTagMutability::MutableWithExclusion,
    ] {
        let r = app
            .ecr
            .create_repository()
            .repository_name("filters")
            .image_tag_mutability(mode.clone())
            .send()
            .await;
        assert_code(
            r,
            "InvalidParameterException",
            &format!("exclusion mode without filters: {mode}"),
        );
    }
    // A filter outside [0-9a-zA-Z._*-]{1,128}, and more than five filters.
    let mut six = app
        .ecr
        .create_repository()
        .repository_name("filters")
        .image_tag_mutability(ImageTagMutability::MutableWithExclusion);
    for i in 0..6 {
        six = six.image_tag_mutability_exclusion_filters(wildcard(&format!("t{i}*")));
    }
    let bad_filter = app
        .ecr
        .create_repository()
        .repository_name("filters")
        .image_tag_mutability(ImageTagMutability::MutableWithExclusion)
        .image_tag_mutability_exclusion_filters(wildcard("dev/*"));
    for req in [six, bad_filter] {
        let r = req.send().await;
        assert_code(r, "InvalidParameterException", "bad filters");
    }
    // Nothing was created by the refused calls.
    assert!(all_repository_names(&app).await.is_empty());
}

async fn create_scan_and_encryption(app: TestApp) {
    let created = app
        .ecr
        .create_repository()
        .repository_name("scanned")
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .send()
        .await
        .expect("create scanned");
    for repo in [
        created.repository().expect("repository").clone(),
        describe_repository(&app.ecr, "scanned").await,
    ] {
        assert_eq!(
            repo.image_scanning_configuration()
                .map(ImageScanningConfiguration::scan_on_push),
            Some(true)
        );
    }

    let key = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let cases = [
        ("enc-aes", EncryptionType::Aes256, None),
        ("enc-kms", EncryptionType::Kms, None),
        ("enc-kms-key", EncryptionType::Kms, Some(key.as_str())),
        ("enc-dsse", EncryptionType::KmsDsse, None),
    ];
    // KMS without a key reports the registry's AWS-managed key, as ECR does: one ARN
    // in this account and region, whichever repository asks.
    let mut managed = std::collections::BTreeSet::new();
    for (name, kind, kms_key) in cases {
        let created = app
            .ecr
            .create_repository()
            .repository_name(name)
            .encryption_configuration(
                EncryptionConfiguration::builder()
                    .encryption_type(kind.clone())
                    .set_kms_key(kms_key.map(str::to_owned))
                    .build()
                    .expect("encryption"),
            )
            .send()
            .await
            .expect("create encrypted");
        for repo in [
            created.repository().expect("repository").clone(),
            describe_repository(&app.ecr, name).await,
        ] {
            let enc = repo.encryption_configuration().expect("encryption");
            assert_eq!(enc.encryption_type(), &kind, "{name}");
            match (kind.clone(), kms_key) {
                (EncryptionType::Aes256, _) | (_, Some(_)) => {
                    assert_eq!(enc.kms_key(), kms_key, "{name}")
                }
                _ => {
                    let arn = enc.kms_key().expect("the managed key");
                    let id = arn
                        .strip_prefix(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/"))
                        .unwrap_or_else(|| panic!("{name}: {arn}"));
                    assert!(uuid::Uuid::try_parse(id).is_ok(), "{arn}");
                    managed.insert(arn.to_owned());
                }
            }
        }
    }
    assert_eq!(managed.len(), 1, "{managed:?}");

    let r = app
        .ecr
        .create_repository()
        .repository_name("enc-bad")
        .encryption_configuration(
            EncryptionConfiguration::builder()
                .encryption_type(EncryptionType::Aes256)
                .kms_key(&key)
                .build()
                .expect("encryption"),
        )
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "kmsKey with AES256");
    let r = app
        .ecr
        .create_repository()
        .repository_name("enc-bad")
        .encryption_configuration(
            EncryptionConfiguration::builder()
                .encryption_type(EncryptionType::from("DES"))
                .build()
                .expect("encryption"),
        )
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "unknown encryption type");
    assert!(!all_repository_names(&app)
        .await
        .contains(&"enc-bad".to_owned()));
}

async fn create_resource_tags(app: TestApp) {
    app.ecr
        .create_repository()
        .repository_name("tagged")
        .tags(rtag("team", "web"))
        .tags(rtag("env", "prod"))
        .send()
        .await
        .expect("create tagged");
    assert_eq!(
        list_tags(&app, "tagged").await,
        vec![
            ("env".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "web".to_owned())
        ]
    );

    // Exactly 50 tags, and the longest key and value, are accepted.
    let mut fifty = app.ecr.create_repository().repository_name("fifty");
    for i in 0..49 {
        fifty = fifty.tags(rtag(&format!("k{i}"), &format!("v{i}")));
    }
    fifty
        .tags(rtag(&"k".repeat(128), &"v".repeat(256)))
        .send()
        .await
        .expect("50 tags");
    let tags = list_tags(&app, "fifty").await;
    assert_eq!(tags.len(), 50);
    assert!(tags.contains(&("k".repeat(128), "v".repeat(256))));
}

async fn create_resource_tag_limits(app: TestApp) {
    let mut many = app.ecr.create_repository().repository_name("many");
    for i in 0..51 {
        many = many.tags(rtag(&format!("k{i}"), "v"));
    }
    let r = many.send().await;
    assert_code(r, "TooManyTagsException", "51 tags");

    let long_key = app
        .ecr
        .create_repository()
        .repository_name("long-key")
        .tags(rtag(&"k".repeat(129), "v"));
    let long_value = app
        .ecr
        .create_repository()
        .repository_name("long-value")
        .tags(rtag("k", &"v".repeat(257)));
    for req in [long_key, long_value] {
        let r = req.send().await;
        assert_code(r, "InvalidTagParameterException", "bad tag");
    }
    // A refused call creates nothing.
    assert!(all_repository_names(&app).await.is_empty());
}

async fn create_bad_names(app: TestApp) {
    let too_long = "a".repeat(257);
    for name in [
        "a",
        "Upper",
        "team/",
        "/team",
        "a//b",
        "a..b",
        "-ab",
        "ab-",
        "a b",
        "a___b",
        too_long.as_str(),
    ] {
        let r = app
            .ecr
            .create_repository()
            .repository_name(name)
            .send()
            .await;
        let err = assert_code(r, "InvalidParameterException", name);
        assert!(
            err.message().is_some_and(|m| m.contains("repositoryName")),
            "{name}: {err:?}"
        );
    }
    // The longest allowed name works.
    let longest = "a".repeat(256);
    app.create_repo(&longest).await;
    assert_eq!(all_repository_names(&app).await, vec![longest]);
}

async fn describe_by_names(app: TestApp) {
    for name in ["alpha", "beta", "team/gamma"] {
        app.create_repo(name).await;
    }
    assert_eq!(
        all_repository_names(&app).await,
        vec!["alpha", "beta", "team/gamma"]
    );

    let out = app
        .ecr
        .describe_repositories()
        .repository_names("team/gamma")
        .repository_names("alpha")
        .send()
        .await
        .expect("by names");
    let names: BTreeSet<&str> = out
        .repositories()
        .iter()
        .filter_map(Repository::repository_name)
        .collect();
    assert_eq!(names, BTreeSet::from(["alpha", "team/gamma"]));
    assert!(out.next_token().is_none());

    // One missing name fails the whole call.
    let r = app
        .ecr
        .describe_repositories()
        .repository_names("alpha")
        .repository_names("missing")
        .repository_names("beta")
        .send()
        .await;
    let err = assert_code(r, "RepositoryNotFoundException", "a missing name");
    assert!(err.message().is_some_and(|m| m.contains("missing")));

    let r = app
        .ecr
        .describe_repositories()
        .repository_names("Bad Name")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "a malformed name");
}

async fn describe_pagination(app: TestApp) {
    let mut expected: Vec<String> = (0..7).map(|i| format!("page/repo-{i}")).collect();
    for name in &expected {
        app.create_repo(name).await;
    }
    expected.sort();

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = app
            .ecr
            .describe_repositories()
            .max_results(3)
            .set_next_token(token.take())
            .send()
            .await
            .expect("page");
        pages += 1;
        assert!(out.repositories().len() <= 3);
        assert!(!out.repositories().is_empty(), "an empty page");
        seen.extend(
            out.repositories()
                .iter()
                .filter_map(|r| r.repository_name().map(str::to_owned)),
        );
        match out.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        seen.len(),
        "duplicates across pages: {seen:?}"
    );
    assert_eq!(sorted, expected, "gaps across pages");

    // A page that holds exactly the rest carries no token.
    let out = app
        .ecr
        .describe_repositories()
        .max_results(7)
        .send()
        .await
        .expect("one full page");
    assert_eq!(out.repositories().len(), 7);
    assert!(out.next_token().is_none());

    for bad in [0, 1001] {
        let r = app
            .ecr
            .describe_repositories()
            .max_results(bad)
            .send()
            .await;
        assert_code(
            r,
            "InvalidParameterException",
            &format!("maxResults out of range: {bad}"),
        );
    }
}

async fn describe_default_page(app: TestApp) {
    let mut expected: Vec<String> = (0..101).map(|i| format!("many-{i:03}")).collect();
    for name in &expected {
        app.create_repo(name).await;
    }
    expected.sort();
    let first = app
        .ecr
        .describe_repositories()
        .send()
        .await
        .expect("first page");
    assert_eq!(first.repositories().len(), 100, "the default page is 100");
    let token = first.next_token().expect("more follow");
    let rest = app
        .ecr
        .describe_repositories()
        .next_token(token)
        .send()
        .await
        .expect("second page");
    assert!(rest.next_token().is_none());
    let seen: Vec<String> = first
        .repositories()
        .iter()
        .chain(rest.repositories())
        .filter_map(|r| r.repository_name().map(str::to_owned))
        .collect();
    assert_eq!(seen, expected);
}

async fn describe_token_misuse(app: TestApp) {
    for name in ["one", "two", "three"] {
        app.create_repo(name).await;
    }
    let first = app
        .ecr
        .describe_repositories()
        .max_results(1)
        .send()
        .await
        .expect("first page");
    let token = first.next_token().expect("a token").to_owned();

    // Forged tokens: made up, and a real one altered.
    let mut altered = token.clone().into_bytes();
    let at = altered.len() - 5;
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ascii");
    let made_up = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"s":"x","c":"a"}"#);
    for forged in [made_up, altered, "not a token".to_owned()] {
        let r = app
            .ecr
            .describe_repositories()
            .next_token(&forged)
            .send()
            .await;
        assert_code(
            r,
            "InvalidParameterException",
            &format!("forged token: {forged}"),
        );
    }

    // A token issued by another listing (ListImages) does not resume this one.
    app.push_image("one", Some("a"), 0).await;
    app.push_image("one", Some("b"), 0).await;
    let images = app
        .ecr
        .list_images()
        .repository_name("one")
        .max_results(1)
        .send()
        .await
        .expect("list images");
    let foreign = images.next_token().expect("an image token");
    let r = app
        .ecr
        .describe_repositories()
        .next_token(foreign)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "another listing's token");

    // A token together with names.
    let r = app
        .ecr
        .describe_repositories()
        .repository_names("one")
        .next_token(&token)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "token with names");

    // The genuine token still resumes.
    let next = app
        .ecr
        .describe_repositories()
        .max_results(1)
        .next_token(&token)
        .send()
        .await
        .expect("second page");
    assert_eq!(next.repositories().len(), 1);
    assert_ne!(
        next.repositories()[0].repository_name(),
        first.repositories()[0].repository_name()
    );
}

async fn delete_repository_rules(app: TestApp) {
    app.create_repo("full").await;
    let (_, digest) = app.push_image("full", Some("v1"), 1).await;

    let r = app
        .ecr
        .delete_repository()
        .repository_name("full")
        .send()
        .await;
    assert_code(r, "RepositoryNotEmptyException", "not empty");
    // Still there, image and all.
    let images = app
        .ecr
        .list_images()
        .repository_name("full")
        .send()
        .await
        .expect("list images");
    assert_eq!(images.image_ids().len(), 1);
    assert_eq!(images.image_ids()[0].image_digest(), Some(digest.as_str()));

    app.ecr
        .tag_resource()
        .resource_arn(arn("full"))
        .tags(rtag("owner", "me"))
        .send()
        .await
        .expect("tag");
    let pending = initiate_upload(&app.ecr, "full").await;

    let deleted = app
        .ecr
        .delete_repository()
        .repository_name("full")
        .force(true)
        .send()
        .await
        .expect("force delete");
    let repo = deleted.repository().expect("repository");
    assert_eq!(repo.repository_name(), Some("full"));
    assert_eq!(repo.registry_id(), Some(ACCOUNT));
    assert_eq!(repo.repository_arn(), Some(arn("full").as_str()));
    assert!(all_repository_names(&app).await.is_empty());

    // Recreated under the same name, it is empty: no images, no resource tags, and
    // the old repository's upload is gone.
    app.create_repo("full").await;
    let images = app
        .ecr
        .list_images()
        .repository_name("full")
        .send()
        .await
        .expect("list images");
    assert!(images.image_ids().is_empty());
    assert!(list_tags(&app, "full").await.is_empty());
    let r = upload_part(&app.ecr, "full", &pending, 0, b"x").await;
    assert_code(r, "UploadNotFoundException", "the old upload");

    // Uploaded layers alone do not make a repository "not empty".
    app.push_blob("full", b"a lone layer").await;
    app.ecr
        .delete_repository()
        .repository_name("full")
        .send()
        .await
        .expect("delete a repository without images");

    let r = app
        .ecr
        .delete_repository()
        .repository_name("full")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "already gone");
}

async fn put_image_tag_mutability_modes(app: TestApp) {
    app.create_repo("mut").await;
    let cases: [(ImageTagMutability, Vec<&str>); 5] = [
        (ImageTagMutability::Immutable, vec![]),
        (
            ImageTagMutability::ImmutableWithExclusion,
            vec!["dev-*", "*-rc*"],
        ),
        (ImageTagMutability::MutableWithExclusion, vec!["release"]),
        (ImageTagMutability::Mutable, vec![]),
        (
            ImageTagMutability::MutableWithExclusion,
            vec!["a", "b", "c", "d", "e*"],
        ),
    ];
    for (mode, filters) in cases {
        let mut req = app
            .ecr
            .put_image_tag_mutability()
            .repository_name("mut")
            .image_tag_mutability(mode.clone());
        for f in &filters {
            req = req.image_tag_mutability_exclusion_filters(wildcard(f));
        }
        let out = req.send().await.expect("put mutability");
        let expected: Vec<(String, String)> = filters
            .iter()
            .map(|f| ("WILDCARD".to_owned(), (*f).to_owned()))
            .collect();
        assert_eq!(out.registry_id(), Some(ACCOUNT));
        assert_eq!(out.repository_name(), Some("mut"));
        assert_eq!(out.image_tag_mutability(), Some(&mode));
        assert_eq!(
            filters_of(out.image_tag_mutability_exclusion_filters()),
            expected
        );
        let repo = describe_repository(&app.ecr, "mut").await;
        assert_eq!(repo.image_tag_mutability(), Some(&mode));
        assert_eq!(
            filters_of(repo.image_tag_mutability_exclusion_filters()),
            expected
        );
    }

    // Refused combinations leave the setting as it was.
    let with_filter = app
        .ecr
        .put_image_tag_mutability()
        .repository_name("mut")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .image_tag_mutability_exclusion_filters(wildcard("x"));
    let without_filter = app
        .ecr
        .put_image_tag_mutability()
        .repository_name("mut")
        .image_tag_mutability(ImageTagMutability::ImmutableWithExclusion);
    let unknown_mode = app
        .ecr
        .put_image_tag_mutability()
        .repository_name("mut")
        .image_tag_mutability(ImageTagMutability::from("SOMETIMES"));
    for req in [with_filter, without_filter, unknown_mode] {
        let r = req.send().await;
        assert_code(r, "InvalidParameterException", "refused");
    }
    let repo = describe_repository(&app.ecr, "mut").await;
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::MutableWithExclusion)
    );
    assert_eq!(repo.image_tag_mutability_exclusion_filters().len(), 5);

    let r = app
        .ecr
        .put_image_tag_mutability()
        .repository_name("missing")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "missing repository");
}

async fn put_image_scanning_configuration(app: TestApp) {
    app.create_repo("scan").await;
    for on in [true, false, true] {
        let out = app
            .ecr
            .put_image_scanning_configuration()
            .repository_name("scan")
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(on)
                    .build(),
            )
            .send()
            .await
            .expect("put scanning");
        assert_eq!(out.registry_id(), Some(ACCOUNT));
        assert_eq!(out.repository_name(), Some("scan"));
        assert_eq!(
            out.image_scanning_configuration()
                .map(ImageScanningConfiguration::scan_on_push),
            Some(on)
        );
        let repo = describe_repository(&app.ecr, "scan").await;
        assert_eq!(
            repo.image_scanning_configuration()
                .map(ImageScanningConfiguration::scan_on_push),
            Some(on)
        );
    }
    let r = app
        .ecr
        .put_image_scanning_configuration()
        .repository_name("missing")
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "missing repository");
}

async fn resource_tagging(app: TestApp) {
    app.create_repo("team/res").await;
    app.ecr
        .tag_resource()
        .resource_arn(arn("team/res"))
        .tags(rtag("a", "1"))
        .tags(rtag("b", "2"))
        .send()
        .await
        .expect("tag");
    assert_eq!(
        list_tags(&app, "team/res").await,
        vec![("a".into(), "1".into()), ("b".into(), "2".into())]
    );

    // Overwrite a value, add another.
    app.ecr
        .tag_resource()
        .resource_arn(arn("team/res"))
        .tags(rtag("a", "changed"))
        .tags(rtag("c", ""))
        .send()
        .await
        .expect("overwrite");
    assert_eq!(
        list_tags(&app, "team/res").await,
        vec![
            ("a".into(), "changed".into()),
            ("b".into(), "2".into()),
            ("c".into(), "".into())
        ]
    );

    // Untag removes the named keys; unknown keys are ignored.
    app.ecr
        .untag_resource()
        .resource_arn(arn("team/res"))
        .tag_keys("a")
        .tag_keys("c")
        .tag_keys("never-set")
        .send()
        .await
        .expect("untag");
    assert_eq!(
        list_tags(&app, "team/res").await,
        vec![("b".into(), "2".into())]
    );

    // Up to 50 tags in total, counting the ones already there.
    let mut req = app.ecr.tag_resource().resource_arn(arn("team/res"));
    for i in 0..49 {
        req = req.tags(rtag(&format!("k{i:02}"), "v"));
    }
    req.send().await.expect("up to 50 tags");
    assert_eq!(list_tags(&app, "team/res").await.len(), 50);
    let r = app
        .ecr
        .tag_resource()
        .resource_arn(arn("team/res"))
        .tags(rtag("b", "overwritten"))
        .tags(rtag("one-too-many", "v"))
        .send()
        .await;
    assert_code(r, "TooManyTagsException", "51st tag");
    let tags = list_tags(&app, "team/res").await;
    assert_eq!(tags.len(), 50);
    assert!(
        tags.contains(&("b".into(), "2".into())),
        "a refused call changed nothing"
    );
    // Overwriting at the limit is fine.
    app.ecr
        .tag_resource()
        .resource_arn(arn("team/res"))
        .tags(rtag("b", "3"))
        .send()
        .await
        .expect("overwrite at the limit");
    assert!(list_tags(&app, "team/res")
        .await
        .contains(&("b".into(), "3".into())));
}

async fn resource_tagging_errors(app: TestApp) {
    app.create_repo("res").await;
    let bad_arns = [
        "not-an-arn".to_owned(),
        format!("arn:aws:ecs:{REGION}:{ACCOUNT}:repository/res"),
        format!("arn:aws:ecr:{REGION}:{ACCOUNT}:cluster/res"),
        format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/Bad Name"),
        format!("arn:aws:ecr:{REGION}:notanaccount:repository/res"),
        format!("arn:aws:ecr:us-west-2:{ACCOUNT}:repository/res"),
    ];
    for bad in &bad_arns {
        let r = app
            .ecr
            .list_tags_for_resource()
            .resource_arn(bad)
            .send()
            .await;
        assert_code(r, "InvalidParameterException", &format!("bad arn: {bad}"));
        let r = app
            .ecr
            .tag_resource()
            .resource_arn(bad)
            .tags(rtag("k", "v"))
            .send()
            .await;
        assert_code(r, "InvalidParameterException", &format!("bad arn: {bad}"));
        let r = app
            .ecr
            .untag_resource()
            .resource_arn(bad)
            .tag_keys("k")
            .send()
            .await;
        assert_code(r, "InvalidParameterException", &format!("bad arn: {bad}"));
    }

    let unknown = arn("missing");
    let r = app
        .ecr
        .list_tags_for_resource()
        .resource_arn(&unknown)
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "unknown repository");
    let r = app
        .ecr
        .tag_resource()
        .resource_arn(&unknown)
        .tags(rtag("k", "v"))
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "unknown repository");
    let r = app
        .ecr
        .untag_resource()
        .resource_arn(&unknown)
        .tag_keys("k")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "unknown repository");

    // Bad tags on TagResource.
    for (key, value) in [
        ("k".repeat(129), "v".to_owned()),
        ("k".into(), "v".repeat(257)),
    ] {
        let r = app
            .ecr
            .tag_resource()
            .resource_arn(arn("res"))
            .tags(rtag(&key, &value))
            .send()
            .await;
        assert_code(r, "InvalidTagParameterException", "bad tag");
    }
    for key in ["aws:owner", "AWS:owner", ""] {
        let r = app
            .ecr
            .tag_resource()
            .resource_arn(arn("res"))
            .tags(rtag(key, "v"))
            .send()
            .await;
        assert_code(
            r,
            "InvalidTagParameterException",
            &format!("reserved or empty key: {key:?}"),
        );
    }
    let r = app
        .ecr
        .untag_resource()
        .resource_arn(arn("res"))
        .tag_keys("k".repeat(129))
        .send()
        .await;
    assert_code(r, "InvalidTagParameterException", "long key");
    let mut many = app.ecr.tag_resource().resource_arn(arn("res"));
    for i in 0..51 {
        many = many.tags(rtag(&format!("k{i}"), "v"));
    }
    let r = many.send().await;
    assert_code(r, "TooManyTagsException", "51 tags at once");
    assert!(list_tags(&app, "res").await.is_empty());
}

async fn describe_registry(app: TestApp) {
    let out = app.ecr.describe_registry().send().await.expect("describe");
    assert_eq!(out.registry_id(), Some(ACCOUNT));
    let replication = out.replication_configuration().expect("replication");
    assert!(replication.rules().is_empty());
}

// `registryIds` is deprecated in the model but still sent by older clients.
#[allow(deprecated)]
async fn get_authorization_token(app: TestApp) {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    for req in [
        app.ecr.get_authorization_token(),
        app.ecr.get_authorization_token().registry_ids(ACCOUNT),
    ] {
        let out = req.send().await.expect("token");
        assert_eq!(out.authorization_data().len(), 1);
        let data = &out.authorization_data()[0];
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data.authorization_token().expect("token"))
            .expect("base64");
        let decoded = String::from_utf8(decoded).expect("utf-8");
        let password = decoded.strip_prefix("AWS:").expect("AWS: prefix");
        assert!(!password.is_empty());
        assert!(!password.contains(':'));
        let expires = data.expires_at().expect("expiresAt").as_secs_f64();
        let twelve_hours = 12.0 * 3600.0;
        assert!(
            (expires - before - twelve_hours).abs() < 300.0,
            "expiresAt {expires} is not about 12 hours after {before}"
        );
        assert_eq!(data.proxy_endpoint(), Some(app.url.as_str()));
    }

    // Another account's registry gets its own password (what it opens is that
    // registry's policies' to say).
    let out = app
        .ecr
        .get_authorization_token()
        .registry_ids(ACCOUNT)
        .registry_ids(FOREIGN_ACCOUNT)
        .send()
        .await
        .expect("a token per registry");
    assert_eq!(out.authorization_data().len(), 2);
    let r = app
        .ecr
        .get_authorization_token()
        .registry_ids("not-an-id")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "malformed registry id");
}

async fn other_registries_are_refused_without_a_policy(app: TestApp) {
    app.create_repo("mine").await;
    let digest = app.push_blob("mine", b"a layer").await;
    let upload_id = initiate_upload(&app.ecr, "mine").await;
    let manifest = app.image_manifest("mine", 1).await;
    put_image(&app.ecr, "mine", &manifest, Some("v1"))
        .await
        .expect("put image");
    let image_id = by_tag("v1");
    for registry in [FOREIGN_ACCOUNT, "12345", "abcdefghijkl"] {
        // Another account's registry is the policies' to open (it has none here); a
        // malformed id is refused before that.
        let code = if registry == FOREIGN_ACCOUNT {
            "AccessDeniedException"
        } else {
            "InvalidParameterException"
        };
        let r = app
            .ecr
            .create_repository()
            .registry_id(registry)
            .repository_name("theirs")
            .send()
            .await;
        assert_code(r, code, "CreateRepository");
        let r = app
            .ecr
            .describe_repositories()
            .registry_id(registry)
            .send()
            .await;
        assert_code(r, code, "DescribeRepositories");
        let r = app
            .ecr
            .describe_repositories()
            .registry_id(registry)
            .repository_names("mine")
            .send()
            .await;
        assert_code(r, code, "DescribeRepositories by name");
        let r = app
            .ecr
            .delete_repository()
            .registry_id(registry)
            .repository_name("mine")
            .send()
            .await;
        assert_code(r, code, "DeleteRepository");
        let r = app
            .ecr
            .put_image_tag_mutability()
            .registry_id(registry)
            .repository_name("mine")
            .image_tag_mutability(ImageTagMutability::Immutable)
            .send()
            .await;
        assert_code(r, code, "PutImageTagMutability");
        let r = app
            .ecr
            .put_image_scanning_configuration()
            .registry_id(registry)
            .repository_name("mine")
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            )
            .send()
            .await;
        assert_code(r, code, "PutImageScanningConfiguration");
        let r = app
            .ecr
            .initiate_layer_upload()
            .registry_id(registry)
            .repository_name("mine")
            .send()
            .await;
        assert_code(r, code, "InitiateLayerUpload");
        let r = app
            .ecr
            .upload_layer_part()
            .registry_id(registry)
            .repository_name("mine")
            .upload_id(&upload_id)
            .part_first_byte(0)
            .part_last_byte(0)
            .layer_part_blob(Blob::new(b"x".to_vec()))
            .send()
            .await;
        assert_code(r, code, "UploadLayerPart");
        let r = app
            .ecr
            .complete_layer_upload()
            .registry_id(registry)
            .repository_name("mine")
            .upload_id(&upload_id)
            .layer_digests(&digest)
            .send()
            .await;
        assert_code(r, code, "CompleteLayerUpload");
        let r = app
            .ecr
            .batch_check_layer_availability()
            .registry_id(registry)
            .repository_name("mine")
            .layer_digests(&digest)
            .send()
            .await;
        assert_code(r, code, "BatchCheckLayerAvailability");
        let r = app
            .ecr
            .get_download_url_for_layer()
            .registry_id(registry)
            .repository_name("mine")
            .layer_digest(&digest)
            .send()
            .await;
        assert_code(r, code, "GetDownloadUrlForLayer");
        let r = app
            .ecr
            .list_images()
            .registry_id(registry)
            .repository_name("mine")
            .send()
            .await;
        assert_code(r, code, "ListImages");
        let r = app
            .ecr
            .describe_images()
            .registry_id(registry)
            .repository_name("mine")
            .send()
            .await;
        assert_code(r, code, "DescribeImages");
        let r = app
            .ecr
            .put_image()
            .registry_id(registry)
            .repository_name("mine")
            .image_manifest(&manifest)
            .image_tag("theirs")
            .send()
            .await;
        assert_code(r, code, "PutImage");
        let r = app
            .ecr
            .batch_get_image()
            .registry_id(registry)
            .repository_name("mine")
            .image_ids(image_id.clone())
            .send()
            .await;
        assert_code(r, code, "BatchGetImage");
        let r = app
            .ecr
            .batch_delete_image()
            .registry_id(registry)
            .repository_name("mine")
            .image_ids(image_id.clone())
            .send()
            .await;
        assert_code(r, code, "BatchDeleteImage");
    }
    // The refused image calls changed nothing.
    let images = app
        .ecr
        .list_images()
        .repository_name("mine")
        .send()
        .await
        .expect("list images");
    assert_eq!(images.image_ids().len(), 1);
    assert_eq!(images.image_ids()[0].image_tag(), Some("v1"));
    // Nothing happened to the caller's own registry; the account's own id works.
    let repo = app
        .ecr
        .describe_repositories()
        .registry_id(ACCOUNT)
        .repository_names("mine")
        .send()
        .await
        .expect("own registry id");
    assert_eq!(
        repo.repositories()[0].image_tag_mutability(),
        Some(&ImageTagMutability::Mutable)
    );
    assert_eq!(all_repository_names(&app).await, vec!["mine"]);
    // The upload was not advanced by the refused part.
    app.ecr
        .upload_layer_part()
        .registry_id(ACCOUNT)
        .repository_name("mine")
        .upload_id(&upload_id)
        .part_first_byte(0)
        .part_last_byte(0)
        .layer_part_blob(Blob::new(b"y".to_vec()))
        .send()
        .await
        .expect("part at 0 after the refused ones");
}

/// A second server on the same metadata store and data directory (a restart, or a
/// second replica) sees every setting, and accepts the tokens the first one issued.
async fn second_server_on_the_same_store(app: TestApp) {
    let backend = app.backend;
    app.ecr
        .create_repository()
        .repository_name("kept")
        .image_tag_mutability(ImageTagMutability::ImmutableWithExclusion)
        .image_tag_mutability_exclusion_filters(wildcard("dev-*"))
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .encryption_configuration(
            EncryptionConfiguration::builder()
                .encryption_type(EncryptionType::Kms)
                .kms_key("alias/kept")
                .build()
                .expect("encryption"),
        )
        .tags(rtag("owner", "team"))
        .send()
        .await
        .expect("create");
    app.create_repo("later").await;
    let (manifest, _) = app.push_image("kept", Some("v1"), 1).await;
    let layer = serde_json::from_str::<serde_json::Value>(&manifest).expect("json")["layers"][0]
        ["digest"]
        .as_str()
        .expect("layer digest")
        .to_owned();
    let url = layer_download_url(&app.ecr, "kept", &layer).await;
    let page = app
        .ecr
        .describe_repositories()
        .max_results(1)
        .send()
        .await
        .expect("first page");
    let token = page.next_token().expect("a token").to_owned();
    let upload = initiate_upload(&app.ecr, "kept").await;

    let config = crate::helpers::config(app.database_url.clone(), app.data_dir.path());
    let second = berth::startup::Application::build(config)
        .await
        .expect("second server");
    let second_url = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());
    let ecr = crate::helpers::ecr_client(
        &second_url,
        crate::helpers::ACCESS_KEY,
        crate::helpers::SECRET_KEY,
    );

    let repo = describe_repository(&ecr, "kept").await;
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::ImmutableWithExclusion),
        "{backend:?}"
    );
    assert_eq!(
        filters_of(repo.image_tag_mutability_exclusion_filters()),
        vec![("WILDCARD".to_owned(), "dev-*".to_owned())]
    );
    assert_eq!(
        repo.image_scanning_configuration()
            .map(ImageScanningConfiguration::scan_on_push),
        Some(true)
    );
    let enc = repo.encryption_configuration().expect("encryption");
    assert_eq!(enc.encryption_type(), &EncryptionType::Kms);
    assert_eq!(enc.kms_key(), Some("alias/kept"));
    let tags = ecr
        .list_tags_for_resource()
        .resource_arn(arn("kept"))
        .send()
        .await
        .expect("tags");
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].value(), "team");

    // The first server's page token resumes on the second.
    let rest = ecr
        .describe_repositories()
        .max_results(1)
        .next_token(&token)
        .send()
        .await
        .expect("page token from the first server");
    assert_eq!(rest.repositories().len(), 1);
    assert_ne!(
        rest.repositories()[0].repository_name(),
        page.repositories()[0].repository_name()
    );

    // The first server's download URL works against the second.
    let path = url.strip_prefix(&app.url).expect("url on the first server");
    let got = reqwest::get(format!("{second_url}{path}"))
        .await
        .expect("download");
    assert_eq!(got.status(), 200, "{backend:?}");
    assert_eq!(sha256(&got.bytes().await.expect("body")), layer);

    // An upload begun on the first server continues on the second and completes on
    // the first.
    upload_part(&ecr, "kept", &upload, 0, b"moved")
        .await
        .expect("part on the second server");
    let done = complete_upload(&app.ecr, "kept", &upload, &sha256(b"moved"))
        .await
        .expect("complete on the first server");
    assert_eq!(done.layer_digest(), Some(sha256(b"moved").as_str()));
}
