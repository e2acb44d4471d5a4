//! The layer actions of the ECR face: initiate, upload parts, complete, availability
//! checks and download URLs, with every error path the model lists for them.

use aws_sdk_ecr::primitives::Blob;
use aws_sdk_ecr::types::LayerAvailability;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use crate::both_stores;
use crate::helpers::{sha256, TestApp, ACCOUNT};

both_stores!(
    initiate_layer_upload,
    upload_part_sequence,
    invalid_layer_part_raw_body,
    upload_not_found,
    multipart_upload,
    complete_layer_upload_errors,
    batch_check_layer_availability,
    layer_media_type_from_manifests,
    download_url,
    download_url_errors,
    blobs_are_per_repository,
    layer_calls_need_credentials,
    finished_uploads_leave_no_partial_bytes,
);

const MIB: usize = 1024 * 1024;

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

async fn initiate(app: &TestApp, repo: &str) -> String {
    app.ecr
        .initiate_layer_upload()
        .repository_name(repo)
        .send()
        .await
        .expect("initiate")
        .upload_id()
        .expect("upload id")
        .to_owned()
}

/// Sends one part; returns the SDK's answer.
async fn part(
    app: &TestApp,
    repo: &str,
    id: &str,
    first: i64,
    last: i64,
    bytes: &[u8],
) -> Result<
    aws_sdk_ecr::operation::upload_layer_part::UploadLayerPartOutput,
    aws_sdk_ecr::operation::upload_layer_part::UploadLayerPartError,
> {
    app.ecr
        .upload_layer_part()
        .repository_name(repo)
        .upload_id(id)
        .part_first_byte(first)
        .part_last_byte(last)
        .layer_part_blob(Blob::new(bytes))
        .send()
        .await
        .map_err(|e| e.into_service_error())
}

/// Sends one part that must be accepted; checks the echo.
async fn good_part(app: &TestApp, repo: &str, id: &str, first: i64, bytes: &[u8]) {
    let last = first + bytes.len() as i64 - 1;
    let out = part(app, repo, id, first, last, bytes)
        .await
        .expect("part accepted");
    assert_eq!(out.last_byte_received(), Some(last));
    assert_eq!(out.upload_id(), Some(id));
    assert_eq!(out.repository_name(), Some(repo));
    assert_eq!(out.registry_id(), Some(ACCOUNT));
}

/// Sends one part that must be refused with `InvalidLayerPartException` carrying
/// `lastValidByteReceived == expected_last`.
async fn bad_part(
    app: &TestApp,
    repo: &str,
    id: &str,
    first: i64,
    last: i64,
    bytes: &[u8],
    expected_last: i64,
) {
    let err = part(app, repo, id, first, last, bytes)
        .await
        .expect_err("part refused");
    match err {
        aws_sdk_ecr::operation::upload_layer_part::UploadLayerPartError::InvalidLayerPartException(e) => {
            assert_eq!(e.last_valid_byte_received(), Some(expected_last), "{first}-{last}");
            assert_eq!(e.upload_id(), Some(id));
            assert_eq!(e.repository_name(), Some(repo));
            assert_eq!(e.registry_id(), Some(ACCOUNT));
        }
        other => panic!("{first}-{last}: expected InvalidLayerPartException, got {other:?}"),
    }
}

async fn complete(
    app: &TestApp,
    repo: &str,
    id: &str,
    digest: &str,
) -> Result<
    aws_sdk_ecr::operation::complete_layer_upload::CompleteLayerUploadOutput,
    aws_sdk_ecr::operation::complete_layer_upload::CompleteLayerUploadError,
> {
    app.ecr
        .complete_layer_upload()
        .repository_name(repo)
        .upload_id(id)
        .layer_digests(digest)
        .send()
        .await
        .map_err(|e| e.into_service_error())
}

