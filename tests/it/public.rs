//! The ECR Public face through the official AWS SDK for Rust (`aws-sdk-ecrpublic`):
//! all 23 actions and their error paths, and the public registry's `/v2/` (its own
//! listener, names `<alias>/<name>`, anonymous pulls).

use aws_sdk_ecrpublic::error::ProvideErrorMetadata;
use aws_sdk_ecrpublic::primitives::Blob;
use aws_sdk_ecrpublic::types::{ImageIdentifier, RepositoryCatalogDataInput, Tag};
use serde_json::{json, Value};

use crate::both_stores;
use crate::fixtures::{
    assert_code, batch_get_image, by_digest, by_tag, complete_public_upload,
    initiate_public_upload, upload_public_part, Descriptor, Manifest, OCI_CONFIG, OCI_INDEX,
    OCI_MANIFEST,
};
use crate::helpers::{sha256, TestApp, ACCESS_KEY, ACCOUNT, ALIAS, SECRET_KEY};

both_stores!(
    repositories_live_in_their_own_namespace,
    repository_errors,
    catalog_data_and_logo,
    repository_policies,
    resource_tags_by_public_arn,
    registries_and_registry_catalog_data,
    layer_uploads_accept_the_alias,
    put_image_enforces_the_shared_rules,
    describe_images_and_image_tags_page,
    batch_delete_image,
    tokens_and_the_public_registry_face,
    requests_signed_for_the_other_service_are_refused,
);

/// A minimal valid PNG (1x1, transparent).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

async fn repositories_live_in_their_own_namespace(app: TestApp) {
    let created = app
        .ecr_public
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
        Some(format!("arn:aws:ecr-public::{ACCOUNT}:repository/team/web").as_str())
    );
    let host = app.public_url.trim_start_matches("http://");
    assert_eq!(
        repo.repository_uri(),
        Some(format!("{host}/{ALIAS}/team/web").as_str())
    );
    assert!(repo.created_at().is_some());
    assert!(created.catalog_data().is_none());

    // The same name in the private registry is another repository.
    app.create_repo("team/web").await;
    let private = app.ecr.describe_repositories().send().await.expect("ecr");
    assert_eq!(private.repositories().len(), 1);
    assert!(private.repositories()[0]
        .repository_arn()
        .is_some_and(|a| a.starts_with("arn:aws:ecr:")));
    app.create_repo("private/only").await;
    app.create_public("public/only").await;
    let names = |repos: Vec<Option<String>>| repos.into_iter().flatten().collect::<Vec<_>>();
    let public = app
        .ecr_public
        .describe_repositories()
        .send()
        .await
        .expect("public");
    assert_eq!(
        names(
            public
                .repositories()
                .iter()
                .map(|r| r.repository_name().map(str::to_owned))
                .collect()
        ),
        ["public/only", "team/web"]
    );
    let private = app.ecr.describe_repositories().send().await.expect("ecr");
    assert_eq!(
        names(
            private
                .repositories()
                .iter()
                .map(|r| r.repository_name().map(str::to_owned))
                .collect()
        ),
        ["private/only", "team/web"]
    );

    // Paging, and the named form.
    app.create_public("zeta").await;
    let first = app
        .ecr_public
        .describe_repositories()
        .max_results(2)
        .send()
        .await
        .expect("page 1");
    assert_eq!(first.repositories().len(), 2);
    let token = first.next_token().expect("a next token").to_owned();
    let second = app
        .ecr_public
        .describe_repositories()
        .next_token(&token)
        .max_results(2)
        .send()
        .await
        .expect("page 2");
    assert_eq!(second.repositories().len(), 1);
    assert_eq!(second.repositories()[0].repository_name(), Some("zeta"));
    assert!(second.next_token().is_none());
    // A private listing's token does not page the public listing.
    let private_token = app
        .ecr
        .describe_repositories()
        .max_results(1)
        .send()
        .await
        .expect("private page")
        .next_token()
        .expect("token")
        .to_owned();
    let r = app
        .ecr_public
        .describe_repositories()
        .next_token(private_token)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "DescribeRepositories");
    let named = app
        .ecr_public
        .describe_repositories()
        .repository_names("zeta")
        .repository_names("team/web")
        .send()
        .await
        .expect("named");
    assert_eq!(named.repositories().len(), 2);
    let r = app
        .ecr_public
        .describe_repositories()
        .repository_names("private/only")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "DescribeRepositories");
    let r = app
        .ecr_public
        .describe_repositories()
        .repository_names("zeta")
        .next_token(token)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "DescribeRepositories");

    // Deleting: empty, then not empty without force, then with force.
    let deleted = app
        .ecr_public
        .delete_repository()
        .repository_name("zeta")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        deleted.repository().and_then(|r| r.repository_name()),
        Some("zeta")
    );
    app.push_public_image("team/web", "v1").await;
    let r = app
        .ecr_public
        .delete_repository()
        .repository_name("team/web")
        .send()
        .await;
    assert_code(r, "RepositoryNotEmptyException", "DeleteRepository");
    app.ecr_public
        .delete_repository()
        .repository_name("team/web")
        .force(true)
        .send()
        .await
        .expect("forced delete");
    let r = app
        .ecr_public
        .delete_repository()
        .repository_name("team/web")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "DeleteRepository");
    // The private namesake is untouched.
    app.ecr
        .describe_repositories()
        .repository_names("team/web")
        .send()
        .await
        .expect("the private repository remains");
}

