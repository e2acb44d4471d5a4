//! berth serving from an S3 blob store (moto on loopback): skopeo and ECR's layer calls
//! push and pull through it byte for byte, the bytes live in the bucket, and garbage
//! collection and `berth check` work on the bucket.

use aws_sdk_ecr::types::LayerAvailability;

use crate::fixtures::moto::Moto;
use crate::fixtures::{complete_upload, initiate_upload, upload_part};
use crate::helpers::{sha256, token_password};
use crate::process::{run_berth_with, Launch, ServerProcess, ServerState};
use crate::registry_clients::{assert_pulled, blob_names, oci_layout, skopeo};

/// The store's identity, made by the first process to start on the bucket.
const STORE_ID: &str = "store-id";

/// The bucket key of a blob under the store's prefix.
fn blob_key(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("blobs/sha256/{}/{hex}", &hex[..2])
}

/// berth serving from a fresh bucket on moto (prefix `registry`), with one repository.
struct OnBucket {
    moto: Moto,
    bucket: String,
    /// The `--blob-store` URL.
    url: String,
    dir: tempfile::TempDir,
    state: ServerState,
    server: ServerProcess,
    /// The registry password, and `AWS:<password>` for skopeo.
    password: String,
    creds: String,
}

impl OnBucket {
    async fn start(repository: &str, more_args: &[&str]) -> Self {
        let moto = Moto::start().await;
        let bucket = moto.bucket().await;
        let url = format!("s3://{bucket}/registry");
        let dir = tempfile::tempdir().expect("temp dir");
        let state = ServerState::in_dir(dir.path());
        let mut args = vec!["--blob-store", url.as_str()];
        args.extend(more_args);
        let server = ServerProcess::launch(
            &state,
            Launch {
                args: &args,
                env: &moto.settings(),
                ..Launch::default()
            },
        )
        .await;
        server.create_repo(repository).await;
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
        let creds = format!("AWS:{password}");
        OnBucket {
            moto,
            bucket,
            url,
            dir,
            state,
            server,
            password,
            creds,
        }
    }

    /// `docker://` reference of `path` (`repo:tag`) on this berth.
    fn image(&self, path: &str) -> String {
        format!("docker://127.0.0.1:{}/{path}", self.server.port)
    }

    /// skopeo copies the OCI layout `layout` (tag `v1`) to `image`, digests kept.
    async fn push(&self, layout: &std::path::Path, image: &str) {
        let from = format!("oci:{}:v1", layout.display());
        let (ok, err) = skopeo(&[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            &self.creds,
            &from,
            image,
        ])
        .await;
        assert!(ok, "skopeo push failed: {err}");
    }

    /// skopeo copies `image` into the OCI layout `layout` (tag `v1`).
    async fn pull(&self, image: &str, layout: &std::path::Path) {
        let to = format!("oci:{}:v1", layout.display());
        let (ok, err) = skopeo(&[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--src-creds",
            &self.creds,
            image,
            &to,
        ])
        .await;
        assert!(ok, "skopeo pull failed: {err}");
    }

    /// `berth <args> --blob-store <url>` over this server's store; exit code, stdout.
    fn berth(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut args = args.to_vec();
        args.extend(["--blob-store", self.url.as_str()]);
        run_berth_with(&self.state.data_dir, None, &args, &self.moto.settings())
    }

    /// Every object under the prefix, sorted.
    async fn keys(&self) -> Vec<String> {
        self.moto.keys(&self.bucket, "registry").await
    }

    /// A blob GET on `/v2/` with the registry password, redirects not followed.
    async fn get_blob(
        &self,
        repository: &str,
        digest: &str,
        range: Option<&str>,
    ) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut request = client
            .get(format!(
                "{}/v2/{repository}/blobs/{digest}",
                self.server.url
            ))
            .basic_auth("AWS", Some(&self.password));
        if let Some(range) = range {
            request = request.header("Range", range);
        }
        request.send().await.expect("blob GET")
    }
}