/// `(digest, size)` of every available layer, and `(digest, code)` of every failure.
async fn check(
    app: &TestApp,
    repo: &str,
    digests: &[&str],
) -> (Vec<(String, i64)>, Vec<(String, String)>) {
    let out = app
        .ecr
        .batch_check_layer_availability()
        .repository_name(repo)
        .set_layer_digests(Some(digests.iter().map(|d| (*d).to_owned()).collect()))
        .send()
        .await
        .expect("check availability");
    let layers = out
        .layers()
        .iter()
        .map(|l| {
            assert_eq!(l.layer_availability(), Some(&LayerAvailability::Available));
            (
                l.layer_digest().unwrap_or_default().to_owned(),
                l.layer_size().unwrap_or(-1),
            )
        })
        .collect();
    let failures = out
        .failures()
        .iter()
        .map(|f| {
            assert!(f.failure_reason().is_some_and(|r| !r.is_empty()));
            (
                f.layer_digest().unwrap_or_default().to_owned(),
                f.failure_code()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    (layers, failures)
}

async fn download_url_for(app: &TestApp, repo: &str, digest: &str) -> String {
    let out = app
        .ecr
        .get_download_url_for_layer()
        .repository_name(repo)
        .layer_digest(digest)
        .send()
        .await
        .expect("download url");
    assert_eq!(out.layer_digest(), Some(digest));
    out.download_url().expect("url").to_owned()
}

/// Puts an image whose only layer is `layer` (already uploaded); the config is
/// uploaded here.
async fn reference_layer(app: &TestApp, repo: &str, layer: &[u8], tag: &str) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","tag":"{tag}"}}"#);
    let config_digest = app.push_blob(repo, config.as_bytes()).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(layer), "size": layer.len()}],
    })
    .to_string();
    app.ecr
        .put_image()
        .repository_name(repo)
        .image_manifest(manifest)
        .image_tag(tag)
        .send()
        .await
        .expect("put image");
}

async fn initiate_layer_upload(app: TestApp) {
    app.create_repo("up").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let out = app
            .ecr
            .initiate_layer_upload()
            .repository_name("up")
            .send()
            .await
            .expect("initiate");
        let id = out.upload_id().expect("upload id");
        let parsed = uuid::Uuid::parse_str(id).expect("the upload id is a UUID");
        assert_eq!(parsed.hyphenated().to_string(), id.to_lowercase());
        assert_eq!(out.part_size(), Some(10_485_760));
        ids.push(id.to_owned());
    }
    assert_ne!(ids[0], ids[1], "each upload has its own id");

    let err = app
        .ecr
        .initiate_layer_upload()
        .repository_name("missing")
        .send()
        .await
        .expect_err("missing repository");
    assert!(err.into_service_error().is_repository_not_found_exception());
    let err = app
        .ecr
        .initiate_layer_upload()
        .repository_name("Not/Valid")
        .send()
        .await
        .expect_err("malformed name");
    assert!(err.into_service_error().is_invalid_parameter_exception());
}

async fn upload_part_sequence(app: TestApp) {
    app.create_repo("seq").await;
    let id = initiate(&app, "seq").await;
    // The first part is at the 5 MiB minimum so the upload can complete at the end.
    let p = 5 * MIB;
    let bytes = random_bytes(p + 300);
    let (pi, end) = (p as i64, p as i64 - 1);

    // The first part must start at 0.
    bad_part(&app, "seq", &id, 10, 109, &bytes[10..110], 0).await;
    good_part(&app, "seq", &id, 0, &bytes[..p]).await;
    // A gap after the last byte received.
    bad_part(
        &app,
        "seq",
        &id,
        pi + 1,
        pi + 50,
        &bytes[p + 1..p + 51],
        end,
    )
    .await;
    // An overlap with bytes already received.
    bad_part(
        &app,
        "seq",
        &id,
        pi - 50,
        pi + 49,
        &bytes[p - 50..p + 50],
        end,
    )
    .await;
    bad_part(&app, "seq", &id, 0, 99, &bytes[..100], end).await;
    // The byte range and the blob disagree in length, either way.
    bad_part(&app, "seq", &id, pi, pi + 99, &bytes[p..p + 50], end).await;
    bad_part(&app, "seq", &id, pi, pi + 49, &bytes[p..p + 100], end).await;
    // A range that ends before it starts.
    bad_part(&app, "seq", &id, pi, pi - 2, &[], end).await;

    // The refused parts changed nothing: the upload goes on from byte p.
    good_part(&app, "seq", &id, pi, &bytes[p..]).await;
    let digest = sha256(&bytes);
    let out = complete(&app, "seq", &id, &digest).await.expect("complete");
    assert_eq!(out.layer_digest(), Some(digest.as_str()));
    assert_eq!(out.upload_id(), Some(id.as_str()));
    assert_eq!(out.repository_name(), Some("seq"));
    assert_eq!(out.registry_id(), Some(ACCOUNT));
    let (layers, failures) = check(&app, "seq", &[&digest]).await;
    assert_eq!(layers, vec![(digest, bytes.len() as i64)]);
    assert!(failures.is_empty());
}