async fn repository_errors(app: TestApp) {
    app.create_public("dup").await;
    let r = app
        .ecr_public
        .create_repository()
        .repository_name("dup")
        .send()
        .await;
    assert_code(r, "RepositoryAlreadyExistsException", "CreateRepository");
    // ECR allows `__` in names; ECR Public's pattern does not.
    for bad in ["a__b", "Upper", "trailing-", "x"] {
        let r = app
            .ecr_public
            .create_repository()
            .repository_name(bad)
            .send()
            .await;
        assert_code(r, "InvalidParameterException", bad);
    }
    let many: Vec<Tag> = (0..51)
        .map(|i| Tag::builder().key(format!("k{i}")).value("v").build())
        .collect();
    let r = app
        .ecr_public
        .create_repository()
        .repository_name("tagged")
        .set_tags(Some(many))
        .send()
        .await;
    assert_code(r, "TooManyTagsException", "CreateRepository");
    let r = app
        .ecr_public
        .create_repository()
        .repository_name("tagged")
        .tags(Tag::builder().key("aws:reserved").value("v").build())
        .send()
        .await;
    assert_code(r, "InvalidTagParameterException", "CreateRepository");
    // Nothing was created by the refused calls.
    let all = app
        .ecr_public
        .describe_repositories()
        .send()
        .await
        .expect("list");
    assert_eq!(all.repositories().len(), 1);
}

async fn catalog_data_and_logo(app: TestApp) {
    let input = RepositoryCatalogDataInput::builder()
        .description("A web server")
        .about_text("# About\nIt serves.")
        .usage_text("docker pull it")
        .architectures("x86-64")
        .architectures("ARM 64")
        .operating_systems("Linux")
        .logo_image_blob(Blob::new(PNG))
        .build();
    let created = app
        .ecr_public
        .create_repository()
        .repository_name("catalogued")
        .catalog_data(input)
        .send()
        .await
        .expect("create with catalog data");
    let data = created.catalog_data().expect("catalog data");
    assert_eq!(data.description(), Some("A web server"));
    assert_eq!(data.about_text(), Some("# About\nIt serves."));
    assert_eq!(data.usage_text(), Some("docker pull it"));
    assert_eq!(data.architectures(), ["x86-64", "ARM 64"]);
    assert_eq!(data.operating_systems(), ["Linux"]);
    assert_eq!(data.marketplace_certified(), Some(false));
    let logo_url = data.logo_url().expect("a logo URL").to_owned();
    let logo = app.http.get(&logo_url).send().await.expect("logo");
    assert_eq!(logo.status(), 200);
    assert_eq!(
        logo.headers()["content-type"].to_str().expect("type"),
        "image/png"
    );
    assert_eq!(&logo.bytes().await.expect("bytes")[..], PNG);

    let got = app
        .ecr_public
        .get_repository_catalog_data()
        .repository_name("catalogued")
        .send()
        .await
        .expect("get");
    assert_eq!(got.catalog_data(), created.catalog_data());

    // Put replaces the whole catalog data, logo included.
    let put = app
        .ecr_public
        .put_repository_catalog_data()
        .repository_name("catalogued")
        .catalog_data(
            RepositoryCatalogDataInput::builder()
                .description("Now smaller")
                .build(),
        )
        .send()
        .await
        .expect("put");
    let data = put.catalog_data().expect("catalog data");
    assert_eq!(data.description(), Some("Now smaller"));
    assert!(data.about_text().is_none() && data.logo_url().is_none());
    assert!(data.architectures().is_empty());
    let gone = app.http.get(&logo_url).send().await.expect("logo");
    assert_eq!(gone.status(), 404);

    // A repository created without catalog data has none until it is put.
    app.create_public("bare").await;
    let r = app
        .ecr_public
        .get_repository_catalog_data()
        .repository_name("bare")
        .send()
        .await;
    assert_code(
        r,
        "RepositoryCatalogDataNotFoundException",
        "GetRepositoryCatalogData",
    );
    let r = app
        .ecr_public
        .get_repository_catalog_data()
        .repository_name("absent")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "GetRepositoryCatalogData");
    let r = app
        .ecr_public
        .put_repository_catalog_data()
        .repository_name("absent")
        .catalog_data(RepositoryCatalogDataInput::builder().build())
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "PutRepositoryCatalogData");

    // Refused input changes nothing: a logo that is not an image, text over the limit.
    let r = app
        .ecr_public
        .put_repository_catalog_data()
        .repository_name("catalogued")
        .catalog_data(
            RepositoryCatalogDataInput::builder()
                .logo_image_blob(Blob::new(b"GIF89a not accepted".to_vec()))
                .build(),
        )
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "PutRepositoryCatalogData");
    let r = app
        .ecr_public
        .put_repository_catalog_data()
        .repository_name("catalogued")
        .catalog_data(
            RepositoryCatalogDataInput::builder()
                .description("d".repeat(1025))
                .build(),
        )
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "PutRepositoryCatalogData");
    let r = app
        .ecr_public
        .create_repository()
        .repository_name("toolong")
        .catalog_data(
            RepositoryCatalogDataInput::builder()
                .architectures("a".repeat(51))
                .build(),
        )
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "CreateRepository");
    let still = app
        .ecr_public
        .get_repository_catalog_data()
        .repository_name("catalogued")
        .send()
        .await
        .expect("get");
    assert_eq!(still.catalog_data(), put.catalog_data());
}

