//! The layer actions of the ECR face: initiate, upload parts, complete, availability
//! checks and download URLs, with every error path the model lists for them.

use aws_sdk_ecr::types::LayerAvailability;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use crate::both_stores;
use crate::fixtures::{
    assert_code, complete_upload, initiate_upload, layer_download_url, put_image, random_bytes,
    upload_part, upload_part_range, Descriptor, Manifest, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};
use crate::helpers::{sha256, TestApp, ACCOUNT, ECR_TARGET_PREFIX, JSON_11};

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

/// Sends one part that must be accepted; checks the echo.
async fn good_part(app: &TestApp, repo: &str, id: &str, first: i64, bytes: &[u8]) {
    let last = first + bytes.len() as i64 - 1;
    let out = upload_part(&app.ecr, repo, id, first, bytes)
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
    let err = upload_part_range(&app.ecr, repo, id, (first, last), bytes)
        .await
        .expect_err("part refused")
        .into_service_error();
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

/// Puts an image whose only layer is `layer` (already uploaded); the config is
/// uploaded here.
async fn reference_layer(app: &TestApp, repo: &str, layer: &[u8], tag: &str) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","tag":"{tag}"}}"#);
    let config_digest = app.push_blob(repo, config.as_bytes()).await;
    let manifest = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_CONFIG, &config_digest, config.len()),
        [Descriptor::of(OCI_LAYER, layer)],
    )
    .to_string();
    put_image(&app.ecr, repo, &manifest, Some(tag))
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

    let r = app
        .ecr
        .initiate_layer_upload()
        .repository_name("missing")
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "missing repository");
    let r = app
        .ecr
        .initiate_layer_upload()
        .repository_name("Not/Valid")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "malformed name");
}

async fn upload_part_sequence(app: TestApp) {
    app.create_repo("seq").await;
    let id = initiate_upload(&app.ecr, "seq").await;
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
    let out = complete_upload(&app.ecr, "seq", &id, &digest)
        .await
        .expect("complete");
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
    let id = initiate_upload(&app.ecr, "raw").await;
    good_part(&app, "raw", &id, 0, &[7u8; 64]).await;
    let body = serde_json::json!({
        "repositoryName": "raw",
        "uploadId": id,
        "partFirstByte": 100,
        "partLastByte": 103,
        "layerPartBlob": STANDARD.encode([1u8, 2, 3, 4]),
    });
    let reply = app.call_json("UploadLayerPart", body).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_type(), "InvalidLayerPartException");
    assert_eq!(
        reply.header("x-amzn-errortype"),
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
    let theirs = initiate_upload(&app.ecr, "one").await;

    for id in [unknown.as_str(), theirs.as_str()] {
        let r = upload_part(&app.ecr, "two", id, 0, b"abc").await;
        assert_code(
            r,
            "UploadNotFoundException",
            &format!("part for an unknown upload: {id}"),
        );
        let r = complete_upload(&app.ecr, "two", id, &sha256(b"abc")).await;
        assert_code(
            r,
            "UploadNotFoundException",
            &format!("complete an unknown upload: {id}"),
        );
    }
    // The upload of repository "one" is unharmed and still works there.
    good_part(&app, "one", &theirs, 0, b"abc").await;
    complete_upload(&app.ecr, "one", &theirs, &sha256(b"abc"))
        .await
        .expect("complete in its own repository");

    // A malformed upload id is a parameter error; a missing repository is named.
    let r = upload_part(&app.ecr, "one", "not-a-uuid", 0, b"abc").await;
    assert_code(r, "InvalidParameterException", "malformed id");
    let r = upload_part(&app.ecr, "missing", &unknown, 0, b"abc").await;
    assert_code(r, "RepositoryNotFoundException", "missing repository");
    let r = complete_upload(&app.ecr, "missing", &unknown, &sha256(b"abc")).await;
    assert_code(r, "RepositoryNotFoundException", "missing repository");
}

async fn multipart_upload(app: TestApp) {
    app.create_repo("big").await;
    let bytes = random_bytes(10 * MIB + 1234);
    let id = initiate_upload(&app.ecr, "big").await;
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
    let out = complete_upload(&app.ecr, "big", &id, &digest)
        .await
        .expect("complete");
    assert_eq!(out.layer_digest(), Some(digest.as_str()));
    let (layers, _) = check(&app, "big", &[&digest]).await;
    assert_eq!(layers, vec![(digest.clone(), bytes.len() as i64)]);

    // The stored bytes are exactly the parts, in order.
    reference_layer(&app, "big", &bytes, "v1").await;
    let url = layer_download_url(&app.ecr, "big", &digest).await;
    let got = reqwest::get(&url).await.expect("download");
    assert_eq!(got.status(), 200);
    let got = got.bytes().await.expect("body");
    assert_eq!(got.len(), bytes.len());
    assert_eq!(sha256(&got), digest);
}