async fn invalid_layer_part_raw_body(app: TestApp) {
    app.create_repo("raw").await;
    let id = initiate(&app, "raw").await;
    good_part(&app, "raw", &id, 0, &[7u8; 64]).await;
    let body = serde_json::json!({
        "repositoryName": "raw",
        "uploadId": id,
        "partFirstByte": 100,
        "partLastByte": 103,
        "layerPartBlob": STANDARD.encode([1u8, 2, 3, 4]),
    });
    let reply = app
        .call(
            "AmazonEC2ContainerRegistry_V20150921.UploadLayerPart",
            body.to_string().as_bytes(),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_type(), "InvalidLayerPartException");
    assert_eq!(
        reply
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok()),
        Some("InvalidLayerPartException")
    );
    assert_eq!(reply.body["registryId"], ACCOUNT);
    assert_eq!(reply.body["repositoryName"], "raw");
    assert_eq!(reply.body["uploadId"], id.as_str());
    assert_eq!(reply.body["lastValidByteReceived"], 63);
    assert!(reply.body["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

async fn upload_not_found(app: TestApp) {
    app.create_repo("one").await;
    app.create_repo("two").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let theirs = initiate(&app, "one").await;

    for id in [unknown.as_str(), theirs.as_str()] {
        let err = part(&app, "two", id, 0, 2, b"abc")
            .await
            .expect_err("part for an unknown upload");
        assert!(err.is_upload_not_found_exception(), "{id}: {err:?}");
        let err = complete(&app, "two", id, &sha256(b"abc"))
            .await
            .expect_err("complete an unknown upload");
        assert!(err.is_upload_not_found_exception(), "{id}: {err:?}");
    }
    // The upload of repository "one" is unharmed and still works there.
    good_part(&app, "one", &theirs, 0, b"abc").await;
    complete(&app, "one", &theirs, &sha256(b"abc"))
        .await
        .expect("complete in its own repository");

    // A malformed upload id is a parameter error; a missing repository is named.
    let err = part(&app, "one", "not-a-uuid", 0, 2, b"abc")
        .await
        .expect_err("malformed id");
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
    let err = part(&app, "missing", &unknown, 0, 2, b"abc")
        .await
        .expect_err("missing repository");
    assert!(err.is_repository_not_found_exception(), "{err:?}");
    let err = complete(&app, "missing", &unknown, &sha256(b"abc"))
        .await
        .expect_err("missing repository");
    assert!(err.is_repository_not_found_exception(), "{err:?}");
}

async fn multipart_upload(app: TestApp) {
    app.create_repo("big").await;
    let bytes = random_bytes(10 * MIB + 1234);
    let id = initiate(&app, "big").await;
    let mut first = 0;
    for chunk in [
        &bytes[..5 * MIB],
        &bytes[5 * MIB..10 * MIB],
        &bytes[10 * MIB..],
    ] {
        good_part(&app, "big", &id, first, chunk).await;
        first += chunk.len() as i64;
    }
    let digest = sha256(&bytes);
    let out = complete(&app, "big", &id, &digest).await.expect("complete");
    assert_eq!(out.layer_digest(), Some(digest.as_str()));
    let (layers, _) = check(&app, "big", &[&digest]).await;
    assert_eq!(layers, vec![(digest.clone(), bytes.len() as i64)]);

    // The stored bytes are exactly the parts, in order.
    reference_layer(&app, "big", &bytes, "v1").await;
    let url = download_url_for(&app, "big", &digest).await;
    let got = reqwest::get(&url).await.expect("download");
    assert_eq!(got.status(), 200);
    let got = got.bytes().await.expect("body");
    assert_eq!(got.len(), bytes.len());
    assert_eq!(sha256(&got), digest);
}

async fn complete_layer_upload_errors(app: TestApp) {
    app.create_repo("done").await;

    // No parts at all.
    let id = initiate(&app, "done").await;
    let err = complete(&app, "done", &id, &sha256(b""))
        .await
        .expect_err("empty upload");
    assert!(err.is_empty_upload_exception(), "{err:?}");

    // A part other than the last under 5 MiB.
    let id = initiate(&app, "done").await;
    good_part(&app, "done", &id, 0, b"small first part").await;
    good_part(&app, "done", &id, 16, b"and the last").await;
    let err = complete(&app, "done", &id, &sha256(b"small first partand the last"))
        .await
        .expect_err("small part");
    assert!(err.is_layer_part_too_small_exception(), "{err:?}");

    // The joined bytes do not match the digest given.
    let id = initiate(&app, "done").await;
    good_part(&app, "done", &id, 0, b"the real bytes").await;
    let err = complete(&app, "done", &id, &sha256(b"other bytes"))
        .await
        .expect_err("wrong digest");
    assert!(err.is_invalid_layer_exception(), "{err:?}");
    let (_, failures) = check(&app, "done", &[&sha256(b"other bytes")]).await;
    assert_eq!(
        failures.len(),
        1,
        "nothing was stored under the wrong digest"
    );

    // A layer completes once; its upload id is then unknown.
    let digest = app.push_blob("done", b"a layer").await;
    let id = initiate(&app, "done").await;
    good_part(&app, "done", &id, 0, b"a layer").await;
    let err = complete(&app, "done", &id, &digest)
        .await
        .expect_err("the layer exists");
    assert!(err.is_layer_already_exists_exception(), "{err:?}");
    let (layers, _) = check(&app, "done", &[&digest]).await;
    assert_eq!(layers, vec![(digest.clone(), 7)]);

    let id = initiate(&app, "done").await;
    good_part(&app, "done", &id, 0, b"fresh layer").await;
    complete(&app, "done", &id, &sha256(b"fresh layer"))
        .await
        .expect("complete");
    let err = part(&app, "done", &id, 11, 12, b"!!")
        .await
        .expect_err("part after completion");
    assert!(err.is_upload_not_found_exception(), "{err:?}");
    let err = complete(&app, "done", &id, &sha256(b"fresh layer"))
        .await
        .expect_err("complete twice");
    assert!(err.is_upload_not_found_exception(), "{err:?}");
}

async fn batch_check_layer_availability(app: TestApp) {
    app.create_repo("avail").await;
    let small = app.push_blob("avail", b"12345").await;
    let large = random_bytes(70_000);
    let large_digest = app.push_blob("avail", &large).await;
    let missing = sha256(b"never uploaded");

    let (layers, failures) = check(
        &app,
        "avail",
        &[
            &small,
            &missing,
            "sha256:xyz",
            "not-a-digest",
            &large_digest,
        ],
    )
    .await;
    let mut layers = layers;
    layers.sort();
    let mut expected = vec![(small.clone(), 5), (large_digest.clone(), 70_000)];
    expected.sort();
    assert_eq!(layers, expected);
    let mut failures = failures;
    failures.sort();
    let mut expected_failures = vec![
        (missing.clone(), "MissingLayerDigest".to_owned()),
        ("sha256:xyz".to_owned(), "InvalidLayerDigest".to_owned()),
        ("not-a-digest".to_owned(), "InvalidLayerDigest".to_owned()),
    ];
    expected_failures.sort();
    assert_eq!(failures, expected_failures);

    let err = app
        .ecr
        .batch_check_layer_availability()
        .repository_name("missing")
        .layer_digests(&small)
        .send()
        .await
        .expect_err("missing repository");
    assert!(err.into_service_error().is_repository_not_found_exception());
}

async fn download_url(app: TestApp) {
    app.create_repo("dl").await;
    let layer = random_bytes(4096);
    let digest = app.push_blob("dl", &layer).await;
    reference_layer(&app, "dl", &layer, "v1").await;

    let url = download_url_for(&app, "dl", &digest).await;
    assert!(url.starts_with(&app.url), "{url} is on berth");
    // Plain HTTP, no credentials of any kind.
    let got = reqwest::get(&url).await.expect("download");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), layer.as_slice());

    // A tampered token: the signature no longer fits.
    let (prefix, token) = url.rsplit_once('/').expect("token in the path");
    let mut flipped = token.as_bytes().to_vec();
    let at = flipped.len() - 5;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{prefix}/{}", String::from_utf8(flipped).expect("ascii"));

    // A forged grant: the payload names another blob, the signature is kept.
    let other = app.push_blob("dl", b"unreferenced secret").await;
    let (payload, mac) = token.split_once('.').expect("payload.mac");
    let payload =
        String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("utf-8");
    assert!(payload.contains(&digest));
    let forged_payload = URL_SAFE_NO_PAD.encode(payload.replace(&digest, &other));
    let forged = format!("{prefix}/{forged_payload}.{mac}");

    let bads = [flipped, forged, format!("{prefix}/garbage")];
    for bad in &bads {
        let resp = reqwest::get(bad).await.expect("request");
        assert_eq!(resp.status(), 403, "{bad}");
        let body = resp.bytes().await.expect("body");
        assert!(
            !body
                .windows(b"unreferenced secret".len())
                .any(|w| w == b"unreferenced secret"),
            "no bytes of the blob"
        );
        assert!(
            body.len() < layer.len() && !body.windows(64).any(|w| w == &layer[..64]),
            "no bytes of the blob"
        );
    }

    // The genuine URL stops working once the repository is gone.
    app.ecr
        .delete_repository()
        .repository_name("dl")
        .force(true)
        .send()
        .await
        .expect("delete");
    let resp = reqwest::get(&url).await.expect("request");
    assert_eq!(resp.status(), 403);
}