async fn repository_policies(app: TestApp) {
    app.create_public("guarded").await;
    let r = app
        .ecr_public
        .get_repository_policy()
        .repository_name("guarded")
        .send()
        .await;
    assert_code(
        r,
        "RepositoryPolicyNotFoundException",
        "GetRepositoryPolicy",
    );
    let r = app
        .ecr_public
        .delete_repository_policy()
        .repository_name("guarded")
        .send()
        .await;
    assert_code(
        r,
        "RepositoryPolicyNotFoundException",
        "DeleteRepositoryPolicy",
    );

    // Odd spacing and key order survive byte for byte.
    let policy = "{ \"Version\":\"2012-10-17\",\n  \"Statement\": [ {\"Sid\":\"pull\", \"Effect\":\"Allow\",\"Principal\":\"*\",\n \"Action\":[\"ecr-public:BatchCheckLayerAvailability\"] } ] }";
    let set = app
        .ecr_public
        .set_repository_policy()
        .repository_name("guarded")
        .policy_text(policy)
        .send()
        .await
        .expect("set");
    assert_eq!(set.policy_text(), Some(policy));
    assert_eq!(set.registry_id(), Some(ACCOUNT));
    assert_eq!(set.repository_name(), Some("guarded"));
    let got = app
        .ecr_public
        .get_repository_policy()
        .repository_name("guarded")
        .send()
        .await
        .expect("get");
    assert_eq!(got.policy_text(), Some(policy));

    for bad in [
        "not json",
        "{}",
        r#"{"Statement": [{"Effect": "Allow", "Action": "x"}]}"#,
        r#"{"Version": "2019-01-01", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "x"}]}"#,
    ] {
        let r = app
            .ecr_public
            .set_repository_policy()
            .repository_name("guarded")
            .policy_text(bad)
            .force(true)
            .send()
            .await;
        assert_code(r, "InvalidParameterException", bad);
    }
    let r = app
        .ecr_public
        .set_repository_policy()
        .repository_name("guarded")
        .policy_text("x".repeat(10_241))
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "SetRepositoryPolicy");
    let still = app
        .ecr_public
        .get_repository_policy()
        .repository_name("guarded")
        .send()
        .await
        .expect("get");
    assert_eq!(still.policy_text(), Some(policy));

    let deleted = app
        .ecr_public
        .delete_repository_policy()
        .repository_name("guarded")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.policy_text(), Some(policy));
    let r = app
        .ecr_public
        .get_repository_policy()
        .repository_name("guarded")
        .send()
        .await;
    assert_code(
        r,
        "RepositoryPolicyNotFoundException",
        "GetRepositoryPolicy",
    );
    let r = app
        .ecr_public
        .set_repository_policy()
        .repository_name("absent")
        .policy_text(policy)
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "SetRepositoryPolicy");

    // The private face has the same actions over its own repositories.
    app.create_repo("guarded").await;
    let r = app
        .ecr
        .get_repository_policy()
        .repository_name("guarded")
        .send()
        .await;
    assert_code(r, "RepositoryPolicyNotFoundException", "no private policy");
    app.ecr
        .set_repository_policy()
        .repository_name("guarded")
        .policy_text(policy)
        .send()
        .await
        .expect("private set");
    let r = app
        .ecr_public
        .get_repository_policy()
        .repository_name("guarded")
        .send()
        .await;
    assert_code(
        r,
        "RepositoryPolicyNotFoundException",
        "GetRepositoryPolicy",
    );
}

