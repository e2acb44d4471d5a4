//! berth serving from an S3 blob store (moto on loopback): skopeo and ECR's layer calls
//! push and pull through it byte for byte, the bytes live in the bucket, and garbage
//! collection and `berth check` work on the bucket.

use aws_sdk_ecr::types::LayerAvailability;

use crate::fixtures::moto::Moto;
use crate::fixtures::{complete_upload, initiate_upload, upload_part};
use crate::helpers::{sha256, token_password};
use crate::process::{run_berth_with, Launch, ServerProcess, ServerState};
use crate::registry_clients::{assert_pulled, blob_names, oci_layout, skopeo};

/// The bucket key of a blob under `prefix`.
fn blob_key(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("blobs/sha256/{}/{hex}", &hex[..2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_round_trip_through_the_bucket() {
    let moto = Moto::start().await;
    let bucket = moto.bucket().await;
    let url = format!("s3://{bucket}/registry");
    let env = moto.settings();
    let dir = tempfile::tempdir().expect("temp dir");
    let state = ServerState {
        data_dir: dir.path().join("data"),
        database_url: None,
        log: dir.path().join("berth.log"),
    };
    let args = ["--blob-store", url.as_str()];
    let server = ServerProcess::launch(
        &state,
        Launch {
            args: &args,
            env: &env,
            ..Launch::default()
        },
    )
    .await;
    server
        .ecr
        .create_repository()
        .repository_name("s3/app")
        .send()
        .await
        .expect("create");

    // ECR's layer calls: two parts, joined in the bucket.
    let layer: Vec<u8> = (0..6 * 1024 * 1024 + 3).map(|i| (i % 241) as u8).collect();
    let layer_digest = sha256(&layer);
    let id = initiate_upload(&server.ecr, "s3/app").await;
    let split = 5 * 1024 * 1024;
    upload_part(&server.ecr, "s3/app", &id, 0, &layer[..split])
        .await
        .expect("part 1");
    upload_part(&server.ecr, "s3/app", &id, split as i64, &layer[split..])
        .await
        .expect("part 2");
    complete_upload(&server.ecr, "s3/app", &id, &layer_digest)
        .await
        .expect("complete");
    let checked = server
        .ecr
        .batch_check_layer_availability()
        .repository_name("s3/app")
        .layer_digests(&layer_digest)
        .send()
        .await
        .expect("check");
    assert_eq!(
        checked.layers()[0].layer_availability(),
        Some(&LayerAvailability::Available)
    );
    assert_eq!(checked.layers()[0].layer_size(), Some(layer.len() as i64));
    let token = server
        .ecr
        .get_authorization_token()
        .send()
        .await
        .expect("token");
    let password = token_password(
        token.authorization_data()[0]
            .authorization_token()
            .expect("token"),
    );
    // Read back through the registry API (ECR hands out download URLs only for layers
    // an image references).
    let fetched = reqwest::Client::new()
        .get(format!("{}/v2/s3/app/blobs/{layer_digest}", server.url))
        .basic_auth("AWS", Some(&password))
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("body");
    assert!(
        fetched[..] == layer[..],
        "the layer comes back byte for byte"
    );
    let keys = moto.keys(&bucket, "registry").await;
    assert_eq!(
        keys,
        vec![blob_key(&layer_digest)],
        "the blob is in the bucket, and no upload is left"
    );

    // skopeo pushes an image and pulls it back.
    let creds = format!("AWS:{password}");
    let (src, back) = (dir.path().join("src"), dir.path().join("back"));
    let (digest, _) = oci_layout(&src, "v1", 7);
    let dest = format!("docker://127.0.0.1:{}/s3/app:v1", server.port);
    let (src_ref, back_ref) = (
        format!("oci:{}:v1", src.display()),
        format!("oci:{}:v1", back.display()),
    );
    let (ok, err) = skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &src_ref,
        &dest,
    ])
    .await;
    assert!(ok, "skopeo push failed: {err}");
    let (ok, err) = skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &dest,
        &back_ref,
    ])
    .await;
    assert!(ok, "skopeo pull failed: {err}");
    assert_eq!(blob_names(&src), blob_names(&back));
    let manifest = std::fs::read_to_string(
        src.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .expect("manifest");
    assert_pulled(&back, &manifest, &digest);
    let image: serde_json::Value = serde_json::from_str(&manifest).expect("json");
    let mut image_blobs: Vec<String> = image["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .chain([&image["config"]])
        .map(|d| d["digest"].as_str().expect("digest").to_owned())
        .collect();
    let keys = moto.keys(&bucket, "registry").await;
    for blob in &image_blobs {
        assert!(keys.contains(&blob_key(blob)), "{blob} in {keys:?}");
    }

    // A ranged GET is a ranged read of the object.
    let first_layer = &image_blobs[0];
    let ranged = reqwest::Client::new()
        .get(format!("{}/v2/s3/app/blobs/{first_layer}", server.url))
        .basic_auth("AWS", Some(&password))
        .header("Range", "bytes=10-19")
        .send()
        .await
        .expect("ranged");
    assert_eq!(ranged.status().as_u16(), 206);
    let layer_file = std::fs::read(
        src.join("blobs/sha256")
            .join(first_layer.trim_start_matches("sha256:")),
    )
    .expect("layer file");
    assert_eq!(ranged.bytes().await.expect("body")[..], layer_file[10..20]);

    // Every blob reads back whole from the bucket.
    let (code, out) = run_berth_with(
        &state.data_dir,
        None,
        &["check", "--blob-store", &url],
        &env,
    );
    assert_eq!(code, Some(0), "berth check: {out}");

    // Collection removes the layer no image uses from the bucket, and keeps the image.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (code, out) = run_berth_with(
        &state.data_dir,
        None,
        &["gc", "--gc-grace", "1ms", "--blob-store", &url],
        &env,
    );
    assert_eq!(code, Some(0), "berth gc: {out}");
    assert!(out.contains("1 blobs"), "{out}");
    let keys = moto.keys(&bucket, "registry").await;
    image_blobs.sort_by_key(|d| blob_key(d));
    let expected: Vec<String> = image_blobs.iter().map(|d| blob_key(d)).collect();
    assert_eq!(keys, expected, "only the image's blobs stay");
    let gone = server
        .ecr
        .batch_check_layer_availability()
        .repository_name("s3/app")
        .layer_digests(&layer_digest)
        .send()
        .await
        .expect("check");
    assert_eq!(gone.failures().len(), 1, "the collected layer is unknown");
    let (ok, err) = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &dest,
        &format!("oci:{}:again", dir.path().join("again").display()),
    ])
    .await;
    assert!(ok, "the image still pulls after collection: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_refused_at_start() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "gc",
            "--blob-store",
            "s3://no-such-bucket/registry",
            "--data-dir",
        ])
        .arg(dir.path())
        .envs(moto.settings())
        .env_remove("DATABASE_URL")
        .output()
        .expect("run berth");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot open the blob store s3://no-such-bucket/registry: "),
        "{stderr}"
    );
}