async fn download_url_errors(app: TestApp) {
    app.create_repo("dl").await;
    app.create_repo("elsewhere").await;

    // Never uploaded anywhere.
    let err = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest(sha256(b"nothing"))
        .send()
        .await
        .expect_err("unknown blob");
    assert!(err.into_service_error().is_layers_not_found_exception());

    // Uploaded, but to another repository.
    let theirs = app.push_blob("elsewhere", b"their layer").await;
    let err = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest(&theirs)
        .send()
        .await
        .expect_err("another repository's blob");
    assert!(err.into_service_error().is_layers_not_found_exception());

    // Uploaded here, but no image references it.
    let loose = app.push_blob("dl", b"a loose layer").await;
    let err = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest(&loose)
        .send()
        .await
        .expect_err("unreferenced blob");
    assert!(err.into_service_error().is_layer_inaccessible_exception());

    // Once an image references it, it is downloadable.
    reference_layer(&app, "dl", b"a loose layer", "v1").await;
    let url = download_url_for(&app, "dl", &loose).await;
    let got = reqwest::get(&url).await.expect("download");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), b"a loose layer");

    let err = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("missing")
        .layer_digest(&loose)
        .send()
        .await
        .expect_err("missing repository");
    assert!(err.into_service_error().is_repository_not_found_exception());
    let err = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest("sha256:nothex")
        .send()
        .await
        .expect_err("malformed digest");
    assert!(err.into_service_error().is_invalid_parameter_exception());
}