async fn resource_tags_by_public_arn(app: TestApp) {
    app.create_public("tagged").await;
    let arn = format!("arn:aws:ecr-public::{ACCOUNT}:repository/tagged");
    app.ecr_public
        .tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("team").value("web").build())
        .tags(Tag::builder().key("env").value("prod").build())
        .send()
        .await
        .expect("tag");
    let listed = app
        .ecr_public
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list");
    let pairs: Vec<(&str, &str)> = listed
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert_eq!(pairs, [("env", "prod"), ("team", "web")]);
    app.ecr_public
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("env")
        .send()
        .await
        .expect("untag");
    let listed = app
        .ecr_public
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.tags().len(), 1);

    // A private ARN, or one with a region, does not name a public repository.
    for wrong in [
        format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/tagged"),
        format!("arn:aws:ecr-public:us-east-1:{ACCOUNT}:repository/tagged"),
        "tagged".to_owned(),
    ] {
        let r = app
            .ecr_public
            .list_tags_for_resource()
            .resource_arn(&wrong)
            .send()
            .await;
        assert_code(r, "InvalidParameterException", &wrong);
    }
    let r = app
        .ecr_public
        .tag_resource()
        .resource_arn(format!("arn:aws:ecr-public::{ACCOUNT}:repository/absent"))
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "TagResource");
    let many: Vec<Tag> = (0..50)
        .map(|i| Tag::builder().key(format!("k{i}")).value("v").build())
        .collect();
    let r = app
        .ecr_public
        .tag_resource()
        .resource_arn(&arn)
        .set_tags(Some(many))
        .send()
        .await;
    assert_code(r, "TooManyTagsException", "TagResource");
    let r = app
        .ecr_public
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("k".repeat(129))
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "UntagResource");
    let listed = app
        .ecr_public
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.tags().len(), 1, "refused calls changed nothing");
}

async fn registries_and_registry_catalog_data(app: TestApp) {
    let out = app
        .ecr_public
        .describe_registries()
        .send()
        .await
        .expect("describe registries");
    assert_eq!(out.registries().len(), 1);
    assert!(out.next_token().is_none());
    let registry = &out.registries()[0];
    assert_eq!(registry.registry_id(), ACCOUNT);
    assert_eq!(
        registry.registry_arn(),
        format!("arn:aws:ecr-public::{ACCOUNT}:registry/{ACCOUNT}")
    );
    let host = app.public_url.trim_start_matches("http://");
    assert_eq!(registry.registry_uri(), format!("{host}/{ALIAS}"));
    assert!(!registry.verified());
    let alias = &registry.aliases()[0];
    assert_eq!(alias.name(), ALIAS);
    assert_eq!(alias.status().as_str(), "ACTIVE");
    assert!(alias.primary_registry_alias() && alias.default_registry_alias());
    let paged = app
        .ecr_public
        .describe_registries()
        .max_results(1)
        .send()
        .await
        .expect("paged");
    assert_eq!(paged.registries().len(), 1);
    assert!(paged.next_token().is_none());
    let r = app
        .ecr_public
        .describe_registries()
        .next_token("forged")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "DescribeRegistries");
    let r = app
        .ecr_public
        .describe_registries()
        .max_results(1001)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "DescribeRegistries");

    let empty = app
        .ecr_public
        .get_registry_catalog_data()
        .send()
        .await
        .expect("get");
    assert!(empty
        .registry_catalog_data()
        .and_then(|d| d.display_name())
        .is_none());
    let put = app
        .ecr_public
        .put_registry_catalog_data()
        .display_name("Berth Test Org")
        .send()
        .await
        .expect("put");
    assert_eq!(
        put.registry_catalog_data().and_then(|d| d.display_name()),
        Some("Berth Test Org")
    );
    let r = app
        .ecr_public
        .put_registry_catalog_data()
        .display_name("n".repeat(101))
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "PutRegistryCatalogData");
    let got = app
        .ecr_public
        .get_registry_catalog_data()
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.registry_catalog_data().and_then(|d| d.display_name()),
        Some("Berth Test Org")
    );
}

