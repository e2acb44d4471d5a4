//! The image actions of the ECR face (PutImage, BatchGetImage, BatchDeleteImage,
//! ListImages, DescribeImages) through the SDK, on both stores.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::types::{
    DescribeImagesFilter, ImageFailureCode, ImageIdentifier, ImageTagMutability,
    ImageTagMutabilityExclusionFilter, ListImagesFilter, TagStatus,
};
use serde_json::json;
use sha2::{Digest as _, Sha512};

use crate::both_stores;
use crate::fixtures::random_bytes;
use crate::fixtures::{
    assert_code, batch_get_image, by_digest, by_tag, describe_image, put_image, wildcard,
    Descriptor, Format, Image, Manifest, DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG,
    OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
};
use crate::helpers::{sha256, TestApp, ACCOUNT};

const NON_DISTRIBUTABLE: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A fresh image in `format` with layers of `layer_sizes`, its blobs uploaded;
/// nothing is put yet.
async fn build(app: &TestApp, repo: &str, format: Format, layer_sizes: &[usize]) -> Image {
    app.push_blobs(repo, Image::new(format, layer_sizes)).await
}

async fn oci(app: &TestApp, repo: &str) -> Image {
    build(app, repo, Format::Oci, &[700, 1300]).await
}

fn pair(id: &ImageIdentifier) -> (String, Option<String>) {
    (
        id.image_digest().expect("digest").to_owned(),
        id.image_tag().map(str::to_owned),
    )
}

/// Every ListImages entry, walking all pages.
async fn list(app: &TestApp, repo: &str, status: TagStatus) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = app
            .ecr
            .list_images()
            .repository_name(repo)
            .filter(
                ListImagesFilter::builder()
                    .tag_status(status.clone())
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .expect("list images");
        out.extend(page.image_ids().iter().map(pair));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return out;
        }
    }
}

fn sorted(mut v: Vec<(String, Option<String>)>) -> Vec<(String, Option<String>)> {
    v.sort();
    v
}

fn entry(digest: &str, tag: Option<&str>) -> (String, Option<String>) {
    (digest.to_owned(), tag.map(str::to_owned))
}

async fn describe(app: &TestApp, repo: &str, digest: &str) -> aws_sdk_ecr::types::ImageDetail {
    describe_image(&app.ecr, repo, by_digest(digest)).await
}

fn tags_of(detail: &aws_sdk_ecr::types::ImageDetail) -> Vec<String> {
    let mut tags = detail.image_tags().to_vec();
    tags.sort();
    tags
}

/// An index (or manifest list) of `media_type` over `children`.
fn index(media_type: &str, children: &[&Image]) -> String {
    Manifest::index(media_type, children.iter().map(|c| c.entry())).to_string()
}

/// The digest a tag currently names.
async fn digest_of_tag(app: &TestApp, repo: &str, tag: &str) -> String {
    let out = batch_get_image(&app.ecr, repo, by_tag(tag)).await;
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    out.images()[0]
        .image_id()
        .and_then(|i| i.image_digest())
        .expect("digest")
        .to_owned()
}

// ---------------------------------------------------------------------------------
// PutImage
// ---------------------------------------------------------------------------------

both_stores!(
    put_image_digest_is_sha256_of_exact_bytes,
    put_image_digest_mismatch_and_sha512,
    put_image_missing_blobs_store_nothing,
    put_image_non_distributable_layers_are_exempt,
    put_image_indexes_and_manifest_lists,
    put_image_media_types,
    put_image_size_limit,
    put_image_mutable_tags,
    put_image_immutable_tags,
    put_image_immutable_with_exclusion,
    put_image_mutable_with_exclusion,
    put_image_tag_mutability_switch_changes_put_image,
    put_image_refuses_unaddressable_tags,
);

async fn put_image_digest_is_sha256_of_exact_bytes(app: TestApp) {
    app.create_repo("team/app").await;
    let img = oci(&app, "team/app").await;
    let out = put_image(&app.ecr, "team/app", &img.manifest, Some("v1"))
        .await
        .expect("put");
    let image = out.image().expect("image");
    let expected = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(img.manifest.as_bytes()))
    );
    assert_eq!(
        image.image_id().and_then(|i| i.image_digest()),
        Some(expected.as_str())
    );
    assert_eq!(image.image_id().and_then(|i| i.image_tag()), Some("v1"));
    assert_eq!(image.registry_id(), Some(ACCOUNT));
    assert_eq!(image.repository_name(), Some("team/app"));
    assert_eq!(image.image_manifest(), Some(img.manifest.as_str()));
    assert_eq!(image.image_manifest_media_type(), Some(OCI_MANIFEST));

    // The same document re-serialised with whitespace is a different manifest.
    let value: serde_json::Value = serde_json::from_str(&img.manifest).expect("json");
    let pretty = serde_json::to_string_pretty(&value).expect("pretty");
    assert_ne!(pretty, img.manifest);
    let pretty_digest = app.put_ok("team/app", &pretty, Some("pretty")).await;
    assert_eq!(pretty_digest, sha256(pretty.as_bytes()));
    assert_ne!(pretty_digest, expected);

    let got = app
        .ecr
        .batch_get_image()
        .repository_name("team/app")
        .image_ids(by_digest(&expected))
        .image_ids(by_digest(&pretty_digest))
        .send()
        .await
        .expect("batch get");
    assert!(got.failures().is_empty(), "{:?}", got.failures());
    let bodies: BTreeMap<&str, &str> = got
        .images()
        .iter()
        .map(|i| {
            (
                i.image_id().and_then(|i| i.image_digest()).expect("digest"),
                i.image_manifest().expect("manifest"),
            )
        })
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[expected.as_str()], img.manifest);
    assert_eq!(bodies[pretty_digest.as_str()], pretty);
}

async fn put_image_digest_mismatch_and_sha512(app: TestApp) {
    app.create_repo("team/app").await;
    let img = oci(&app, "team/app").await;

    let wrong = sha256(b"something else");
    let r = app
        .ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&img.manifest)
        .image_tag("v1")
        .image_digest(&wrong)
        .send()
        .await;
    assert_code(r, "ImageDigestDoesNotMatchException", "digest mismatch");
    assert!(list(&app, "team/app", TagStatus::Any).await.is_empty());

    // A sha512 digest that is wrong is refused the same way.
    let wrong512 = format!("sha512:{}", hex::encode(Sha512::digest(b"other")));
    let r = app
        .ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&img.manifest)
        .image_digest(&wrong512)
        .send()
        .await;
    assert_code(r, "ImageDigestDoesNotMatchException", "sha512 mismatch");

    // The right sha512 digest is accepted and the image lives under it.
    let d512 = format!(
        "sha512:{}",
        hex::encode(Sha512::digest(img.manifest.as_bytes()))
    );
    let out = app
        .ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&img.manifest)
        .image_tag("v512")
        .image_digest(&d512)
        .send()
        .await
        .expect("sha512 put");
    assert_eq!(
        out.image()
            .and_then(|i| i.image_id())
            .and_then(|i| i.image_digest()),
        Some(d512.as_str())
    );
    assert_eq!(
        list(&app, "team/app", TagStatus::Any).await,
        vec![entry(&d512, Some("v512"))]
    );
    let got = batch_get_image(&app.ecr, "team/app", by_digest(&d512)).await;
    assert_eq!(got.images().len(), 1);
    assert_eq!(
        got.images()[0].image_manifest(),
        Some(img.manifest.as_str())
    );
    assert_eq!(digest_of_tag(&app, "team/app", "v512").await, d512);
    assert_eq!(
        describe(&app, "team/app", &d512)
            .await
            .image_size_in_bytes(),
        Some(img.size())
    );
}

