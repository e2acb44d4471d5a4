//! Real registry clients against the registry face: skopeo (Debian package) and
//! oras-py (PyPI `oras`), with the ECR face reading what they pushed.

use std::path::Path;
use std::process::Command;

use aws_sdk_ecr::types::ImageTagMutability;
use serde_json::{json, Value};

use crate::both_stores;
use crate::fixtures::{
    batch_get_image, by_digest, by_tag, describe_image, Descriptor, Manifest, OCI_CONFIG,
    OCI_INDEX, OCI_MANIFEST,
};
use crate::helpers::{sha256, TestApp};

both_stores!(
    skopeo_round_trip,
    skopeo_pulls_what_put_image_registered,
    skopeo_pulls_public_images_anonymously,
    oras_artifacts_and_referrers,
    oras_token_auth_on_the_public_registry
);

fn write_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = sha256(bytes);
    let hex = digest.trim_start_matches("sha256:");
    std::fs::write(layout.join("blobs/sha256").join(hex), bytes).expect("write blob");
    (digest, bytes.len())
}

/// An OCI image layout holding one image (a config and two layers) tagged `tag`.
/// Returns the manifest digest and the image size (config + layers).
pub(crate) fn oci_layout(layout: &Path, tag: &str, seed: u8) -> (String, usize) {
    std::fs::create_dir_all(layout.join("blobs/sha256")).expect("layout dirs");
    let layers: Vec<Vec<u8>> = (0..2)
        .map(|i| (0..70_000u32).map(|b| (b as u8) ^ seed ^ i).collect())
        .collect();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let mut size = 0;
    for layer in &layers {
        let (digest, len) = write_blob(layout, layer);
        size += len;
        descriptors.push(Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar",
            &digest,
            len,
        ));
        diff_ids.push(digest);
    }
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "seed": seed}).to_string();
    let (config_digest, config_len) = write_blob(layout, config.as_bytes());
    size += config_len;
    let config = Descriptor::new(OCI_CONFIG, &config_digest, config_len);
    let manifest = Manifest::image(OCI_MANIFEST, config, descriptors).to_string();
    let (manifest_digest, manifest_len) = write_blob(layout, manifest.as_bytes());
    let entry = Descriptor::new(OCI_MANIFEST, &manifest_digest, manifest_len).with(
        "annotations",
        json!({"org.opencontainers.image.ref.name": tag}),
    );
    let index = Manifest::index(OCI_INDEX, [entry]).without_media_type();
    std::fs::write(layout.join("index.json"), index.to_string()).expect("index");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    (manifest_digest, size)
}