async fn complete_layer_upload_errors(app: TestApp) {
    app.create_repo("done").await;

    // No parts at all.
    let id = initiate_upload(&app.ecr, "done").await;
    let r = complete_upload(&app.ecr, "done", &id, &sha256(b"")).await;
    assert_code(r, "EmptyUploadException", "empty upload");

    // A part other than the last under 5 MiB.
    let id = initiate_upload(&app.ecr, "done").await;
    good_part(&app, "done", &id, 0, b"small first part").await;
    good_part(&app, "done", &id, 16, b"and the last").await;
    let r = complete_upload(
        &app.ecr,
        "done",
        &id,
        &sha256(b"small first partand the last"),
    )
    .await;
    assert_code(r, "LayerPartTooSmallException", "small part");

    // The joined bytes do not match the digest given.
    let id = initiate_upload(&app.ecr, "done").await;
    good_part(&app, "done", &id, 0, b"the real bytes").await;
    let r = complete_upload(&app.ecr, "done", &id, &sha256(b"other bytes")).await;
    assert_code(r, "InvalidLayerException", "wrong digest");
    let (_, failures) = check(&app, "done", &[&sha256(b"other bytes")]).await;
    assert_eq!(
        failures.len(),
        1,
        "nothing was stored under the wrong digest"
    );

    // A layer completes once; its upload id is then unknown.
    let digest = app.push_blob("done", b"a layer").await;
    let id = initiate_upload(&app.ecr, "done").await;
    good_part(&app, "done", &id, 0, b"a layer").await;
    let r = complete_upload(&app.ecr, "done", &id, &digest).await;
    assert_code(r, "LayerAlreadyExistsException", "the layer exists");
    let (layers, _) = check(&app, "done", &[&digest]).await;
    assert_eq!(layers, vec![(digest.clone(), 7)]);

    let id = initiate_upload(&app.ecr, "done").await;
    good_part(&app, "done", &id, 0, b"fresh layer").await;
    complete_upload(&app.ecr, "done", &id, &sha256(b"fresh layer"))
        .await
        .expect("complete");
    let r = upload_part(&app.ecr, "done", &id, 11, b"!!").await;
    assert_code(r, "UploadNotFoundException", "part after completion");
    let r = complete_upload(&app.ecr, "done", &id, &sha256(b"fresh layer")).await;
    assert_code(r, "UploadNotFoundException", "complete twice");
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

    let r = app
        .ecr
        .batch_check_layer_availability()
        .repository_name("missing")
        .layer_digests(&small)
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "missing repository");
}

async fn download_url(app: TestApp) {
    app.create_repo("dl").await;
    let layer = random_bytes(4096);
    let digest = app.push_blob("dl", &layer).await;
    reference_layer(&app, "dl", &layer, "v1").await;

    let url = layer_download_url(&app.ecr, "dl", &digest).await;
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
    let r = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest(sha256(b"nothing"))
        .send()
        .await;
    assert_code(r, "LayersNotFoundException", "unknown blob");

    // Uploaded, but to another repository.
    let theirs = app.push_blob("elsewhere", b"their layer").await;
    let r = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest(&theirs)
        .send()
        .await;
    assert_code(r, "LayersNotFoundException", "another repository's blob");

    // Uploaded here, but no image references it.
    let loose = app.push_blob("dl", b"a loose layer").await;
    let r = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest(&loose)
        .send()
        .await;
    assert_code(r, "LayerInaccessibleException", "unreferenced blob");

    // Once an image references it, it is downloadable.
    reference_layer(&app, "dl", b"a loose layer", "v1").await;
    let url = layer_download_url(&app.ecr, "dl", &loose).await;
    let got = reqwest::get(&url).await.expect("download");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), b"a loose layer");

    let r = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("missing")
        .layer_digest(&loose)
        .send()
        .await;
    assert_code(r, "RepositoryNotFoundException", "missing repository");
    let r = app
        .ecr
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest("sha256:nothex")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "malformed digest");
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
        let target = format!("{ECR_TARGET_PREFIX}.{action}");
        let reply = app
            .call_unsigned(
                &[("content-type", JSON_11), ("x-amz-target", target.as_str())],
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
    let url = layer_download_url(&app.ecr, "locked", &digest).await;
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

    let id = initiate_upload(&app.ecr, "tidy").await;
    good_part(&app, "tidy", &id, 0, b"first").await;
    assert_eq!(upload_files(&app), vec![id.clone()]);
    let r = complete_upload(&app.ecr, "tidy", &id, &sha256(b"first")).await;
    assert_code(r, "LayerAlreadyExistsException", "duplicate");
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
    put_image(&app.ecr, "avail/types", &manifest, None)
        .await
        .expect("put");
    assert_eq!(media_type(&app, layer).await.as_deref(), Some(OCI_LAYER));
    assert_eq!(media_type(&app, config).await.as_deref(), Some(OCI_CONFIG));
}