async fn put_image_missing_blobs_store_nothing(app: TestApp) {
    app.create_repo("team/app").await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = app.push_blob("team/app", config).await;
    let layer = random_bytes(512);
    let layer_digest = app.push_blob("team/app", &layer).await;
    let absent = sha256(b"never uploaded");

    let manifest = |config: (&str, usize), layers: &[(&str, usize)]| {
        let layers = layers
            .iter()
            .map(|&(d, s)| Descriptor::new(OCI_LAYER, d, s));
        Manifest::image(
            OCI_MANIFEST,
            Descriptor::new(OCI_CONFIG, config.0, config.1),
            layers,
        )
        .to_string()
    };

    // A missing layer.
    let m = manifest(
        (&config_digest, config.len()),
        &[(&layer_digest, layer.len()), (&absent, 14)],
    );
    let r = put_image(&app.ecr, "team/app", &m, Some("v1")).await;
    let err = assert_code(r, "LayersNotFoundException", "missing layer");
    assert!(
        err.message().is_some_and(|m| m.contains(&absent)),
        "{:?}",
        err.message()
    );

    // A missing config.
    let m = manifest((&absent, 14), &[(&layer_digest, layer.len())]);
    let r = put_image(&app.ecr, "team/app", &m, Some("v1")).await;
    assert_code(r, "LayersNotFoundException", "missing config");

    // A blob uploaded to another repository does not count.
    app.create_repo("team/other").await;
    let elsewhere = random_bytes(256);
    let elsewhere_digest = app.push_blob("team/other", &elsewhere).await;
    let m = manifest(
        (&config_digest, config.len()),
        &[(&elsewhere_digest, elsewhere.len())],
    );
    let r = put_image(&app.ecr, "team/app", &m, None).await;
    assert_code(r, "LayersNotFoundException", "foreign layer");

    assert!(list(&app, "team/app", TagStatus::Any).await.is_empty());
    let described = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .send()
        .await
        .expect("describe");
    assert!(described.image_details().is_empty());

    // With everything present the same shape goes in.
    let m = manifest(
        (&config_digest, config.len()),
        &[(&layer_digest, layer.len())],
    );
    let digest = app.put_ok("team/app", &m, Some("v1")).await;
    assert_eq!(
        list(&app, "team/app", TagStatus::Any).await,
        vec![entry(&digest, Some("v1"))]
    );
}

async fn put_image_non_distributable_layers_are_exempt(app: TestApp) {
    app.create_repo("team/app").await;
    let config = br#"{"architecture":"amd64","os":"windows"}"#;
    let config_digest = app.push_blob("team/app", config).await;
    let layer = random_bytes(300);
    let layer_digest = app.push_blob("team/app", &layer).await;
    let foreign = sha256(b"a windows base layer that lives elsewhere");
    let config_descriptor = Descriptor::new(OCI_CONFIG, &config_digest, config.len());
    let base = Descriptor::new(NON_DISTRIBUTABLE, &foreign, 123456)
        .with("urls", json!(["https://example.com/layers/base.tar.gz"]));
    let manifest = Manifest::image(
        OCI_MANIFEST,
        config_descriptor.clone(),
        [base, Descriptor::new(OCI_LAYER, &layer_digest, layer.len())],
    )
    .to_string();
    let digest = app.put_ok("team/app", &manifest, Some("win")).await;
    assert_eq!(digest, sha256(manifest.as_bytes()));
    let detail = describe(&app, "team/app", &digest).await;
    assert_eq!(
        detail.image_size_in_bytes(),
        Some((config.len() + 123456 + layer.len()) as i64)
    );

    // The exemption is for non-distributable layers only: an ordinary layer with the
    // same missing digest is still refused.
    let ordinary = Manifest::image(
        OCI_MANIFEST,
        config_descriptor,
        [Descriptor::new(OCI_LAYER, &foreign, 123456)],
    )
    .to_string();
    let r = put_image(&app.ecr, "team/app", &ordinary, None).await;
    assert_code(r, "LayersNotFoundException", "missing");
}

async fn put_image_indexes_and_manifest_lists(app: TestApp) {
    app.create_repo("team/app").await;
    let small = build(&app, "team/app", Format::Oci, &[100]).await;
    let large = build(&app, "team/app", Format::Oci, &[4000, 2000]).await;
    app.put_ok("team/app", &small.manifest, None).await;
    app.put_ok("team/app", &large.manifest, None).await;

    let oci_index = index(OCI_INDEX, &[&small, &large]);
    let out = put_image(&app.ecr, "team/app", &oci_index, Some("multi"))
        .await
        .expect("oci index");
    let image = out.image().expect("image");
    assert_eq!(image.image_manifest_media_type(), Some(OCI_INDEX));
    let index_digest = sha256(oci_index.as_bytes());
    assert_eq!(
        image.image_id().and_then(|i| i.image_digest()),
        Some(index_digest.as_str())
    );
    let detail = describe(&app, "team/app", &index_digest).await;
    assert_eq!(detail.image_size_in_bytes(), Some(large.size()));
    assert!(large.size() > small.size());
    assert_eq!(detail.image_manifest_media_type(), Some(OCI_INDEX));

    // A Docker manifest list over Docker v2 schema 2 images.
    let d1 = build(&app, "team/app", Format::Docker, &[50]).await;
    let d2 = build(&app, "team/app", Format::Docker, &[60, 70]).await;
    app.put_ok("team/app", &d1.manifest, Some("d1")).await;
    app.put_ok("team/app", &d2.manifest, Some("d2")).await;
    let list_manifest = index(DOCKER_LIST, &[&d1, &d2]);
    let out = put_image(&app.ecr, "team/app", &list_manifest, Some("dlist"))
        .await
        .expect("docker manifest list");
    assert_eq!(
        out.image().and_then(|i| i.image_manifest_media_type()),
        Some(DOCKER_LIST)
    );
    let detail = describe(&app, "team/app", &sha256(list_manifest.as_bytes())).await;
    assert_eq!(detail.image_size_in_bytes(), Some(d2.size()));

    // An index naming an image the repository does not hold.
    let missing = build(&app, "team/app", Format::Oci, &[10]).await; // blobs only, never put
    let bad = index(OCI_INDEX, &[&small, &missing]);
    let r = put_image(&app.ecr, "team/app", &bad, Some("bad")).await;
    let err = assert_code(r, "ReferencedImagesNotFoundException", "missing child");
    assert!(
        err.message().is_some_and(|m| m.contains(&missing.digest)),
        "{:?}",
        err.message()
    );
    let bad_list = index(DOCKER_LIST, &[&missing]);
    let r = put_image(&app.ecr, "team/app", &bad_list, None).await;
    assert_code(
        r,
        "ReferencedImagesNotFoundException",
        "missing child in list",
    );
    let all = list(&app, "team/app", TagStatus::Any).await;
    assert!(!all.iter().any(|(_, t)| t.as_deref() == Some("bad")));
    assert!(!all.iter().any(|(d, _)| *d == sha256(bad.as_bytes())));
    assert!(!all.iter().any(|(d, _)| *d == sha256(bad_list.as_bytes())));
}