async fn layer_uploads_accept_the_alias(app: TestApp) {
    app.create_public("layers").await;
    let by_alias = app
        .push_public_blob("layers", b"by alias", Some(ALIAS))
        .await;
    let by_account = app
        .push_public_blob("layers", b"by account", Some(ACCOUNT))
        .await;
    let missing = sha256(b"never uploaded");
    let checked = app
        .ecr_public
        .batch_check_layer_availability()
        .registry_id(ALIAS)
        .repository_name("layers")
        .layer_digests(&by_alias)
        .layer_digests(&by_account)
        .layer_digests(&missing)
        .send()
        .await
        .expect("check");
    let available: Vec<_> = checked
        .layers()
        .iter()
        .map(|l| {
            (
                l.layer_digest().unwrap_or_default(),
                l.layer_availability().map(|a| a.as_str()),
                l.layer_size(),
            )
        })
        .collect();
    assert_eq!(
        available,
        [
            (by_alias.as_str(), Some("AVAILABLE"), Some(8)),
            (by_account.as_str(), Some("AVAILABLE"), Some(10)),
        ]
    );
    assert_eq!(checked.failures().len(), 1);
    assert_eq!(checked.failures()[0].layer_digest(), Some(missing.as_str()));
    assert_eq!(
        checked.failures()[0].failure_code().map(|c| c.as_str()),
        Some("MissingLayerDigest")
    );
    // A public layer is not visible in the private namesake, nor the reverse.
    app.create_repo("layers").await;
    let private = app
        .ecr
        .batch_check_layer_availability()
        .repository_name("layers")
        .layer_digests(&by_alias)
        .send()
        .await
        .expect("private check");
    assert!(private.layers().is_empty());

    // Registries that are not this one.
    let r = app
        .ecr_public
        .initiate_layer_upload()
        .registry_id("someone-else")
        .repository_name("layers")
        .send()
        .await;
    assert_code(r, "RegistryNotFoundException", "InitiateLayerUpload");
    let r = app
        .ecr_public
        .batch_check_layer_availability()
        .registry_id("210987654321")
        .repository_name("layers")
        .layer_digests(&by_alias)
        .send()
        .await;
    assert_code(
        r,
        "RegistryNotFoundException",
        "BatchCheckLayerAvailability",
    );

    // The upload errors ECR Public models.
    let id = initiate_public_upload(&app.ecr_public, "layers").await;
    let r = complete_public_upload(&app.ecr_public, "layers", &id, &sha256(b"")).await;
    assert_code(r, "EmptyUploadException", "CompleteLayerUpload");
    let r = upload_public_part(&app.ecr_public, "layers", &id, 5, b"12345").await;
    assert_code(r, "InvalidLayerPartException", "misplaced part");
    upload_public_part(&app.ecr_public, "layers", &id, 0, b"12345")
        .await
        .expect("part");
    let r = complete_public_upload(&app.ecr_public, "layers", &id, &sha256(b"54321")).await;
    assert_code(r, "InvalidLayerException", "CompleteLayerUpload");
    let unknown = uuid::Uuid::new_v4().to_string();
    let r = upload_public_part(&app.ecr_public, "layers", &unknown, 0, b"1").await;
    assert_code(r, "UploadNotFoundException", "UploadLayerPart");
    let r = app
        .ecr_public
        .initiate_layer_upload()
        .repository_name("absent")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "InitiateLayerUpload");

    // Two parts, the first under 5 MiB: only the last part may be small.
    let id = initiate_public_upload(&app.ecr_public, "layers").await;
    upload_public_part(&app.ecr_public, "layers", &id, 0, b"first")
        .await
        .expect("first part");
    upload_public_part(&app.ecr_public, "layers", &id, 5, b"second")
        .await
        .expect("second part");
    let r = complete_public_upload(&app.ecr_public, "layers", &id, &sha256(b"firstsecond")).await;
    assert_code(r, "LayerPartTooSmallException", "CompleteLayerUpload");

    // The same bytes again: the layer is already there.
    let id = initiate_public_upload(&app.ecr_public, "layers").await;
    upload_public_part(&app.ecr_public, "layers", &id, 0, b"by alias")
        .await
        .expect("part");
    let r = complete_public_upload(&app.ecr_public, "layers", &id, &by_alias).await;
    assert_code(r, "LayerAlreadyExistsException", "CompleteLayerUpload");
}