/// Runs skopeo off the async workers (it blocks), returning (success, stderr).
pub(crate) async fn skopeo<S: AsRef<str>>(args: &[S]) -> (bool, String) {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("skopeo")
            .args(&args)
            .output()
            .expect("skopeo must be installed (the test command installs it)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("join")
}

/// skopeo copies `from` to `to` with their digests kept, logging in as `creds` (over
/// plain HTTP) on whichever side is a `docker://` registry.
pub(crate) async fn skopeo_copy(creds: &str, from: &str, to: &str) -> (bool, String) {
    let mut args = vec!["copy", "--preserve-digests"];
    if from.starts_with("docker://") {
        args.extend(["--src-tls-verify=false", "--src-creds", creds]);
    }
    if to.starts_with("docker://") {
        args.extend(["--dest-tls-verify=false", "--dest-creds", creds]);
    }
    args.extend([from, to]);
    skopeo(&args).await
}

/// Checks an image skopeo pulled into the OCI layout `out`: the manifest is there
/// under its digest, byte for byte, and every layer hashes to its name.
pub(crate) fn assert_pulled(out: &Path, manifest: &str, digest: &str) {
    let blob = |digest: &str| {
        out.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let pulled = std::fs::read(blob(digest)).expect("manifest pulled under its digest");
    assert_eq!(
        pulled,
        manifest.as_bytes(),
        "the manifest arrives byte for byte"
    );
    for layer in serde_json::from_str::<Value>(manifest).expect("json")["layers"]
        .as_array()
        .expect("layers")
    {
        let d = layer["digest"].as_str().expect("digest");
        let bytes = std::fs::read(blob(d)).expect("layer");
        assert_eq!(sha256(&bytes), d);
    }
}

pub(crate) fn blob_names(layout: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
        .expect("blobs dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn skopeo_round_trip(app: TestApp) {
    app.create_repo("clients/skopeo").await;
    let creds = format!("AWS:{}", app.registry_password().await);
    let dir = tempfile::tempdir().expect("temp dir");
    let (src, back, other) = (
        dir.path().join("src"),
        dir.path().join("back"),
        dir.path().join("other"),
    );
    let (digest, size) = oci_layout(&src, "v1", 1);
    let host = format!("127.0.0.1:{}", app.port);
    let dest = format!("docker://{host}/clients/skopeo:v1");

    let (src_ref, back_ref) = (
        format!("oci:{}:v1", src.display()),
        format!("oci:{}:v1", back.display()),
    );
    let (ok, err) = skopeo_copy(&creds, &src_ref, &dest).await;
    assert!(ok, "skopeo push failed: {err}");

    // The ECR face sees the image with its tag and size.
    let described = app
        .ecr
        .describe_images()
        .repository_name("clients/skopeo")
        .send()
        .await
        .expect("describe");
    let detail = &described.image_details()[0];
    assert_eq!(detail.image_digest(), Some(digest.as_str()));
    assert_eq!(detail.image_tags(), ["v1"]);
    assert_eq!(detail.image_size_in_bytes(), Some(size as i64));

    let (ok, err) = skopeo_copy(&creds, &dest, &back_ref).await;
    assert!(ok, "skopeo pull failed: {err}");
    assert_eq!(
        blob_names(&src),
        blob_names(&back),
        "the same blobs come back"
    );
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(back.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());

    // Immutability holds on this face too: another image under v1 is refused.
    app.ecr
        .put_image_tag_mutability()
        .repository_name("clients/skopeo")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .send()
        .await
        .expect("immutable");
    oci_layout(&other, "v1", 2);
    let other_ref = format!("oci:{}:v1", other.display());
    let again = [
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &other_ref,
        &dest,
    ];
    let (ok, err) = skopeo(&again).await;
    assert!(!ok, "pushing over an immutable tag must fail");
    assert!(
        err.contains("TAG_INVALID") || err.contains("tag invalid"),
        "{err}"
    );
    let still = batch_get_image(&app.ecr, "clients/skopeo", by_tag("v1")).await;
    assert_eq!(
        still.images()[0].image_id().and_then(|i| i.image_digest()),
        Some(digest.as_str())
    );

    // Without credentials the push is refused.
    let anon = [
        "copy",
        "--dest-tls-verify=false",
        &other_ref,
        &format!("docker://{host}/clients/skopeo:anon"),
    ];
    let (ok, _) = skopeo(&anon).await;
    assert!(!ok, "anonymous push must be refused in strict mode");
}

async fn skopeo_pulls_what_put_image_registered(app: TestApp) {
    app.create_repo("clients/ecr").await;
    let (manifest, digest) = app.push_image("clients/ecr", Some("from-ecr"), 2).await;
    let creds = format!("AWS:{}", app.registry_password().await);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let src = format!("docker://127.0.0.1:{}/clients/ecr:from-ecr", app.port);
    let dst = format!("oci:{}:x", out.display());
    let args = [
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &src,
        &dst,
    ];
    let (ok, err) = skopeo(&args).await;
    assert!(ok, "skopeo pull failed: {err}");
    assert_pulled(&out, &manifest, &digest);
}

/// An image put through ECR Public pulls from the public registry with no
/// credentials at all; pushing there takes ECR Public's token.
async fn skopeo_pulls_public_images_anonymously(app: TestApp) {
    app.create_public("clients/public").await;
    let (manifest, digest) = app.push_public_image("clients/public", "v1").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let registry = format!(
        "{}/{}",
        app.public_url.trim_start_matches("http://"),
        crate::helpers::ALIAS
    );
    let pull = vec![
        "copy".to_owned(),
        "--preserve-digests".into(),
        "--src-tls-verify=false".into(),
        "--src-no-creds".into(),
        format!("docker://{registry}/clients/public:v1"),
        format!("oci:{}:v1", out.display()),
    ];
    let (ok, err) = skopeo(&pull).await;
    assert!(ok, "anonymous skopeo pull failed: {err}");
    assert_pulled(&out, &manifest, &digest);

    // Pushing back under another tag: refused without credentials, accepted with
    // ECR Public's token.
    let push = |creds: Option<String>| {
        let mut args = vec![
            "copy".to_owned(),
            "--preserve-digests".into(),
            "--dest-tls-verify=false".into(),
        ];
        match creds {
            Some(c) => args.extend(["--dest-creds".to_owned(), c]),
            None => args.push("--dest-no-creds".into()),
        }
        args.extend([
            format!("oci:{}:v1", out.display()),
            format!("docker://{registry}/clients/public:v2"),
        ]);
        args
    };
    let (ok, _) = skopeo(&push(None)).await;
    assert!(!ok, "an anonymous push must be refused");
    let creds = format!("AWS:{}", app.public_password().await);
    let (ok, err) = skopeo(&push(Some(creds))).await;
    assert!(ok, "skopeo push with the ECR Public token failed: {err}");
    assert_eq!(
        public_tags(&app, "clients/public").await,
        [("v1".to_owned(), digest.clone()), ("v2".to_owned(), digest)]
    );
}

/// A public repository's tags and the digests they name, from DescribeImageTags.
async fn public_tags(app: &TestApp, repo: &str) -> Vec<(String, String)> {
    let described = app
        .ecr_public
        .describe_image_tags()
        .repository_name(repo)
        .send()
        .await
        .expect("tags");
    described
        .image_tag_details()
        .iter()
        .map(|t| {
            let digest = t.image_detail().and_then(|d| d.image_digest());
            (
                t.image_tag().unwrap_or_default().to_owned(),
                digest.unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Runs an oras-py script of tests/clients with `args`; answers the JSON report it
/// prints.
async fn oras_py(script: &str, args: Vec<String>) -> Value {
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(path)
            .args(&args)
            .output()
            .expect("python3")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "oras-py ({script}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report")
}

async fn oras_artifacts_and_referrers(app: TestApp) {
    app.create_repo("clients/oras").await;
    let (_, subject) = app.push_image("clients/oras", Some("app"), 1).await;
    let password = app.registry_password().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let host = format!("127.0.0.1:{}", app.port);
    let report = oras_py(
        "oras_artifact.py",
        vec![
            host.clone(),
            "clients/oras".into(),
            password.clone(),
            subject.clone(),
            dir.path().display().to_string(),
        ],
    )
    .await;
    assert_eq!(report["push_status"], 201);
    assert_eq!(report["oci_subject"], subject.as_str());
    assert_eq!(report["chunked_status"], 201);
    assert_eq!(report["pulled"], json!(["signed by berth tests\n"]));
    let tags: Vec<&str> = report["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(tags, ["app", "sbom", "sig"]);

    // The referrers API lists the signature, and only it, for the subject.
    let referrers: Value = app
        .http
        .get(format!("{}/v2/clients/oras/referrers/{subject}", app.url))
        .basic_auth("AWS", Some(&password))
        .send()
        .await
        .expect("referrers")
        .json()
        .await
        .expect("index");
    let manifests = referrers["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], report["push_digest"]);
    // And so does ECR's ListImageReferrers.
    let listed = app
        .ecr
        .list_image_referrers()
        .repository_name("clients/oras")
        .subject_id(
            aws_sdk_ecr::types::SubjectIdentifier::builder()
                .image_digest(&subject)
                .build()
                .expect("subject"),
        )
        .send()
        .await
        .expect("list image referrers");
    let listed: Vec<&str> = listed.referrers().iter().map(|r| r.digest()).collect();
    assert_eq!(listed, [report["push_digest"].as_str().expect("digest")]);

    // The ECR face sees the artifact and its subject.
    let sig = report["push_digest"].as_str().expect("digest");
    let detail = describe_image(&app.ecr, "clients/oras", by_digest(sig)).await;
    assert_eq!(detail.subject_manifest_digest(), Some(subject.as_str()));
    assert_eq!(detail.image_tags(), ["sig"]);
}

/// oras-py's default auth takes the scope the Bearer challenge names to the token
/// endpoint: with ECR Public's password it pushes, without credentials it pulls, and
/// an anonymous push is refused.
async fn oras_token_auth_on_the_public_registry(app: TestApp) {
    app.create_public("clients/oras-public").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = oras_py(
        "oras_public.py",
        vec![
            app.public_url.trim_start_matches("http://").to_owned(),
            format!("{}/clients/oras-public", crate::helpers::ALIAS),
            app.public_password().await,
            dir.path().display().to_string(),
        ],
    )
    .await;
    assert_eq!(report["push_status"], 201);
    assert_eq!(report["pulled"], json!(["public notes\n"]));
    let refused = report["anonymous_push"].as_str().expect("anonymous push");
    assert!(refused.contains("Unauthorized"), "{refused}");
    let digest = report["push_digest"].as_str().expect("digest").to_owned();
    assert_eq!(
        public_tags(&app, "clients/oras-public").await,
        [("notes".to_owned(), digest)]
    );
}