async fn put_image_media_types(app: TestApp) {
    app.create_repo("team/app").await;
    let img = oci(&app, "team/app").await;
    let mut value: serde_json::Value = serde_json::from_str(&img.manifest).expect("json");
    value.as_object_mut().expect("object").remove("mediaType");
    let bare = value.to_string();

    // Neither the parameter nor a mediaType member.
    let r = put_image(&app.ecr, "team/app", &bare, None).await;
    assert_code(r, "InvalidParameterException", "no media type");

    // The parameter alone says what it is.
    let out = app
        .ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&bare)
        .image_manifest_media_type(OCI_MANIFEST)
        .image_tag("bare")
        .send()
        .await
        .expect("media type from the parameter");
    assert_eq!(
        out.image().and_then(|i| i.image_manifest_media_type()),
        Some(OCI_MANIFEST)
    );

    // The parameter disagreeing with the body.
    let r = app
        .ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&img.manifest)
        .image_manifest_media_type(DOCKER_MANIFEST)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "mismatch");

    // The parameter agreeing with the body.
    let out = app
        .ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&img.manifest)
        .image_manifest_media_type(OCI_MANIFEST)
        .image_tag("full")
        .send()
        .await
        .expect("agreeing media type");
    assert_eq!(
        out.image().and_then(|i| i.image_manifest_media_type()),
        Some(OCI_MANIFEST)
    );

    // Docker schema 1 is refused, signed or not.
    let schema1 = json!({
        "schemaVersion": 1,
        "name": "team/app",
        "tag": "old",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256(b"x")}],
        "history": [{"v1Compatibility": "{}"}],
    })
    .to_string();
    for media_type in [
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    ] {
        let r = app
            .ecr
            .put_image()
            .repository_name("team/app")
            .image_manifest(&schema1)
            .image_manifest_media_type(media_type)
            .image_tag("old")
            .send()
            .await;
        assert_code(
            r,
            "InvalidParameterException",
            &format!("schema 1: {media_type}"),
        );
    }

    // Not JSON, an unsupported type, a malformed digest parameter.
    let r = app
        .ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest("this is not json")
        .image_manifest_media_type(OCI_MANIFEST)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "not json");
    let r = app
        .ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&bare)
        .image_manifest_media_type("application/json")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "unsupported type");
    let r = app
        .ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&img.manifest)
        .image_digest("sha256:abc")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "malformed digest");
    let r = put_image(&app.ecr, "team/none", &img.manifest, Some("v1")).await;
    assert_code(r, "RepositoryNotFoundException", "no repository");

    // Docker v2 schema 2 is accepted, and described with its types.
    let docker = build(&app, "team/app", Format::Docker, &[321]).await;
    let out = put_image(&app.ecr, "team/app", &docker.manifest, Some("docker"))
        .await
        .expect("docker v2 schema 2");
    assert_eq!(
        out.image().and_then(|i| i.image_manifest_media_type()),
        Some(DOCKER_MANIFEST)
    );
    let detail = describe(&app, "team/app", &docker.digest).await;
    assert_eq!(detail.image_manifest_media_type(), Some(DOCKER_MANIFEST));
    assert_eq!(detail.artifact_media_type(), Some(DOCKER_CONFIG));
    assert_eq!(detail.image_size_in_bytes(), Some(docker.size()));

    let tagged: BTreeSet<_> = list(&app, "team/app", TagStatus::Any)
        .await
        .into_iter()
        .filter_map(|(_, t)| t)
        .collect();
    assert_eq!(tagged, ["bare", "docker", "full"].map(str::to_owned).into());
}

async fn put_image_size_limit(app: TestApp) {
    const LIMIT: usize = 4 * 1024 * 1024;
    app.create_repo("team/app").await;
    let img = oci(&app, "team/app").await;

    // Padded with trailing whitespace (still valid JSON) to exactly 4 MiB: accepted,
    // and returned byte for byte.
    let mut at_limit = img.manifest.clone();
    at_limit.push_str(&" ".repeat(LIMIT - at_limit.len()));
    assert_eq!(at_limit.len(), LIMIT);
    let digest = app.put_ok("team/app", &at_limit, Some("big")).await;
    assert_eq!(digest, sha256(at_limit.as_bytes()));
    let got = batch_get_image(&app.ecr, "team/app", by_digest(&digest)).await;
    assert_eq!(got.images()[0].image_manifest(), Some(at_limit.as_str()));

    // One byte more is refused with a typed 400.
    let over = format!("{at_limit} ");
    let r = put_image(&app.ecr, "team/app", &over, Some("bigger")).await;
    let err = assert_code(r, "InvalidParameterException", "over 4 MiB");
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(400),
        "{err:?}"
    );
    assert_eq!(
        list(&app, "team/app", TagStatus::Any).await,
        vec![entry(&digest, Some("big"))]
    );
}

