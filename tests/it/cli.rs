//! The aws CLI against berth: the calls a newcomer makes from the README.

use std::process::Command;

use serde_json::Value;

use crate::both_stores;
use crate::fixtures::{
    Descriptor, Manifest, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER,
    OCI_MANIFEST,
};
use crate::helpers::{sha256, TestApp, ACCESS_KEY, REGION, SECRET_KEY};

both_stores!(aws_cli_walkthrough, aws_cli_public_walkthrough);

/// Runs `aws ecr <args> --endpoint-url <app> --output json`, returning the parsed
/// output, or the stderr text on failure.
pub(crate) fn aws(app: &TestApp, args: &[&str]) -> Result<Value, String> {
    aws_service(app, "ecr", args)
}

/// The same for `aws <service> ...` (`ecr` or `ecr-public`).
fn aws_service(app: &TestApp, service: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new("aws")
        .arg(service)
        .args(args)
        .args(["--endpoint-url", &app.url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("the aws CLI must be installed (the test command installs it)");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Runs the Python `script` with `ecr`, a boto3 client for the app, in scope; returns
/// what it prints as JSON, or its stderr on failure.
pub(crate) fn boto3(app: &TestApp, script: &str) -> Result<Value, String> {
    let prelude = "import json, sys, boto3\n\
        ecr = boto3.client('ecr', endpoint_url=sys.argv[1], region_name=sys.argv[2], \
        aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])\n";
    let out = Command::new("python3")
        .args(["-c", &format!("{prelude}{script}")])
        .args([&app.url, REGION, ACCESS_KEY, SECRET_KEY])
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("python3 with boto3 (the test command installs it)");
    if out.status.success() {
        serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON ({e}): {out:?}"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn upload_layer(app: &TestApp, dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    upload_layer_via(app, "ecr", dir, name, bytes)
}

/// Uploads a layer into `cli/app` through `aws <service>`'s three layer calls.
fn upload_layer_via(
    app: &TestApp,
    service: &str,
    dir: &std::path::Path,
    name: &str,
    bytes: &[u8],
) -> String {
    let aws = |app, args: &[&str]| aws_service(app, service, args);
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write layer file");
    let up = aws(
        app,
        &["initiate-layer-upload", "--repository-name", "cli/app"],
    )
    .expect("initiate");
    let id = up["uploadId"].as_str().expect("upload id").to_owned();
    let part = aws(
        app,
        &[
            "upload-layer-part",
            "--repository-name",
            "cli/app",
            "--upload-id",
            &id,
            "--part-first-byte",
            "0",
            "--part-last-byte",
            &(bytes.len() - 1).to_string(),
            "--layer-part-blob",
            &format!("fileb://{}", path.display()),
        ],
    )
    .expect("upload part");
    assert_eq!(part["lastByteReceived"], bytes.len() as u64 - 1);
    let digest = sha256(bytes);
    let done = aws(
        app,
        &[
            "complete-layer-upload",
            "--repository-name",
            "cli/app",
            "--upload-id",
            &id,
            "--layer-digests",
            &digest,
        ],
    )
    .expect("complete");
    assert_eq!(done["layerDigest"], digest.as_str());
    digest
}

/// `aws <service> put-image` of `manifest` as `cli/app:v1`, the manifest passed as a
/// file in `dir`.
fn put_image_via(
    app: &TestApp,
    service: &str,
    dir: &std::path::Path,
    manifest: &str,
) -> Result<Value, String> {
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, manifest).expect("write manifest");
    let manifest_arg = format!("file://{}", manifest_path.display());
    aws_service(
        app,
        service,
        &[
            "put-image",
            "--repository-name",
            "cli/app",
            "--image-tag",
            "v1",
            "--image-manifest",
            &manifest_arg,
        ],
    )
}

/// `aws <service> describe-images` of `cli/app` shows the image `digest` put as `v1`,
/// of `size` bytes, with its push time.
fn assert_described_via(app: &TestApp, service: &str, digest: &str, size: usize) {
    let described = aws_service(
        app,
        service,
        &["describe-images", "--repository-name", "cli/app"],
    )
    .expect("describe");
    let detail = &described["imageDetails"][0];
    assert_eq!(detail["imageDigest"], digest);
    assert_eq!(detail["imageTags"][0], "v1");
    assert_eq!(detail["imageSizeInBytes"], size as u64);
    assert!(detail["imagePushedAt"].is_number());
}

async fn aws_cli_walkthrough(app: TestApp) {
    // The CLI blocks; run it off the async workers so the server keeps serving.
    tokio::task::spawn_blocking(move || walkthrough(&app))
        .await
        .expect("walkthrough");
}

fn walkthrough(app: &TestApp) {
    let dir = tempfile::tempdir().expect("temp dir");
    let created = aws(app, &["create-repository", "--repository-name", "cli/app"]).expect("create");
    assert_eq!(created["repository"]["repositoryName"], "cli/app");
    assert!(created["repository"]["createdAt"].is_number());

    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let config_digest = upload_layer(app, dir.path(), "config.json", config);
    let layer_digest = upload_layer(app, dir.path(), "layer.tar", &layer);
    let manifest = Manifest::image(
        DOCKER_MANIFEST,
        Descriptor::new(DOCKER_CONFIG, &config_digest, config.len()),
        [Descriptor::new(DOCKER_LAYER, &layer_digest, layer.len())],
    )
    .to_string();
    let put = put_image_via(app, "ecr", dir.path(), &manifest).expect("put image");
    let digest = sha256(manifest.as_bytes());
    assert_eq!(put["image"]["imageId"]["imageDigest"], digest.as_str());

    let again = put_image_via(app, "ecr", dir.path(), &manifest).expect_err("same tag and digest");
    assert!(again.contains("ImageAlreadyExistsException"), "{again}");

    assert_described_via(app, "ecr", &digest, config.len() + layer.len());

    let got = aws(
        app,
        &[
            "batch-get-image",
            "--repository-name",
            "cli/app",
            "--image-ids",
            "imageTag=v1",
        ],
    )
    .expect("get");
    assert_eq!(got["images"][0]["imageManifest"], manifest.as_str());
    assert_eq!(got["failures"].as_array().map(Vec::len), Some(0));

    let missing =
        aws(app, &["describe-images", "--repository-name", "cli/nope"]).expect_err("no such repo");
    assert!(missing.contains("RepositoryNotFoundException"), "{missing}");

    lifecycle_walkthrough(
        app,
        dir.path(),
        &digest,
        (&config_digest, config.len()),
        (&layer_digest, layer.len()),
    );
}

/// A newer image as `v2`, then a lifecycle policy keeping one `v*` image: its
/// preview expires `v1`, the image `old` names.
fn lifecycle_walkthrough(
    app: &TestApp,
    dir: &std::path::Path,
    old: &str,
    (config_digest, config_size): (&str, usize),
    (layer_digest, layer_size): (&str, usize),
) {
    let newer = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_CONFIG, config_digest, config_size),
        [Descriptor::new(OCI_LAYER, layer_digest, layer_size)],
    )
    .to_string();
    let path = dir.join("newer.json");
    std::fs::write(&path, &newer).expect("write manifest");
    aws(
        app,
        &[
            "put-image",
            "--repository-name",
            "cli/app",
            "--image-tag",
            "v2",
            "--image-manifest",
            &format!("file://{}", path.display()),
        ],
    )
    .expect("put v2");

    let policy = r#"{"rules":[{"rulePriority":1,"description":"keep the newest v image","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
    let put = aws(
        app,
        &[
            "put-lifecycle-policy",
            "--repository-name",
            "cli/app",
            "--lifecycle-policy-text",
            policy,
        ],
    )
    .expect("put lifecycle policy");
    assert_eq!(put["lifecyclePolicyText"], policy);
    let started = aws(
        app,
        &[
            "start-lifecycle-policy-preview",
            "--repository-name",
            "cli/app",
        ],
    )
    .expect("start preview");
    assert_eq!(started["status"], "COMPLETE");
    let preview = aws(
        app,
        &[
            "get-lifecycle-policy-preview",
            "--repository-name",
            "cli/app",
        ],
    )
    .expect("get preview");
    assert_eq!(preview["status"], "COMPLETE");
    let results = preview["previewResults"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{preview}");
    assert_eq!(results[0]["imageDigest"], old);
    assert_eq!(results[0]["imageTags"][0], "v1");
    assert_eq!(results[0]["action"]["type"], "EXPIRE");
    assert_eq!(results[0]["appliedRulePriority"], 1);
    assert!(results[0]["imagePushedAt"].is_number());
    assert_eq!(preview["summary"]["expiringImageTotalCount"], 1);
}

async fn aws_cli_public_walkthrough(app: TestApp) {
    tokio::task::spawn_blocking(move || public_walkthrough(&app))
        .await
        .expect("public walkthrough");
}

/// `aws ecr-public`: a repository with catalog data, the layer upload, put-image,
/// describe-images, describe-image-tags, and the registry it all lives in.
fn public_walkthrough(app: &TestApp) {
    let aws = |args: &[&str]| aws_service(app, "ecr-public", args);
    let dir = tempfile::tempdir().expect("temp dir");
    let created = aws(&[
        "create-repository",
        "--repository-name",
        "cli/app",
        "--catalog-data",
        "description=From the CLI,architectures=ARM 64,operatingSystems=Linux",
    ])
    .expect("create");
    assert_eq!(created["repository"]["repositoryName"], "cli/app");
    assert_eq!(created["catalogData"]["description"], "From the CLI");
    assert_eq!(created["catalogData"]["architectures"][0], "ARM 64");
    let uri = created["repository"]["repositoryUri"]
        .as_str()
        .expect("uri");
    assert!(
        uri.ends_with(&format!("/{}/cli/app", crate::helpers::ALIAS)),
        "{uri}"
    );

    let config =
        br#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 251) as u8).collect();
    let config_digest = upload_layer_via(app, "ecr-public", dir.path(), "config.json", config);
    let layer_digest = upload_layer_via(app, "ecr-public", dir.path(), "layer.tar", &layer);
    let manifest = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_CONFIG, &config_digest, config.len()),
        [Descriptor::new(OCI_LAYER, &layer_digest, layer.len())],
    )
    .to_string();
    let put = put_image_via(app, "ecr-public", dir.path(), &manifest).expect("put image");
    let digest = sha256(manifest.as_bytes());
    assert_eq!(put["image"]["imageId"]["imageDigest"], digest.as_str());

    assert_described_via(app, "ecr-public", &digest, config.len() + layer.len());

    let tags = aws(&["describe-image-tags", "--repository-name", "cli/app"]).expect("tags");
    let tag = &tags["imageTagDetails"][0];
    assert_eq!(tag["imageTag"], "v1");
    assert_eq!(tag["imageDetail"]["imageDigest"], digest.as_str());

    let registries = aws(&["describe-registries"]).expect("registries");
    assert_eq!(
        registries["registries"][0]["aliases"][0]["name"],
        crate::helpers::ALIAS
    );
    let password = Command::new("aws")
        .args([
            "ecr-public",
            "get-login-password",
            "--endpoint-url",
            &app.url,
        ])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("aws");
    assert!(password.status.success(), "get-login-password");
    assert!(!String::from_utf8_lossy(&password.stdout).trim().is_empty());

    let missing =
        aws(&["describe-images", "--repository-name", "cli/nope"]).expect_err("no such repo");
    assert!(missing.contains("RepositoryNotFoundException"), "{missing}");
}