async fn put_image_enforces_the_shared_rules(app: TestApp) {
    app.create_public("images").await;
    let manifest = app.public_manifest("images").await;
    let digest = sha256(manifest.as_bytes());
    let put = app
        .ecr_public
        .put_image()
        .registry_id(ALIAS)
        .repository_name("images")
        .image_manifest(&manifest)
        .image_tag("v1")
        .image_digest(&digest)
        .send()
        .await
        .expect("put");
    let image = put.image().expect("image");
    assert_eq!(image.registry_id(), Some(ACCOUNT));
    assert_eq!(image.repository_name(), Some("images"));
    assert_eq!(image.image_manifest(), Some(manifest.as_str()));
    assert_eq!(image.image_manifest_media_type(), Some(OCI_MANIFEST));
    let id = image.image_id().expect("id");
    assert_eq!(
        (id.image_digest(), id.image_tag()),
        (Some(digest.as_str()), Some("v1"))
    );

    let r = app
        .ecr_public
        .put_image()
        .repository_name("images")
        .image_manifest(&manifest)
        .image_tag("v1")
        .send()
        .await;
    assert_code(r, "ImageAlreadyExistsException", "PutImage");
    let r = app
        .ecr_public
        .put_image()
        .repository_name("images")
        .image_manifest(&manifest)
        .image_tag("v2")
        .image_digest(sha256(b"something else"))
        .send()
        .await;
    assert_code(r, "ImageDigestDoesNotMatchException", "PutImage");
    let dangling = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_CONFIG, &sha256(b"no config"), 9),
        [],
    )
    .to_string();
    let r = app
        .ecr_public
        .put_image()
        .repository_name("images")
        .image_manifest(&dangling)
        .image_tag("dangling")
        .send()
        .await;
    assert_code(r, "LayersNotFoundException", "PutImage");
    let index = Manifest::index(
        OCI_INDEX,
        [
            Descriptor::new(OCI_MANIFEST, &digest, manifest.len()),
            Descriptor::new(OCI_MANIFEST, &sha256(b"absent"), 7),
        ],
    )
    .to_string();
    let r = app
        .ecr_public
        .put_image()
        .repository_name("images")
        .image_manifest(&index)
        .image_tag("multi")
        .send()
        .await;
    assert_code(r, "ReferencedImagesNotFoundException", "PutImage");
    let r = app
        .ecr_public
        .put_image()
        .repository_name("images")
        .image_manifest("x".repeat(4 * 1024 * 1024 + 1))
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "PutImage");
    let r = app
        .ecr_public
        .put_image()
        .repository_name("absent")
        .image_manifest(&manifest)
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "PutImage");
    let r = app
        .ecr_public
        .put_image()
        .registry_id("other-alias")
        .repository_name("images")
        .image_manifest(&manifest)
        .send()
        .await;
    assert_code(r, "RegistryNotFoundException", "PutImage");

    // Public repositories are mutable: a tag moves to a new image.
    let (_, moved) = app.push_public_image("images", "v1").await;
    let described = app.describe_public_image("images", "v1").await;
    assert_eq!(described.image_digest(), Some(moved.as_str()));
}

async fn describe_images_and_image_tags_page(app: TestApp) {
    app.create_public("paged").await;
    let mut pushed = Vec::new();
    for tag in ["c", "a", "b"] {
        pushed.push((tag, app.push_public_image("paged", tag).await));
    }
    let first = app
        .ecr_public
        .describe_images()
        .repository_name("paged")
        .max_results(2)
        .send()
        .await
        .expect("page 1");
    assert_eq!(first.image_details().len(), 2);
    let second = app
        .ecr_public
        .describe_images()
        .repository_name("paged")
        .max_results(2)
        .next_token(first.next_token().expect("token"))
        .send()
        .await
        .expect("page 2");
    assert_eq!(second.image_details().len(), 1);
    assert!(second.next_token().is_none());
    let all: Vec<_> = first
        .image_details()
        .iter()
        .chain(second.image_details())
        .collect();
    for (tag, (manifest, digest)) in &pushed {
        let detail = all
            .iter()
            .find(|d| d.image_digest() == Some(digest.as_str()))
            .expect("every image is described");
        assert_eq!(detail.image_tags(), [*tag]);
        assert_eq!(detail.registry_id(), Some(ACCOUNT));
        assert_eq!(detail.repository_name(), Some("paged"));
        let m: Value = serde_json::from_str(manifest).expect("manifest");
        let size = m["config"]["size"].as_i64().unwrap_or(0)
            + m["layers"][0]["size"].as_i64().unwrap_or(0);
        assert_eq!(detail.image_size_in_bytes(), Some(size));
        assert!(detail.image_pushed_at().is_some());
        assert_eq!(detail.image_manifest_media_type(), Some(OCI_MANIFEST));
    }
    let r = app
        .ecr_public
        .describe_images()
        .repository_name("paged")
        .image_ids(ImageIdentifier::builder().image_tag("nope").build())
        .send()
        .await;
    assert_code(r, "ImageNotFoundException", "DescribeImages");
    let r = app
        .ecr_public
        .describe_images()
        .repository_name("absent")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "DescribeImages");

    // Tags in tag order, two pages, each with its image.
    let first = app
        .ecr_public
        .describe_image_tags()
        .repository_name("paged")
        .max_results(2)
        .send()
        .await
        .expect("tags 1");
    let second = app
        .ecr_public
        .describe_image_tags()
        .repository_name("paged")
        .max_results(2)
        .next_token(first.next_token().expect("token"))
        .send()
        .await
        .expect("tags 2");
    assert!(second.next_token().is_none());
    let tags: Vec<_> = first
        .image_tag_details()
        .iter()
        .chain(second.image_tag_details())
        .collect();
    assert_eq!(
        tags.iter().map(|t| t.image_tag()).collect::<Vec<_>>(),
        [Some("a"), Some("b"), Some("c")]
    );
    for t in tags {
        let digest = &pushed
            .iter()
            .find(|(tag, _)| Some(*tag) == t.image_tag())
            .expect("pushed")
            .1
             .1;
        let detail = t.image_detail().expect("image detail");
        assert_eq!(detail.image_digest(), Some(digest.as_str()));
        assert!(detail.image_size_in_bytes().is_some_and(|s| s > 2048));
        assert!(t.created_at().is_some() && detail.image_pushed_at().is_some());
    }
    let r = app
        .ecr_public
        .describe_image_tags()
        .repository_name("paged")
        .next_token("forged")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "DescribeImageTags");
    let r = app
        .ecr_public
        .describe_image_tags()
        .repository_name("absent")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "DescribeImageTags");
}