async fn put_image_mutable_tags(app: TestApp) {
    app.create_repo("team/app").await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("v1")).await;

    // Same digest, same tag.
    let r = put_image(&app.ecr, "team/app", &a.manifest, Some("v1")).await;
    assert_code(r, "ImageAlreadyExistsException", "already exists");
    // Same digest, no tag.
    let r = put_image(&app.ecr, "team/app", &a.manifest, None).await;
    assert_code(r, "ImageAlreadyExistsException", "already exists untagged");

    // Same digest, new tag: the tag is added.
    app.put_ok("team/app", &a.manifest, Some("v2")).await;
    assert_eq!(
        tags_of(&describe(&app, "team/app", &a.digest).await),
        ["v1", "v2"]
    );

    // The tag moves to a new digest; the old image keeps its other tag.
    app.put_ok("team/app", &b.manifest, Some("v1")).await;
    assert_eq!(digest_of_tag(&app, "team/app", "v1").await, b.digest);
    assert_eq!(
        tags_of(&describe(&app, "team/app", &a.digest).await),
        ["v2"]
    );

    // Moving its last tag leaves the old image untagged but present.
    app.put_ok("team/app", &b.manifest, Some("v2")).await;
    let old = describe(&app, "team/app", &a.digest).await;
    assert!(old.image_tags.is_none(), "{:?}", old.image_tags);
    assert_eq!(
        list(&app, "team/app", TagStatus::Untagged).await,
        vec![entry(&a.digest, None)]
    );
    assert_eq!(
        sorted(list(&app, "team/app", TagStatus::Tagged).await),
        vec![entry(&b.digest, Some("v1")), entry(&b.digest, Some("v2"))]
    );

    // An untagged image can be tagged again by putting its manifest.
    app.put_ok("team/app", &a.manifest, Some("again")).await;
    assert!(list(&app, "team/app", TagStatus::Untagged).await.is_empty());
}

async fn put_image_immutable_tags(app: TestApp) {
    app.create_repo_with("team/app", ImageTagMutability::Immutable, &[])
        .await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("v1")).await;

    // The tag exists: refused even for the same digest.
    assert_code(
        put_image(&app.ecr, "team/app", &a.manifest, Some("v1")).await,
        "ImageTagAlreadyExistsException",
        "same",
    );
    assert_code(
        put_image(&app.ecr, "team/app", &b.manifest, Some("v1")).await,
        "ImageTagAlreadyExistsException",
        "other",
    );
    assert_eq!(digest_of_tag(&app, "team/app", "v1").await, a.digest);
    assert_eq!(
        list(&app, "team/app", TagStatus::Any).await,
        vec![entry(&a.digest, Some("v1"))]
    );

    // New tags are fine, on the existing digest or a new one.
    app.put_ok("team/app", &a.manifest, Some("v2")).await;
    app.put_ok("team/app", &b.manifest, Some("v3")).await;
    assert_eq!(
        tags_of(&describe(&app, "team/app", &a.digest).await),
        ["v1", "v2"]
    );
    assert_eq!(
        tags_of(&describe(&app, "team/app", &b.digest).await),
        ["v3"]
    );
    // The existing digest without a tag is still an existing image.
    let r = put_image(&app.ecr, "team/app", &a.manifest, None).await;
    assert_code(r, "ImageAlreadyExistsException", "exists");
}

async fn put_image_immutable_with_exclusion(app: TestApp) {
    app.create_repo_with(
        "team/app",
        ImageTagMutability::ImmutableWithExclusion,
        &["latest", "dev-*"],
    )
    .await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    for tag in ["latest", "dev-1", "v1", "latest2", "xdev-1"] {
        app.put_ok("team/app", &a.manifest, Some(tag)).await;
    }
    // Excluded tags move.
    app.put_ok("team/app", &b.manifest, Some("latest")).await;
    app.put_ok("team/app", &b.manifest, Some("dev-1")).await;
    assert_eq!(digest_of_tag(&app, "team/app", "latest").await, b.digest);
    assert_eq!(digest_of_tag(&app, "team/app", "dev-1").await, b.digest);
    // The rest are immutable, including near misses of the filters.
    for tag in ["v1", "latest2", "xdev-1"] {
        assert_code(
            put_image(&app.ecr, "team/app", &b.manifest, Some(tag)).await,
            "ImageTagAlreadyExistsException",
            tag,
        );
        assert_eq!(digest_of_tag(&app, "team/app", tag).await, a.digest);
    }
    // Re-putting an excluded tag on its digest is the mutable "already exists".
    let r = put_image(&app.ecr, "team/app", &b.manifest, Some("latest")).await;
    assert_code(r, "ImageAlreadyExistsException", "already there");
}

async fn put_image_mutable_with_exclusion(app: TestApp) {
    app.create_repo_with(
        "team/app",
        ImageTagMutability::MutableWithExclusion,
        &["release-*"],
    )
    .await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("release-1")).await;
    app.put_ok("team/app", &a.manifest, Some("main")).await;

    assert_code(
        put_image(&app.ecr, "team/app", &b.manifest, Some("release-1")).await,
        "ImageTagAlreadyExistsException",
        "immutable",
    );
    assert_code(
        put_image(&app.ecr, "team/app", &a.manifest, Some("release-1")).await,
        "ImageTagAlreadyExistsException",
        "immutable, same digest",
    );
    assert_eq!(digest_of_tag(&app, "team/app", "release-1").await, a.digest);

    app.put_ok("team/app", &b.manifest, Some("main")).await;
    assert_eq!(digest_of_tag(&app, "team/app", "main").await, b.digest);
    // A new tag matching the filter may be created once.
    app.put_ok("team/app", &b.manifest, Some("release-2")).await;
    assert_code(
        put_image(&app.ecr, "team/app", &a.manifest, Some("release-2")).await,
        "ImageTagAlreadyExistsException",
        "immutable",
    );
}

async fn put_image_tag_mutability_switch_changes_put_image(app: TestApp) {
    app.create_repo("team/app").await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("v1")).await;
    app.put_ok("team/app", &b.manifest, Some("v1")).await;
    assert_eq!(digest_of_tag(&app, "team/app", "v1").await, b.digest);

    let set = |mode: ImageTagMutability, filters: Vec<ImageTagMutabilityExclusionFilter>| {
        let filters = (!filters.is_empty()).then_some(filters);
        app.ecr
            .put_image_tag_mutability()
            .repository_name("team/app")
            .image_tag_mutability(mode)
            .set_image_tag_mutability_exclusion_filters(filters)
            .send()
    };

    set(ImageTagMutability::Immutable, vec![])
        .await
        .expect("to immutable");
    assert_code(
        put_image(&app.ecr, "team/app", &a.manifest, Some("v1")).await,
        "ImageTagAlreadyExistsException",
        "immutable",
    );
    assert_eq!(digest_of_tag(&app, "team/app", "v1").await, b.digest);

    set(
        ImageTagMutability::ImmutableWithExclusion,
        vec![wildcard("v*")],
    )
    .await
    .expect("to immutable with exclusion");
    app.put_ok("team/app", &a.manifest, Some("v1")).await;
    assert_eq!(digest_of_tag(&app, "team/app", "v1").await, a.digest);
    app.put_ok("team/app", &a.manifest, Some("stable")).await;
    assert_code(
        put_image(&app.ecr, "team/app", &b.manifest, Some("stable")).await,
        "ImageTagAlreadyExistsException",
        "immutable",
    );

    set(
        ImageTagMutability::MutableWithExclusion,
        vec![wildcard("v*")],
    )
    .await
    .expect("to mutable with exclusion");
    assert_code(
        put_image(&app.ecr, "team/app", &b.manifest, Some("v1")).await,
        "ImageTagAlreadyExistsException",
        "immutable",
    );
    app.put_ok("team/app", &b.manifest, Some("stable")).await;

    set(ImageTagMutability::Mutable, vec![])
        .await
        .expect("to mutable");
    app.put_ok("team/app", &b.manifest, Some("v1")).await;
    assert_eq!(digest_of_tag(&app, "team/app", "v1").await, b.digest);
}

