//! ListImageReferrers: the artifacts whose subject is an image, through aws-sdk-ecr and
//! the aws CLI, the same the registry API's referrers listing serves; filters by
//! artifact type and status, pages, and in a pull-through cache the upstream's too.

use aws_sdk_ecr::types::{
    ArtifactStatus, ArtifactStatusFilter, ImageReferrer, ListImageReferrersFilter,
    SubjectIdentifier,
};
use berth::remote::{Credential, Remote};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::both_stores;
use crate::cli::aws;
use crate::fixtures::{assert_code, Descriptor, Manifest, OCI_EMPTY, OCI_MANIFEST};
use crate::helpers::{sha256, spawn_app, Backend, TestApp, ALIAS};

both_stores!(
    lists_filters_and_pages_referrers,
    the_aws_cli_lists_referrers,
    a_pull_through_cache_lists_the_upstreams_referrers,
);

const SBOM: &str = "application/vnd.example.sbom";
const SIGNATURE: &str = "application/vnd.cncf.notary.signature";

/// Pushes an artifact of `artifact_type` whose subject is the image `subject`
/// (`manifest`), with an annotation naming it; answers its digest and manifest. Its
/// config, the empty blob, must be in the repository.
async fn push_referrer(
    app: &TestApp,
    repo: &str,
    (manifest, subject): (&str, &str),
    artifact_type: &str,
    n: usize,
) -> (String, String) {
    let payload = format!("{artifact_type} #{n}").into_bytes();
    let payload_digest = app.push_blob(repo, &payload).await;
    let body = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_EMPTY, &sha256(b"{}"), 2),
        [Descriptor::new(
            "application/octet-stream",
            &payload_digest,
            payload.len(),
        )],
    )
    .artifact_type(artifact_type)
    .annotations(json!({"org.example.n": n.to_string()}))
    .subject(Descriptor::new(OCI_MANIFEST, subject, manifest.len()))
    .to_string();
    let digest = app.put_ok(repo, &body, None).await;
    (digest, body)
}

async fn list(
    app: &TestApp,
    repo: &str,
    subject: &str,
    filter: Option<ListImageReferrersFilter>,
    max: Option<i32>,
    token: Option<String>,
) -> (Vec<ImageReferrer>, Option<String>) {
    let out = app
        .ecr
        .list_image_referrers()
        .repository_name(repo)
        .subject_id(
            SubjectIdentifier::builder()
                .image_digest(subject)
                .build()
                .expect("subject"),
        )
        .set_filter(filter)
        .set_max_results(max)
        .set_next_token(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("list referrers: {e:?}"));
    (
        out.referrers().to_vec(),
        out.next_token().map(str::to_owned),
    )
}

fn digests(referrers: &[ImageReferrer]) -> Vec<&str> {
    referrers.iter().map(|r| r.digest()).collect()
}

async fn lists_filters_and_pages_referrers(app: TestApp) {
    app.create_repo("refs/app").await;
    let (manifest, subject) = app.push_image("refs/app", Some("v1"), 1).await;
    app.push_blob("refs/app", b"{}").await;
    let mut sboms = Vec::new();
    for n in 0..3 {
        sboms.push(push_referrer(&app, "refs/app", (&manifest, &subject), SBOM, n).await);
    }
    let (signature, signature_body) =
        push_referrer(&app, "refs/app", (&manifest, &subject), SIGNATURE, 9).await;

    // Everything, in push order, described as the registry API describes it.
    let (all, token) = list(&app, "refs/app", &subject, None, None, None).await;
    assert!(token.is_none());
    let mut expected: Vec<&str> = sboms.iter().map(|(d, _)| d.as_str()).collect();
    expected.push(&signature);
    assert_eq!(digests(&all), expected);
    let last = &all[3];
    assert_eq!(last.media_type(), OCI_MANIFEST);
    assert_eq!(last.artifact_type(), Some(SIGNATURE));
    assert_eq!(last.size(), signature_body.len() as i64);
    assert_eq!(last.artifact_status(), Some(&ArtifactStatus::Active));
    assert_eq!(
        last.annotations()
            .and_then(|a| a.get("org.example.n"))
            .map(String::as_str),
        Some("9")
    );
    let password = app.registry_password().await;
    let index: Value = app
        .http
        .get(format!("{}/v2/refs/app/referrers/{subject}", app.url))
        .basic_auth("AWS", Some(&password))
        .send()
        .await
        .expect("referrers")
        .json()
        .await
        .expect("index");
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter_map(|m| m["digest"].as_str())
        .collect();
    assert_eq!(listed, expected, "both faces list the same referrers");

    // By artifact type.
    let only = |types: &[&str]| {
        ListImageReferrersFilter::builder()
            .set_artifact_types(Some(types.iter().map(|t| t.to_string()).collect()))
            .build()
    };
    let (signed, _) = list(
        &app,
        "refs/app",
        &subject,
        Some(only(&[SIGNATURE])),
        None,
        None,
    )
    .await;
    assert_eq!(digests(&signed), [signature.as_str()]);
    let (none, _) = list(&app, "refs/app", &subject, Some(only(&["x/y"])), None, None).await;
    assert!(none.is_empty());

    // Pages of two.
    let (first, token) = list(&app, "refs/app", &subject, None, Some(2), None).await;
    assert_eq!(digests(&first), &expected[..2]);
    let (second, token) = list(&app, "refs/app", &subject, None, Some(2), token).await;
    assert_eq!(digests(&second), &expected[2..]);
    assert!(token.is_none());

    // By status: artifacts are never archived on their own, so none is ARCHIVED.
    let status = |s: ArtifactStatusFilter| {
        ListImageReferrersFilter::builder()
            .artifact_status(s)
            .build()
    };
    let (archived, _) = list(
        &app,
        "refs/app",
        &subject,
        Some(status(ArtifactStatusFilter::Archived)),
        None,
        None,
    )
    .await;
    assert!(archived.is_empty());
    let (any, _) = list(
        &app,
        "refs/app",
        &subject,
        Some(status(ArtifactStatusFilter::Any)),
        None,
        None,
    )
    .await;
    assert_eq!(digests(&any), expected);

    // A token of another listing, a repository that is not there.
    let (_, token) = list(&app, "refs/app", &subject, None, Some(1), None).await;
    let other = app
        .ecr
        .list_image_referrers()
        .repository_name("refs/app")
        .subject_id(
            SubjectIdentifier::builder()
                .image_digest(&sboms[1].0)
                .build()
                .expect("subject"),
        )
        .set_next_token(token)
        .send()
        .await;
    assert_code(other, "InvalidParameterException", "a foreign page token");
    let missing = app
        .ecr
        .list_image_referrers()
        .repository_name("refs/none")
        .subject_id(
            SubjectIdentifier::builder()
                .image_digest(&subject)
                .build()
                .expect("subject"),
        )
        .send()
        .await;
    assert_code(
        missing,
        "RepositoryNotFoundException",
        "a missing repository",
    );
}