async fn batch_delete_image(app: TestApp) {
    app.create_public("deleting").await;
    let (_, digest) = app.push_public_image("deleting", "keep").await;
    app.push_public_image("deleting", "drop").await;
    let out = app
        .ecr_public
        .batch_delete_image()
        .registry_id(ALIAS)
        .repository_name("deleting")
        .image_ids(ImageIdentifier::builder().image_tag("drop").build())
        .image_ids(ImageIdentifier::builder().image_tag("never").build())
        .send()
        .await
        .expect("delete");
    assert_eq!(out.image_ids().len(), 1);
    assert_eq!(out.image_ids()[0].image_tag(), Some("drop"));
    assert_eq!(out.failures().len(), 1);
    assert_eq!(
        out.failures()[0].failure_code().map(|c| c.as_str()),
        Some("ImageNotFound")
    );
    let left = app
        .ecr_public
        .describe_images()
        .repository_name("deleting")
        .send()
        .await
        .expect("describe");
    assert_eq!(left.image_details().len(), 1);
    assert_eq!(
        left.image_details()[0].image_digest(),
        Some(digest.as_str())
    );
    let r = app
        .ecr_public
        .batch_delete_image()
        .repository_name("absent")
        .image_ids(ImageIdentifier::builder().image_tag("x").build())
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "BatchDeleteImage");
    // Its model lists no RegistryNotFoundException: in a registry that is not here, the
    // repository is not found, and nothing is deleted.
    let r = app
        .ecr_public
        .batch_delete_image()
        .registry_id("other-alias")
        .repository_name("deleting")
        .image_ids(ImageIdentifier::builder().image_tag("keep").build())
        .send()
        .await;
    let err = assert_code(r, "RepositoryNotFoundException", "another registry");
    assert_eq!(
        err.message(),
        Some("The repository with name 'deleting' does not exist in the registry with id 'other-alias'")
    );
    assert_eq!(
        app.describe_public_image("deleting", "keep")
            .await
            .image_digest(),
        Some(digest.as_str())
    );
}

/// A `/v2/` request to the public listener, with Basic credentials when given.
async fn public_v2(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    password: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.public_url));
    if let Some(p) = password {
        req = req.basic_auth("AWS", Some(p));
    }
    req.send().await.expect("request")
}