async fn put_image_refuses_unaddressable_tags(app: TestApp) {
    app.create_repo("team/app").await;
    let img = oci(&app, "team/app").await;
    let long = "a".repeat(129);
    let too_long_for_model = "a".repeat(301);
    for tag in [
        "a/b",
        ".x",
        "-x",
        "a b",
        "tag:1",
        "ü",
        long.as_str(),
        too_long_for_model.as_str(),
    ] {
        let r = put_image(&app.ecr, "team/app", &img.manifest, Some(tag)).await;
        assert_code(r, "InvalidParameterException", tag);
    }
    assert!(list(&app, "team/app", TagStatus::Any).await.is_empty());
    // The longest addressable tag is fine.
    let longest = format!("_{}", "a".repeat(127));
    app.put_ok("team/app", &img.manifest, Some(&longest)).await;
    assert_eq!(digest_of_tag(&app, "team/app", &longest).await, img.digest);
}

// ---------------------------------------------------------------------------------
// BatchGetImage
// ---------------------------------------------------------------------------------

both_stores!(
    batch_get_image_ids_and_failures,
    batch_get_image_accepted_media_types,
    batch_get_image_records_pull_time,
);

async fn batch_get_image_ids_and_failures(app: TestApp) {
    app.create_repo("team/app").await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("v1")).await;
    app.put_ok("team/app", &a.manifest, Some("v2")).await;
    app.put_ok("team/app", &b.manifest, Some("other")).await;
    let absent = sha256(b"no such manifest");

    let out = app
        .ecr
        .batch_get_image()
        .repository_name("team/app")
        .image_ids(by_tag("v1"))
        .image_ids(by_digest(&b.digest))
        .image_ids(
            ImageIdentifier::builder()
                .image_digest(&a.digest)
                .image_tag("v2")
                .build(),
        )
        .image_ids(by_tag("missing"))
        .image_ids(by_digest(&absent))
        .image_ids(
            ImageIdentifier::builder()
                .image_digest(&b.digest)
                .image_tag("v1")
                .build(),
        )
        .image_ids(ImageIdentifier::builder().build())
        .image_ids(by_digest("sha256:xyz"))
        .image_ids(by_tag("a/b"))
        .send()
        .await
        .expect("batch get");

    let images: BTreeMap<(String, Option<String>), &str> = out
        .images()
        .iter()
        .map(|i| {
            assert_eq!(i.registry_id(), Some(ACCOUNT));
            assert_eq!(i.repository_name(), Some("team/app"));
            assert_eq!(i.image_manifest_media_type(), Some(OCI_MANIFEST));
            (
                pair(i.image_id().expect("id")),
                i.image_manifest().expect("manifest"),
            )
        })
        .collect();
    let expected: BTreeMap<_, _> = [
        (entry(&a.digest, Some("v1")), a.manifest.as_str()),
        (entry(&b.digest, None), b.manifest.as_str()),
        (entry(&a.digest, Some("v2")), a.manifest.as_str()),
    ]
    .into();
    assert_eq!(images, expected);

    let failures: Vec<(Option<&str>, Option<&str>, ImageFailureCode)> = out
        .failures()
        .iter()
        .map(|f| {
            assert!(f.failure_reason().is_some_and(|r| !r.is_empty()), "{f:?}");
            let id = f.image_id().expect("failure id");
            (
                id.image_digest(),
                id.image_tag(),
                f.failure_code().expect("code").clone(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        vec![
            (None, Some("missing"), ImageFailureCode::ImageNotFound),
            (Some(absent.as_str()), None, ImageFailureCode::ImageNotFound),
            (
                Some(b.digest.as_str()),
                Some("v1"),
                ImageFailureCode::ImageTagDoesNotMatchDigest
            ),
            (None, None, ImageFailureCode::MissingDigestAndTag),
            (
                Some("sha256:xyz"),
                None,
                ImageFailureCode::InvalidImageDigest
            ),
            (None, Some("a/b"), ImageFailureCode::InvalidImageTag),
        ]
    );

    let r = app
        .ecr
        .batch_get_image()
        .repository_name("team/none")
        .image_ids(by_tag("v1"))
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "no repository");
}

async fn batch_get_image_accepted_media_types(app: TestApp) {
    app.create_repo("team/app").await;
    let img = oci(&app, "team/app").await;
    app.put_ok("team/app", &img.manifest, Some("v1")).await;

    let out = app
        .ecr
        .batch_get_image()
        .repository_name("team/app")
        .image_ids(by_tag("v1"))
        .accepted_media_types(DOCKER_MANIFEST)
        .accepted_media_types(DOCKER_LIST)
        .send()
        .await
        .expect("batch get");
    assert!(out.images().is_empty(), "{:?}", out.images());
    assert_eq!(out.failures().len(), 1);
    let failure = &out.failures()[0];
    assert_eq!(failure.image_id().and_then(|i| i.image_tag()), Some("v1"));
    assert!(failure.failure_code().is_some());
    assert!(
        failure
            .failure_reason()
            .is_some_and(|r| r.contains(OCI_MANIFEST)),
        "{failure:?}"
    );

    let out = app
        .ecr
        .batch_get_image()
        .repository_name("team/app")
        .image_ids(by_tag("v1"))
        .accepted_media_types(DOCKER_MANIFEST)
        .accepted_media_types(OCI_MANIFEST)
        .send()
        .await
        .expect("batch get");
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    assert_eq!(out.images().len(), 1);
    assert_eq!(
        out.images()[0].image_manifest(),
        Some(img.manifest.as_str())
    );
}

async fn batch_get_image_records_pull_time(app: TestApp) {
    app.create_repo("team/app").await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("v1")).await;
    app.put_ok("team/app", &b.manifest, Some("v2")).await;
    assert!(describe(&app, "team/app", &a.digest)
        .await
        .last_recorded_pull_time()
        .is_none());

    let before = now_secs();
    batch_get_image(&app.ecr, "team/app", by_tag("v1")).await;
    let pulled = describe(&app, "team/app", &a.digest)
        .await
        .last_recorded_pull_time()
        .expect("pull time recorded")
        .secs();
    assert!((before - 1..=now_secs() + 1).contains(&pulled), "{pulled}");
    // Only the image pulled.
    assert!(describe(&app, "team/app", &b.digest)
        .await
        .last_recorded_pull_time()
        .is_none());
    // A failed get records nothing.
    app.ecr
        .batch_get_image()
        .repository_name("team/app")
        .image_ids(by_tag("v2"))
        .accepted_media_types(DOCKER_MANIFEST)
        .send()
        .await
        .expect("get");
    assert!(describe(&app, "team/app", &b.digest)
        .await
        .last_recorded_pull_time()
        .is_none());
}