/// The manifest skopeo reads from `layout` for `digest`, and its blobs (layers, config).
fn layout_image(layout: &std::path::Path, digest: &str) -> (String, Vec<String>) {
    let manifest = std::fs::read_to_string(layout_blob(layout, digest)).expect("manifest");
    let image: serde_json::Value = serde_json::from_str(&manifest).expect("json");
    let blobs = image["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .chain([&image["config"]])
        .map(|d| d["digest"].as_str().expect("digest").to_owned())
        .collect();
    (manifest, blobs)
}

fn layout_blob(layout: &std::path::Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_round_trip_through_the_bucket() {
    let b = OnBucket::start("s3/app", &[]).await;
    let ecr = &b.server.ecr;

    // ECR's layer calls: two parts, joined in the bucket.
    let layer: Vec<u8> = (0..6 * 1024 * 1024 + 3).map(|i| (i % 241) as u8).collect();
    let layer_digest = sha256(&layer);
    let id = initiate_upload(ecr, "s3/app").await;
    let split = 5 * 1024 * 1024;
    upload_part(ecr, "s3/app", &id, 0, &layer[..split])
        .await
        .expect("part 1");
    upload_part(ecr, "s3/app", &id, split as i64, &layer[split..])
        .await
        .expect("part 2");
    complete_upload(ecr, "s3/app", &id, &layer_digest)
        .await
        .expect("complete");
    let checked = ecr
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
    // Read back through the registry API (ECR hands out download URLs only for layers
    // an image references).
    let fetched = b.get_blob("s3/app", &layer_digest, None).await;
    let fetched = fetched.bytes().await.expect("body");
    assert!(
        fetched[..] == layer[..],
        "the layer comes back byte for byte"
    );
    assert_eq!(
        b.keys().await,
        vec![blob_key(&layer_digest), STORE_ID.to_owned()],
        "the blob is in the bucket (beside the store's identity), and no upload is left"
    );

    // skopeo pushes an image and pulls it back.
    let (src, back) = (b.dir.path().join("src"), b.dir.path().join("back"));
    let (digest, _) = oci_layout(&src, "v1", 7);
    let image = b.image("s3/app:v1");
    b.push(&src, &image).await;
    b.pull(&image, &back).await;
    assert_eq!(blob_names(&src), blob_names(&back));
    let (manifest, mut image_blobs) = layout_image(&src, &digest);
    assert_pulled(&back, &manifest, &digest);
    let keys = b.keys().await;
    for blob in &image_blobs {
        assert!(keys.contains(&blob_key(blob)), "{blob} in {keys:?}");
    }

    // A ranged GET is a ranged read of the object.
    let ranged = b
        .get_blob("s3/app", &image_blobs[0], Some("bytes=10-19"))
        .await;
    assert_eq!(ranged.status().as_u16(), 206);
    let layer_file = std::fs::read(layout_blob(&src, &image_blobs[0])).expect("layer file");
    assert_eq!(ranged.bytes().await.expect("body")[..], layer_file[10..20]);

    // Every blob reads back whole from the bucket.
    let (code, out) = b.berth(&["check"]);
    assert_eq!(code, Some(0), "berth check: {out}");

    // Collection removes the layer no image uses from the bucket, and keeps the image.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (code, out) = b.berth(&["gc", "--gc-grace", "1ms"]);
    assert_eq!(code, Some(0), "berth gc: {out}");
    assert!(out.contains("1 blobs"), "{out}");
    image_blobs.sort_by_key(|d| blob_key(d));
    let mut expected: Vec<String> = image_blobs.iter().map(|d| blob_key(d)).collect();
    expected.push(STORE_ID.to_owned());
    assert_eq!(
        b.keys().await,
        expected,
        "only the image's blobs (and the store's identity) stay"
    );
    let gone = ecr
        .batch_check_layer_availability()
        .repository_name("s3/app")
        .layer_digests(&layer_digest)
        .send()
        .await
        .expect("check");
    assert_eq!(gone.failures().len(), 1, "the collected layer is unknown");
    b.pull(&image, &b.dir.path().join("again")).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_gets_redirect_to_presigned_urls() {
    let b = OnBucket::start("s3/redirected", &["--blob-redirect"]).await;
    let src = b.dir.path().join("src");
    let (digest, _) = oci_layout(&src, "v1", 9);
    let image = b.image("s3/redirected:v1");
    b.push(&src, &image).await;
    let (manifest, blobs) = layout_image(&src, &digest);
    let layer = &blobs[0];
    let layer_bytes = std::fs::read(layout_blob(&src, layer)).expect("layer file");

    let answer = b.get_blob("s3/redirected", layer, None).await;
    assert_eq!(answer.status().as_u16(), 307);
    let location = answer.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let object = format!(
        "{}/{}/registry/{}?",
        b.moto.endpoint,
        b.bucket,
        blob_key(layer)
    );
    assert!(location.starts_with(&object), "{location}");
    assert!(location.contains("X-Amz-Signature="), "{location}");
    // The presigned URL is the credential: no login needed there.
    let fetched = reqwest::get(&location)
        .await
        .expect("presigned get")
        .bytes()
        .await
        .expect("body");
    assert!(fetched[..] == layer_bytes[..], "the object holds the layer");
    // Ranged GETs are answered by berth itself.
    let ranged = b.get_blob("s3/redirected", layer, Some("bytes=0-9")).await;
    assert_eq!(ranged.status().as_u16(), 206);
    assert_eq!(ranged.bytes().await.expect("body")[..], layer_bytes[..10]);

    // skopeo follows the redirects.
    let back = b.dir.path().join("back");
    b.pull(&image, &back).await;
    assert_pulled(&back, &manifest, &digest);

    // Redirects need an object store or the download listener.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["config", "check", "--blob-redirect", "--data-dir"])
        .arg(b.dir.path().join("other"))
        .env_remove("BERTH_BLOB_STORE")
        .output()
        .expect("run berth");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("set download_listen"), "{said}");
}