async fn blobs_are_per_repository(app: TestApp) {
    app.create_repo("repo-a").await;
    app.create_repo("repo-b").await;
    let bytes = b"only in a";
    let digest = app.push_blob("repo-a", bytes).await;

    let (layers, _) = check(&app, "repo-a", &[&digest]).await;
    assert_eq!(layers, vec![(digest.clone(), bytes.len() as i64)]);
    let (layers, failures) = check(&app, "repo-b", &[&digest]).await;
    assert!(layers.is_empty(), "visible in another repository");
    assert_eq!(
        failures,
        vec![(digest.clone(), "MissingLayerDigest".to_owned())]
    );

    // Uploading the same bytes to B is a fresh layer there, not a duplicate.
    let again = app.push_blob("repo-b", bytes).await;
    assert_eq!(again, digest);
    let (layers, _) = check(&app, "repo-b", &[&digest]).await;
    assert_eq!(layers, vec![(digest.clone(), bytes.len() as i64)]);

    // Deleting A leaves B's copy available.
    app.ecr
        .delete_repository()
        .repository_name("repo-a")
        .force(true)
        .send()
        .await
        .expect("delete a");
    let (layers, _) = check(&app, "repo-b", &[&digest]).await;
    assert_eq!(layers, vec![(digest, bytes.len() as i64)]);
}