// ---------------------------------------------------------------------------------
// BatchDeleteImage
// ---------------------------------------------------------------------------------

both_stores!(
    batch_delete_image_by_tag,
    batch_delete_image_by_digest_and_failures,
    batch_delete_image_referenced_by_index,
);

async fn batch_delete_image_by_tag(app: TestApp) {
    app.create_repo("team/app").await;
    let a = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("v1")).await;
    app.put_ok("team/app", &a.manifest, Some("v2")).await;

    let out = app
        .ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_tag("v1"))
        .send()
        .await
        .expect("delete tag");
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        vec![entry(&a.digest, Some("v1"))]
    );
    assert_eq!(
        list(&app, "team/app", TagStatus::Any).await,
        vec![entry(&a.digest, Some("v2"))]
    );

    // The last tag takes the image with it.
    let out = app
        .ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_tag("v2"))
        .send()
        .await
        .expect("delete last tag");
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        vec![entry(&a.digest, Some("v2"))]
    );
    assert!(list(&app, "team/app", TagStatus::Any).await.is_empty());
    let r = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .image_ids(by_digest(&a.digest))
        .send()
        .await;
    assert_code(r, "ImageNotFoundException", "image gone");
    // The manifest can be put again afresh.
    app.put_ok("team/app", &a.manifest, None).await;
}

async fn batch_delete_image_by_digest_and_failures(app: TestApp) {
    app.create_repo("team/app").await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("v1")).await;
    app.put_ok("team/app", &a.manifest, Some("v2")).await;
    app.put_ok("team/app", &b.manifest, Some("keep")).await;
    let absent = sha256(b"absent");

    let out = app
        .ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_digest(&a.digest))
        .image_ids(by_digest(&absent))
        .image_ids(by_tag("nope"))
        .image_ids(by_digest("sha256:short"))
        .image_ids(
            ImageIdentifier::builder()
                .image_digest(&b.digest)
                .image_tag("v1")
                .build(),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(
        sorted(out.image_ids().iter().map(pair).collect()),
        vec![entry(&a.digest, Some("v1")), entry(&a.digest, Some("v2"))]
    );
    let failures: Vec<_> = out
        .failures()
        .iter()
        .map(|f| {
            (
                pair_opt(f.image_id().expect("id")),
                f.failure_code().expect("code").clone(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        vec![
            (
                (Some(absent.clone()), None),
                ImageFailureCode::ImageNotFound
            ),
            ((None, Some("nope".into())), ImageFailureCode::ImageNotFound),
            (
                (Some("sha256:short".into()), None),
                ImageFailureCode::InvalidImageDigest
            ),
            (
                (Some(b.digest.clone()), Some("v1".into())),
                ImageFailureCode::ImageNotFound
            ),
        ]
    );
    assert_eq!(
        list(&app, "team/app", TagStatus::Any).await,
        vec![entry(&b.digest, Some("keep"))]
    );

    // An untagged image deleted by digest is reported by digest alone.
    app.put_ok("team/app", &a.manifest, None).await;
    let out = app
        .ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_digest(&a.digest))
        .send()
        .await
        .expect("delete untagged");
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        vec![entry(&a.digest, None)]
    );

    let r = app
        .ecr
        .batch_delete_image()
        .repository_name("team/none")
        .image_ids(by_tag("v1"))
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "no repository");
}

fn pair_opt(id: &ImageIdentifier) -> (Option<String>, Option<String>) {
    (
        id.image_digest().map(str::to_owned),
        id.image_tag().map(str::to_owned),
    )
}

async fn batch_delete_image_referenced_by_index(app: TestApp) {
    app.create_repo("team/app").await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("amd64")).await;
    app.put_ok("team/app", &b.manifest, None).await;
    let idx = index(OCI_INDEX, &[&a, &b]);
    let idx_digest = app.put_ok("team/app", &idx, Some("multi")).await;

    let out = app
        .ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_digest(&a.digest))
        .image_ids(by_digest(&b.digest))
        .send()
        .await
        .expect("delete");
    assert!(out.image_ids().is_empty(), "{:?}", out.image_ids());
    assert_eq!(out.failures().len(), 2);
    for f in out.failures() {
        assert_eq!(
            f.failure_code(),
            Some(&ImageFailureCode::ImageReferencedByManifestList),
            "{f:?}"
        );
    }
    // Both children are still there, with their tags.
    assert_eq!(
        sorted(list(&app, "team/app", TagStatus::Any).await),
        sorted(vec![
            entry(&a.digest, Some("amd64")),
            entry(&b.digest, None),
            entry(&idx_digest, Some("multi")),
        ])
    );

    // Untagging a child that keeps another tag is fine; its last tag cannot go
    // while the index needs the image, and stays.
    app.put_ok("team/app", &a.manifest, Some("extra")).await;
    let out = app
        .ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_tag("extra"))
        .send()
        .await
        .expect("delete a spare tag");
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        vec![entry(&a.digest, Some("extra"))]
    );
    let out = app
        .ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_tag("amd64"))
        .send()
        .await
        .expect("delete the last tag");
    assert!(out.image_ids().is_empty(), "{:?}", out.image_ids());
    assert_eq!(
        out.failures()[0].failure_code(),
        Some(&ImageFailureCode::ImageReferencedByManifestList)
    );
    assert_eq!(digest_of_tag(&app, "team/app", "amd64").await, a.digest);

    // The index first, then its children.
    let out = app
        .ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_tag("multi"))
        .send()
        .await
        .expect("delete index");
    assert_eq!(
        out.image_ids().iter().map(pair).collect::<Vec<_>>(),
        vec![entry(&idx_digest, Some("multi"))]
    );
    let out = app
        .ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_digest(&a.digest))
        .image_ids(by_digest(&b.digest))
        .send()
        .await
        .expect("delete children");
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    assert_eq!(out.image_ids().len(), 2);
    assert!(list(&app, "team/app", TagStatus::Any).await.is_empty());
}

// ---------------------------------------------------------------------------------
// ListImages
// ---------------------------------------------------------------------------------

both_stores!(
    list_images_entries_and_filters,
    list_images_pagination_and_tokens
);