async fn tokens_and_the_public_registry_face(app: TestApp) {
    let out = app
        .ecr_public
        .get_authorization_token()
        .send()
        .await
        .expect("token");
    let data = out.authorization_data().expect("data");
    let expires = data.expires_at().expect("expiry").secs();
    let now = chrono::Utc::now().timestamp();
    assert!((now + 11 * 3600..=now + 12 * 3600 + 60).contains(&expires));
    let password = app.public_password().await;

    app.create_public("served").await;
    let (manifest, digest) = app.push_public_image("served", "v1").await;
    let path = format!("/v2/{ALIAS}/served/manifests/v1");

    // Anyone may pull, even though berth runs with credentials.
    let pulled = public_v2(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(pulled.status(), 200);
    assert_eq!(
        pulled.headers()["docker-content-digest"]
            .to_str()
            .expect("digest"),
        digest
    );
    assert_eq!(pulled.text().await.expect("body"), manifest);
    let catalog: Value = public_v2(&app, reqwest::Method::GET, "/v2/_catalog", None)
        .await
        .json()
        .await
        .expect("catalog");
    assert_eq!(catalog["repositories"], json!([format!("{ALIAS}/served")]));
    let tags: Value = public_v2(
        &app,
        reqwest::Method::GET,
        &format!("/v2/{ALIAS}/served/tags/list"),
        None,
    )
    .await
    .json()
    .await
    .expect("tags");
    assert_eq!(
        tags,
        json!({"name": format!("{ALIAS}/served"), "tags": ["v1"]})
    );
    // The base endpoint challenges, so clients holding a token send it; clients
    // without one answer with an empty pair and still pull.
    let ping = public_v2(&app, reqwest::Method::GET, "/v2/", None).await;
    assert_eq!(ping.status(), 401);
    assert!(ping.headers().contains_key("www-authenticate"));
    let ping = public_v2(&app, reqwest::Method::GET, "/v2/", Some(&password)).await;
    assert_eq!(ping.status(), 200);
    let empty_pair = app
        .http
        .head(format!("{}{path}", app.public_url))
        .header("authorization", "Basic Og==")
        .send()
        .await
        .expect("head");
    assert_eq!(empty_pair.status(), 200);
    // Names without the alias are not this registry's.
    let bare = public_v2(&app, reqwest::Method::GET, "/v2/served/manifests/v1", None).await;
    assert_eq!(bare.status(), 404);

    // Pushing needs a public token; a private one is for the other registry.
    let start = format!("/v2/{ALIAS}/served/blobs/uploads/");
    let anonymous = public_v2(&app, reqwest::Method::POST, &start, None).await;
    assert_eq!(anonymous.status(), 401);
    let private_token = app.registry_password().await;
    let wrong = public_v2(&app, reqwest::Method::POST, &start, Some(&private_token)).await;
    assert_eq!(wrong.status(), 401);
    let started = public_v2(&app, reqwest::Method::POST, &start, Some(&password)).await;
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().expect("location");
    assert!(
        location.starts_with(&format!("/v2/{ALIAS}/served/blobs/uploads/")),
        "{location}"
    );

    // A private namesake is another repository: each face reads its own image.
    app.create_repo("served").await;
    let (private_manifest, private_digest) = app.push_image("served", Some("v1"), 1).await;
    let got = batch_get_image(&app.ecr, "served", by_tag("v1")).await;
    assert_eq!(
        got.images()[0].image_manifest(),
        Some(private_manifest.as_str())
    );
    let pulled = public_v2(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(
        pulled.headers()["docker-content-digest"]
            .to_str()
            .expect("digest"),
        digest
    );
    app.ecr
        .batch_delete_image()
        .repository_name("served")
        .image_ids(by_digest(&private_digest))
        .send()
        .await
        .expect("private delete");
    app.ecr
        .delete_repository()
        .repository_name("served")
        .send()
        .await
        .expect("private repository gone");
    let still = public_v2(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(still.status(), 200, "the public image stays");

    // The private registry's /v2/ neither shows public images nor takes public tokens.
    let private = app
        .http
        .get(format!("{}/v2/served/manifests/v1", app.url))
        .basic_auth("AWS", Some(&private_token))
        .send()
        .await
        .expect("private pull");
    assert_eq!(private.status(), 404);
    let crossed = app
        .http
        .get(format!("{}/v2/_catalog", app.url))
        .basic_auth("AWS", Some(&password))
        .send()
        .await
        .expect("private catalog");
    assert_eq!(crossed.status(), 401);
}

async fn requests_signed_for_the_other_service_are_refused(app: TestApp) {
    let public = "SpencerFrontendService.DescribeRegistries";
    let private = "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories";
    let ok = app
        .call_signed(public, b"{}", ACCESS_KEY, SECRET_KEY, "ecr-public")
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    for (target, service) in [(public, "ecr"), (private, "ecr-public")] {
        let r = app
            .call_signed(target, b"{}", ACCESS_KEY, SECRET_KEY, service)
            .await;
        assert_eq!(r.status, 400, "{target} signed for {service}");
        assert_eq!(r.error_type(), "InvalidSignatureException", "{}", r.body);
    }
    let r = app
        .call_signed(
            "SpencerFrontendService.GetDownloadUrlForLayer",
            b"{}",
            ACCESS_KEY,
            SECRET_KEY,
            "ecr-public",
        )
        .await;
    assert_eq!(r.error_type(), "UnknownOperationException");
    let r = app
        .call_signed(
            "SpencerFrontendService.CreateRepository",
            b"{\"repositoryName\": ",
            ACCESS_KEY,
            SECRET_KEY,
            "ecr-public",
        )
        .await;
    assert_eq!(r.error_type(), "SerializationException");
    let r = app
        .call_signed(
            "SpencerFrontendService.CreateRepository",
            b"{\"repositoryName\": 7}",
            ACCESS_KEY,
            SECRET_KEY,
            "ecr-public",
        )
        .await;
    assert_eq!(r.error_type(), "SerializationException");
}