/// The download URL is the only credential-free way to a layer: the ECR calls
/// themselves refuse unsigned requests.
async fn layer_calls_need_credentials(app: TestApp) {
    app.create_repo("locked").await;
    let layer = b"locked layer";
    let digest = app.push_blob("locked", layer).await;
    reference_layer(&app, "locked", layer, "v1").await;
    for (action, body) in [
        (
            "GetDownloadUrlForLayer",
            serde_json::json!({"repositoryName": "locked", "layerDigest": digest}),
        ),
        (
            "BatchCheckLayerAvailability",
            serde_json::json!({"repositoryName": "locked", "layerDigests": [digest]}),
        ),
        (
            "InitiateLayerUpload",
            serde_json::json!({"repositoryName": "locked"}),
        ),
    ] {
        let target = format!("AmazonEC2ContainerRegistry_V20150921.{action}");
        let reply = app
            .call_unsigned(
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target.as_str()),
                ],
                body.to_string().as_bytes(),
            )
            .await;
        assert_eq!(reply.status, 400, "{action}");
        assert_eq!(
            reply.error_type(),
            "MissingAuthenticationTokenException",
            "{action}"
        );
        assert!(reply.body.get("downloadUrl").is_none());
        assert!(reply.body.get("uploadId").is_none());
    }
    let url = download_url_for(&app, "locked", &digest).await;
    let got = reqwest::get(&url).await.expect("download");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), layer);
}

/// Files in the blob store's upload area (`<data dir>/uploads`).
fn upload_files(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(app.data_dir.path().join("uploads"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A completed upload, and one refused because the layer exists, leave no partial
/// bytes behind; an unfinished one keeps its bytes until it completes.
async fn finished_uploads_leave_no_partial_bytes(app: TestApp) {
    app.create_repo("tidy").await;
    app.push_blob("tidy", b"first").await;
    assert!(upload_files(&app).is_empty(), "{:?}", upload_files(&app));

    let id = initiate(&app, "tidy").await;
    good_part(&app, "tidy", &id, 0, b"first").await;
    assert_eq!(upload_files(&app), vec![id.clone()]);
    let err = complete(&app, "tidy", &id, &sha256(b"first"))
        .await
        .expect_err("duplicate");
    assert!(err.is_layer_already_exists_exception(), "{err:?}");
    assert!(upload_files(&app).is_empty(), "{:?}", upload_files(&app));
}

/// BatchCheckLayerAvailability gives a layer the media type an image in the repository
/// describes it with, and none before any image does.
async fn layer_media_type_from_manifests(app: TestApp) {
    app.create_repo("avail/types").await;
    let media_type = |app: &TestApp, digest: String| {
        let ecr = app.ecr.clone();
        async move {
            let out = ecr
                .batch_check_layer_availability()
                .repository_name("avail/types")
                .layer_digests(digest)
                .send()
                .await
                .expect("check");
            out.layers()[0].media_type().map(str::to_owned)
        }
    };
    let manifest = app.image_manifest("avail/types", 1).await;
    let parsed: serde_json::Value = serde_json::from_str(&manifest).expect("json");
    let layer = parsed["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_owned();
    let config = parsed["config"]["digest"]
        .as_str()
        .expect("config")
        .to_owned();
    assert_eq!(
        media_type(&app, layer.clone()).await,
        None,
        "no image describes it yet"
    );
    app.ecr
        .put_image()
        .repository_name("avail/types")
        .image_manifest(&manifest)
        .send()
        .await
        .expect("put");
    assert_eq!(
        media_type(&app, layer).await.as_deref(),
        Some("application/vnd.oci.image.layer.v1.tar+gzip")
    );
    assert_eq!(
        media_type(&app, config).await.as_deref(),
        Some("application/vnd.oci.image.config.v1+json")
    );
}