async fn list_images_entries_and_filters(app: TestApp) {
    app.create_repo("team/app").await;
    assert!(list(&app, "team/app", TagStatus::Any).await.is_empty());
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    let c = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("a1")).await;
    app.put_ok("team/app", &a.manifest, Some("a2")).await;
    app.put_ok("team/app", &b.manifest, None).await;
    app.put_ok("team/app", &c.manifest, Some("c1")).await;

    let tagged = vec![
        entry(&a.digest, Some("a1")),
        entry(&a.digest, Some("a2")),
        entry(&c.digest, Some("c1")),
    ];
    let untagged = vec![entry(&b.digest, None)];
    let mut any = tagged.clone();
    any.extend(untagged.clone());

    assert_eq!(
        sorted(list(&app, "team/app", TagStatus::Any).await),
        sorted(any.clone())
    );
    assert_eq!(
        sorted(list(&app, "team/app", TagStatus::Tagged).await),
        sorted(tagged)
    );
    assert_eq!(list(&app, "team/app", TagStatus::Untagged).await, untagged);
    // No filter is ANY.
    let out = app
        .ecr
        .list_images()
        .repository_name("team/app")
        .send()
        .await
        .expect("list");
    assert_eq!(
        sorted(out.image_ids().iter().map(pair).collect()),
        sorted(any)
    );
    assert!(out.next_token().is_none());

    let r = app
        .ecr
        .list_images()
        .repository_name("team/none")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "no repository");
}

async fn list_images_pagination_and_tokens(app: TestApp) {
    app.create_repo("team/app").await;
    // An untagged image, then images with three, two and one tags: seven entries,
    // so that pages of two end inside one image's tags under every filter.
    let mut expected = Vec::new();
    let loose = build(&app, "team/app", Format::Oci, &[64]).await;
    app.put_ok("team/app", &loose.manifest, None).await;
    expected.push(entry(&loose.digest, None));
    for (i, tags) in [3, 2, 1].into_iter().enumerate() {
        let img = build(&app, "team/app", Format::Oci, &[64]).await;
        for t in ["x", "y", "z"].into_iter().take(tags) {
            let tag = format!("{t}{i}");
            app.put_ok("team/app", &img.manifest, Some(&tag)).await;
            expected.push(entry(&img.digest, Some(&tag)));
        }
    }
    assert_eq!(expected.len(), 7);

    for (status, want) in [
        (TagStatus::Any, expected.clone()),
        (
            TagStatus::Tagged,
            expected.iter().filter(|e| e.1.is_some()).cloned().collect(),
        ),
        (
            TagStatus::Untagged,
            expected.iter().filter(|e| e.1.is_none()).cloned().collect(),
        ),
    ] {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = app
                .ecr
                .list_images()
                .repository_name("team/app")
                .filter(
                    ListImagesFilter::builder()
                        .tag_status(status.clone())
                        .build(),
                )
                .max_results(2)
                .set_next_token(token.clone())
                .send()
                .await
                .expect("page");
            pages += 1;
            assert!(page.image_ids().len() <= 2);
            seen.extend(page.image_ids().iter().map(pair));
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
            assert!(pages < 20, "pagination does not end");
        }
        let distinct: BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(
            distinct.len(),
            seen.len(),
            "{status:?}: duplicates in {seen:?}"
        );
        assert_eq!(sorted(seen), sorted(want.clone()), "{status:?}");
        assert_eq!(pages, want.len().div_ceil(2).max(1), "{status:?}");
    }

    let first = app
        .ecr
        .list_images()
        .repository_name("team/app")
        .max_results(2)
        .send()
        .await
        .expect("first page");
    let token = first.next_token().expect("more pages").to_owned();

    // Garbage and forged tokens.
    let mut forged = token.clone().into_bytes();
    let mid = forged.len() / 2;
    forged[mid] = if forged[mid] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii token");
    for bad in ["garbage", "e30=", forged.as_str()] {
        let r = app
            .ecr
            .list_images()
            .repository_name("team/app")
            .max_results(2)
            .next_token(bad)
            .send()
            .await;
        assert_code(r, "InvalidParameterException", bad);
    }
    // A token resumes only the listing that issued it.
    let r = app
        .ecr
        .list_images()
        .repository_name("team/app")
        .filter(
            ListImagesFilter::builder()
                .tag_status(TagStatus::Untagged)
                .build(),
        )
        .next_token(&token)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "other filter");
    let r = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .next_token(&token)
        .send()
        .await;
    assert_code(
        r,
        "InvalidParameterException",
        "ListImages token in DescribeImages",
    );
    app.create_repo("team/other").await;
    let r = app
        .ecr
        .list_images()
        .repository_name("team/other")
        .next_token(&token)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "other repository");
    // The genuine token still works.
    let second = app
        .ecr
        .list_images()
        .repository_name("team/app")
        .max_results(2)
        .next_token(&token)
        .send()
        .await
        .expect("second page");
    assert_eq!(second.image_ids().len(), 2);
}

// ---------------------------------------------------------------------------------
// DescribeImages
// ---------------------------------------------------------------------------------

both_stores!(
    describe_images_details,
    describe_images_by_ids,
    describe_images_pagination_and_filters,
    describe_images_raw_json_timestamps_are_numbers,
);

async fn describe_images_details(app: TestApp) {
    app.create_repo("team/app").await;
    let before = now_secs();
    let img = build(&app, "team/app", Format::Oci, &[1000, 2345, 17]).await;
    app.put_ok("team/app", &img.manifest, Some("v1")).await;
    app.put_ok("team/app", &img.manifest, Some("latest")).await;
    let loose = build(&app, "team/app", Format::Oci, &[5]).await;
    app.put_ok("team/app", &loose.manifest, None).await;

    let detail = describe(&app, "team/app", &img.digest).await;
    assert_eq!(detail.registry_id(), Some(ACCOUNT));
    assert_eq!(detail.repository_name(), Some("team/app"));
    assert_eq!(detail.image_digest(), Some(img.digest.as_str()));
    assert_eq!(tags_of(&detail), ["latest", "v1"]);
    assert_eq!(
        detail.image_size_in_bytes(),
        Some((img.config.len() + 1000 + 2345 + 17) as i64)
    );
    let pushed = detail.image_pushed_at().expect("pushed at").secs();
    assert!((before - 1..=now_secs() + 1).contains(&pushed), "{pushed}");
    assert_eq!(detail.image_manifest_media_type(), Some(OCI_MANIFEST));
    assert_eq!(detail.artifact_media_type(), Some(OCI_CONFIG));
    assert!(detail.last_recorded_pull_time().is_none());

    let detail = describe(&app, "team/app", &loose.digest).await;
    assert!(detail.image_tags.is_none(), "{:?}", detail.image_tags);
    assert_eq!(detail.image_size_in_bytes(), Some(loose.size()));

    // Described by tag, the same image.
    let out = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .image_ids(by_tag("latest"))
        .send()
        .await
        .expect("by tag");
    assert_eq!(
        out.image_details()[0].image_digest(),
        Some(img.digest.as_str())
    );
    assert_eq!(tags_of(&out.image_details()[0]), ["latest", "v1"]);
}