async fn the_aws_cli_lists_referrers(app: TestApp) {
    app.create_repo("refs/cli").await;
    let (manifest, subject) = app.push_image("refs/cli", Some("v1"), 1).await;
    app.push_blob("refs/cli", b"{}").await;
    let (signature, _) = push_referrer(&app, "refs/cli", (&manifest, &subject), SIGNATURE, 1).await;
    let subject_arg = format!("imageDigest={subject}");
    let out = aws(
        &app,
        &[
            "list-image-referrers",
            "--repository-name",
            "refs/cli",
            "--subject-id",
            &subject_arg,
        ],
    )
    .expect("aws ecr list-image-referrers");
    assert_eq!(out["referrers"][0]["digest"], signature.as_str());
    assert_eq!(out["referrers"][0]["artifactType"], SIGNATURE);
    assert_eq!(out["referrers"][0]["artifactStatus"], "ACTIVE");
}

async fn a_pull_through_cache_lists_the_upstreams_referrers(app: TestApp) {
    // The upstream: another berth's public registry, with an image and its signature.
    let upstream = spawn_app(Backend::Sqlite).await;
    upstream.create_public("signed").await;
    let password = upstream.public_password().await;
    let remote = Remote::new(
        &upstream.public_url,
        Some(Credential {
            username: "AWS".into(),
            password,
        }),
    )
    .expect("remote");
    let repository = format!("{ALIAS}/signed");
    let image = crate::fixtures::Image::new(crate::fixtures::Format::Oci, &[100]);
    let payload = b"upstream signature".to_vec();
    for blob in image.blobs().chain([payload.as_slice(), b"{}".as_slice()]) {
        let digest = berth::domain::Digest::parse(&sha256(blob)).expect("digest");
        let body = futures_util::stream::iter([Ok(Bytes::copy_from_slice(blob))]);
        remote
            .push_blob(&repository, &digest, blob.len() as u64, body)
            .await
            .expect("blob");
    }
    let put = |reference: String, body: String| {
        let remote = remote.clone();
        let repository = repository.clone();
        async move {
            remote
                .put_manifest(&repository, &reference, OCI_MANIFEST, Bytes::from(body))
                .await
                .expect("manifest upstream")
        }
    };
    put("v1".into(), image.manifest.clone()).await;
    let signature = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_EMPTY, &sha256(b"{}"), 2),
        [Descriptor::new(
            "application/octet-stream",
            &sha256(&payload),
            payload.len(),
        )],
    )
    .artifact_type(SIGNATURE)
    .subject(Descriptor::new(
        OCI_MANIFEST,
        &image.digest,
        image.manifest.len(),
    ))
    .to_string();
    put(sha256(signature.as_bytes()), signature.clone()).await;

    app.ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("cache")
        .upstream_registry_url(&upstream.public_url)
        .send()
        .await
        .expect("rule");
    let cached = format!("cache/{repository}");
    let pulled =
        crate::fixtures::batch_get_image(&app.ecr, &cached, crate::fixtures::by_tag("v1")).await;
    assert_eq!(pulled.images().len(), 1, "{:?}", pulled.failures());

    // The signature is only upstream, and listed all the same.
    let (listed, _) = list(&app, &cached, &image.digest, None, None, None).await;
    assert_eq!(digests(&listed), [sha256(signature.as_bytes()).as_str()]);
    assert_eq!(listed[0].artifact_type(), Some(SIGNATURE));
    assert_eq!(listed[0].size(), signature.len() as i64);
}