async fn describe_images_by_ids(app: TestApp) {
    app.create_repo("team/app").await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("v1")).await;
    app.put_ok("team/app", &b.manifest, None).await;

    let out = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .image_ids(by_tag("v1"))
        .image_ids(by_digest(&b.digest))
        .image_ids(by_digest(&a.digest))
        .send()
        .await
        .expect("describe");
    let digests: BTreeSet<_> = out
        .image_details()
        .iter()
        .map(|d| d.image_digest().expect("digest").to_owned())
        .collect();
    assert_eq!(digests, [a.digest.clone(), b.digest.clone()].into());
    assert_eq!(out.image_details().len(), 2, "one detail per image");

    for missing in [by_tag("v9"), by_digest(&sha256(b"absent"))] {
        let r = app
            .ecr
            .describe_images()
            .repository_name("team/app")
            .image_ids(by_tag("v1"))
            .image_ids(missing)
            .send()
            .await;
        assert_code(r, "ImageNotFoundException", "one missing");
    }
    // A tag and a digest that disagree name no image.
    let r = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .image_ids(
            ImageIdentifier::builder()
                .image_digest(&b.digest)
                .image_tag("v1")
                .build(),
        )
        .send()
        .await;
    assert_code(r, "ImageNotFoundException", "mismatch");
    // A malformed id is a parameter error.
    let r = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .image_ids(by_digest("sha256:nothex"))
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "bad digest");

    let r = app
        .ecr
        .describe_images()
        .repository_name("team/none")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "no repository");
    let r = app
        .ecr
        .describe_images()
        .repository_name("team/none")
        .image_ids(by_tag("v1"))
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "no repository");
}

async fn describe_images_pagination_and_filters(app: TestApp) {
    app.create_repo("team/app").await;
    let mut tagged = BTreeSet::new();
    let mut untagged = BTreeSet::new();
    for i in 0..5 {
        let img = build(&app, "team/app", Format::Oci, &[32]).await;
        if i % 2 == 0 {
            app.put_ok("team/app", &img.manifest, Some(&format!("t{i}")))
                .await;
            app.put_ok("team/app", &img.manifest, Some(&format!("u{i}")))
                .await;
            tagged.insert(img.digest);
        } else {
            app.put_ok("team/app", &img.manifest, None).await;
            untagged.insert(img.digest);
        }
    }

    let all: BTreeSet<_> = tagged.union(&untagged).cloned().collect();
    for (status, want) in [
        (TagStatus::Any, &all),
        (TagStatus::Tagged, &tagged),
        (TagStatus::Untagged, &untagged),
    ] {
        let (details, pages) = describe_all_pages(&app, status.clone()).await;
        let mut seen = Vec::new();
        for d in &details {
            let digest = d.image_digest().expect("digest").to_owned();
            assert_eq!(d.image_tags.is_some(), tagged.contains(&digest), "{d:?}");
            seen.push(digest);
        }
        let distinct: BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(distinct.len(), seen.len(), "{status:?}: duplicates");
        assert_eq!(&distinct, want, "{status:?}");
        assert_eq!(pages, want.len().div_ceil(2), "{status:?}");
    }

    // A token is not for use with explicit ids, nor with another filter.
    let first = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .max_results(2)
        .send()
        .await
        .expect("first page");
    let token = first.next_token().expect("more").to_owned();
    let r = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .image_ids(by_tag("t0"))
        .next_token(&token)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "token with ids");
    let r = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .filter(
            DescribeImagesFilter::builder()
                .tag_status(TagStatus::Tagged)
                .build(),
        )
        .next_token(&token)
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "token with another filter");
    let r = app
        .ecr
        .describe_images()
        .repository_name("team/app")
        .next_token("not-a-token")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "garbage token");
    // A DescribeImages token is no more use to ListImages.
    let r = app
        .ecr
        .list_images()
        .repository_name("team/app")
        .next_token(&token)
        .send()
        .await;
    assert_code(
        r,
        "InvalidParameterException",
        "DescribeImages token in ListImages",
    );
}

/// Every DescribeImages detail two at a time, with the number of pages.
async fn describe_all_pages(
    app: &TestApp,
    status: TagStatus,
) -> (Vec<aws_sdk_ecr::types::ImageDetail>, usize) {
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = app
            .ecr
            .describe_images()
            .repository_name("team/app")
            .filter(
                DescribeImagesFilter::builder()
                    .tag_status(status.clone())
                    .build(),
            )
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .expect("page");
        pages += 1;
        assert!(page.image_details().len() <= 2);
        seen.extend(page.image_details().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return (seen, pages);
        }
        assert!(pages < 20, "pagination does not end");
    }
}

async fn describe_images_raw_json_timestamps_are_numbers(app: TestApp) {
    app.create_repo("team/app").await;
    let a = oci(&app, "team/app").await;
    let b = oci(&app, "team/app").await;
    app.put_ok("team/app", &a.manifest, Some("v1")).await;
    app.put_ok("team/app", &b.manifest, None).await;
    batch_get_image(&app.ecr, "team/app", by_tag("v1")).await;

    let reply = app
        .call_json("DescribeImages", json!({"repositoryName": "team/app"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let details = reply.body["imageDetails"].as_array().expect("imageDetails");
    assert_eq!(details.len(), 2);
    let now = now_secs() as f64;
    for d in details {
        let pushed = &d["imagePushedAt"];
        assert!(pushed.is_number(), "imagePushedAt is {pushed}");
        let pushed = pushed.as_f64().expect("number");
        assert!(
            (now - 600.0..=now + 5.0).contains(&pushed),
            "{pushed} vs {now}"
        );
        assert!(d["imageSizeInBytes"].is_i64(), "{d}");
        if d["imageDigest"] == a.digest.as_str() {
            let pulled = &d["lastRecordedPullTime"];
            assert!(pulled.is_number(), "lastRecordedPullTime is {pulled}");
            assert!(pulled.as_f64().expect("number") >= pushed);
            assert_eq!(d["imageTags"], json!(["v1"]));
        } else {
            assert_eq!(d["imageDigest"], b.digest.as_str());
            let obj = d.as_object().expect("object");
            assert!(!obj.contains_key("imageTags"), "{d}");
            assert!(!obj.contains_key("lastRecordedPullTime"), "{d}");
        }
    }
    assert!(reply.body.get("nextToken").is_none(), "{}", reply.body);
}
