//! Pulls through a pull-through cache rule: images of an upstream registry fetched on
//! first pull, into a repository made from the rule's template, and served from the
//! cache afterwards, with the upstream gone too. Upstreams: Debian's docker-registry
//! (anonymous, and htpasswd Basic through the secrets file), a second berth's public
//! registry (Bearer tokens), and one that breaks off mid-blob.

use std::path::Path;
use std::time::Duration;

use aws_sdk_ecr::types::{ImageTagMutability, RctAppliedFor};
use berth::remote::{Credential, Remote};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engines::docker::Docker;
use crate::engines::{files, unique};
use crate::fixtures::docker_registry::DockerRegistry;
use crate::fixtures::{describe_repository, Format, Image, Manifest, OCI_INDEX};
use crate::helpers::{sha256, spawn_app, spawn_app_with, Backend, TestApp, ACCOUNT, ALIAS, REGION};
use crate::registry_clients::skopeo;

crate::both_stores!(with super::spawn:
    caches_an_anonymous_upstream,
    caches_every_platform_of_an_index,
    logs_in_with_the_rules_secret,
    takes_bearer_tokens_from_the_upstream,
    checks_tags_again_after_the_ttl,
    a_blob_that_breaks_off_is_not_cached,
    docker_pulls_through_the_cache,
    docker_pulls_through_upstreams_that_want_a_login,
    batch_get_image_pulls_through,
);

const TTL: Duration = Duration::from_secs(3);

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.secrets_file = Some(c.store.data_dir.join("secrets.json"));
        c.pull_through_ttl = TTL;
    })
    .await
}

fn secret_arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/{name}-Ab12Cd")
}

/// Files the secret `name` in the app's secrets file.
fn file_secret(app: &TestApp, name: &str, username: &str, token: &str) {
    let entries = json!({ name: {"username": username, "accessToken": token} });
    std::fs::write(
        app.data_dir.path().join("secrets.json"),
        entries.to_string(),
    )
    .expect("write secrets file");
}

/// A rule caching `url` under `prefix`, with the secret `credential` if given.
async fn rule(app: &TestApp, prefix: &str, url: &str, credential: Option<&str>) {
    app.ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix(prefix)
        .upstream_registry_url(url)
        .set_credential_arn(credential.map(secret_arn))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create rule {prefix}: {e:?}"));
}

/// Pushes `image` to `repository:tag` on an upstream.
async fn push(remote: &Remote, repository: &str, image: &Image, tag: &str) {
    for blob in image.blobs() {
        let digest = berth::domain::Digest::parse(&sha256(blob)).expect("digest");
        let body = stream::iter([Ok(Bytes::copy_from_slice(blob))]);
        remote
            .push_blob(repository, &digest, blob.len() as u64, body)
            .await
            .expect("push blob upstream");
    }
    let body = Bytes::from(image.manifest.clone());
    remote
        .put_manifest(repository, tag, image.format.manifest_type(), body)
        .await
        .expect("put manifest upstream");
}

/// `skopeo copy` of berth's `path` (`repo:tag`) into a fresh OCI layout under `dir`;
/// answers (success, stderr, layout).
async fn pull(
    app: &TestApp,
    path: &str,
    dir: &Path,
    all: bool,
) -> (bool, String, std::path::PathBuf) {
    let layout = dir.join(uuid::Uuid::new_v4().simple().to_string());
    let creds = format!("AWS:{}", app.registry_password().await);
    let mut args = vec![
        "copy".to_owned(),
        "--preserve-digests".into(),
        "--src-tls-verify=false".into(),
        "--src-creds".into(),
        creds,
    ];
    if all {
        args.push("--all".into());
    }
    args.push(format!("docker://127.0.0.1:{}/{path}", app.port));
    args.push(format!("oci:{}:pulled", layout.display()));
    let (ok, err) = skopeo(&args).await;
    (ok, err, layout)
}

/// The layout holds `image` byte for byte: its manifest and every blob.
fn assert_holds(layout: &Path, image: &Image) {
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap_or_else(|e| panic!("{digest} in {}: {e}", layout.display()))
    };
    assert_eq!(blob(&image.digest), image.manifest.as_bytes());
    for bytes in image.blobs() {
        assert_eq!(blob(&sha256(bytes)), bytes);
    }
}

async fn caches_an_anonymous_upstream(app: TestApp) {
    let mut upstream = DockerRegistry::anonymous().await;
    let remote = Remote::new(&upstream.url, None).expect("remote");
    let image = Image::new(Format::Oci, &[3000, 90_000]);
    push(&remote, "team/app", &image, "v1").await;
    rule(&app, "hub", &upstream.url, None).await;
    // Repositories the cache creates are made as its template says.
    app.ecr
        .create_repository_creation_template()
        .prefix("hub")
        .applied_for(RctAppliedFor::PullThroughCache)
        .image_tag_mutability(ImageTagMutability::Immutable)
        .resource_tags(
            aws_sdk_ecr::types::Tag::builder()
                .key("cache")
                .value("hub")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("template");

    let dir = tempfile::tempdir().expect("dir");
    let (ok, err, first) = pull(&app, "hub/team/app:v1", dir.path(), false).await;
    assert!(ok, "pull through the cache: {err}");
    assert_holds(&first, &image);

    let repo = describe_repository(&app.ecr, "hub/team/app").await;
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );
    let tags = app
        .ecr
        .list_tags_for_resource()
        .resource_arn(repo.repository_arn().expect("arn"))
        .send()
        .await
        .expect("tags");
    assert_eq!(tags.tags()[0].key(), "cache");
    let described = app
        .ecr
        .describe_images()
        .repository_name("hub/team/app")
        .send()
        .await
        .expect("describe images");
    let detail = &described.image_details()[0];
    assert_eq!(detail.image_digest(), Some(image.digest.as_str()));
    assert_eq!(detail.image_tags(), ["v1"]);
    assert_eq!(detail.image_size_in_bytes(), Some(image.size()));

    // With the upstream gone, the cache serves what it holds, and only that.
    upstream.stop().await;
    let (ok, err, again) = pull(&app, "hub/team/app:v1", dir.path(), false).await;
    assert!(ok, "pull from the cache with the upstream gone: {err}");
    assert_holds(&again, &image);
    let (ok, _, _) = pull(&app, "hub/team/app:v2", dir.path(), false).await;
    assert!(
        !ok,
        "an image never cached cannot be pulled without its upstream"
    );

    // Outside every rule's prefix nothing goes upstream: the repository is unknown.
    let (ok, err, _) = pull(&app, "team/app:v1", dir.path(), false).await;
    assert!(!ok);
    assert!(
        err.contains("name unknown") || err.contains("NAME_UNKNOWN") || err.contains("not found"),
        "{err}"
    );
}

async fn caches_every_platform_of_an_index(app: TestApp) {
    let upstream = DockerRegistry::anonymous().await;
    let remote = Remote::new(&upstream.url, None).expect("remote");
    let amd = Image::new(Format::Oci, &[2000]);
    let arm = Image::new(Format::Oci, &[3000, 4000]);
    for image in [&amd, &arm] {
        push(&remote, "multi", image, &image.digest).await;
    }
    let index = Manifest::index(
        OCI_INDEX,
        [
            amd.entry(),
            arm.entry()
                .with("platform", json!({"architecture": "arm64", "os": "linux"})),
        ],
    )
    .to_string();
    let body = Bytes::from(index.clone());
    remote
        .put_manifest("multi", "latest", OCI_INDEX, body)
        .await
        .expect("index upstream");
    rule(&app, "ROOT", &upstream.url, None).await;

    let dir = tempfile::tempdir().expect("dir");
    let (ok, err, layout) = pull(&app, "multi:latest", dir.path(), true).await;
    assert!(ok, "pull of every platform: {err}");
    let served = std::fs::read(
        layout
            .join("blobs/sha256")
            .join(sha256(index.as_bytes()).trim_start_matches("sha256:")),
    )
    .expect("index pulled");
    assert_eq!(served, index.as_bytes());
    assert_holds(&layout, &amd);
    assert_holds(&layout, &arm);
    let images = app
        .ecr
        .describe_images()
        .repository_name("multi")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        images.image_details().len(),
        3,
        "the index and both images are cached"
    );
}

async fn logs_in_with_the_rules_secret(app: TestApp) {
    let upstream = DockerRegistry::with_password("puller", "s3cret").await;
    let remote = Remote::new(
        &upstream.url,
        Some(Credential {
            username: "puller".into(),
            password: "s3cret".into(),
        }),
    )
    .expect("remote");
    let image = Image::new(Format::Docker, &[5000]);
    push(&remote, "lib/tool", &image, "1.0").await;
    // A wrong secret: the upstream refuses berth, and berth says so.
    file_secret(&app, &secret_arn("private"), "puller", "wrong");
    rule(&app, "private", &upstream.url, Some("private")).await;
    let dir = tempfile::tempdir().expect("dir");
    let (ok, err, _) = pull(&app, "private/lib/tool:1.0", dir.path(), false).await;
    assert!(!ok, "a wrong credential pulls nothing");
    assert!(err.contains("502 Bad Gateway"), "{err}");
    let refused = app
        .ecr
        .batch_get_image()
        .repository_name("private/lib/tool")
        .image_ids(crate::fixtures::by_tag("1.0"))
        .send()
        .await;
    // The repository was made on the first attempt; the image was not cached.
    let out = refused.expect("batch get");
    assert!(out.images().is_empty());

    // The secret fixed (by its name this time), the same pull works.
    file_secret(&app, "ecr-pullthroughcache/private", "puller", "s3cret");
    let (ok, err, layout) = pull(&app, "private/lib/tool:1.0", dir.path(), false).await;
    assert!(ok, "{err}");
    assert_holds(&layout, &image);
}

async fn takes_bearer_tokens_from_the_upstream(app: TestApp) {
    // The upstream: another berth's public registry, which hands out Bearer tokens.
    let other = spawn_app(Backend::Sqlite).await;
    other.create_public("tools").await;
    let password = other.public_password().await;
    let pusher = Remote::new(
        &other.public_url,
        Some(Credential {
            username: "AWS".into(),
            password: password.clone(),
        }),
    )
    .expect("remote");
    let image = Image::new(Format::Oci, &[6000]);
    push(&pusher, &format!("{ALIAS}/tools"), &image, "stable").await;

    file_secret(&app, &secret_arn("public"), "AWS", &password);
    rule(&app, "gallery", &other.public_url, Some("public")).await;
    let dir = tempfile::tempdir().expect("dir");
    let (ok, err, layout) = pull(
        &app,
        &format!("gallery/{ALIAS}/tools:stable"),
        dir.path(),
        false,
    )
    .await;
    assert!(ok, "{err}");
    assert_holds(&layout, &image);
}

async fn checks_tags_again_after_the_ttl(app: TestApp) {
    let upstream = DockerRegistry::anonymous().await;
    let remote = Remote::new(&upstream.url, None).expect("remote");
    let first = Image::new(Format::Oci, &[1000]);
    push(&remote, "moving", &first, "latest").await;
    rule(&app, "up", &upstream.url, None).await;
    let dir = tempfile::tempdir().expect("dir");
    let (ok, err, layout) = pull(&app, "up/moving:latest", dir.path(), false).await;
    assert!(ok, "{err}");
    assert_holds(&layout, &first);

    // The upstream moves the tag; within the TTL the cache still serves the first.
    let second = Image::new(Format::Oci, &[1500]);
    push(&remote, "moving", &second, "latest").await;
    let (ok, err, layout) = pull(&app, "up/moving:latest", dir.path(), false).await;
    assert!(ok, "{err}");
    assert_holds(&layout, &first);

    tokio::time::sleep(TTL + Duration::from_millis(500)).await;
    let (ok, err, layout) = pull(&app, "up/moving:latest", dir.path(), false).await;
    assert!(ok, "{err}");
    assert_holds(&layout, &second);
    // Both stay cached, by digest.
    let (ok, err, layout) = pull(
        &app,
        &format!("up/moving@{}", first.digest),
        dir.path(),
        false,
    )
    .await;
    assert!(ok, "{err}");
    assert_holds(&layout, &first);
}

/// An upstream that serves `image`'s manifest, and of every blob announces its whole
/// length but sends half, then hangs up.
async fn breaking_upstream(image: &Image) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let manifest = image.manifest.clone();
    let media_type = image.format.manifest_type();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let manifest = manifest.clone();
            tokio::spawn(async move {
                let mut request = vec![0; 8192];
                let n = conn.read(&mut request).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let head = |status: &str, len: usize, kind: &str| {
                    format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nContent-Type: {kind}\r\nConnection: close\r\n\r\n")
                };
                let reply = if path.contains("/manifests/") {
                    format!("{}{manifest}", head("200 OK", manifest.len(), media_type)).into_bytes()
                } else if path.contains("/blobs/") {
                    let full = 64 * 1024;
                    let mut reply = head("200 OK", full, "application/octet-stream").into_bytes();
                    reply.extend(vec![7u8; full / 2]);
                    reply
                } else {
                    format!("{}{{}}", head("200 OK", 2, "application/json")).into_bytes()
                };
                let _ = conn.write_all(&reply).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    url
}

async fn a_blob_that_breaks_off_is_not_cached(app: TestApp) {
    let image = Image::new(Format::Oci, &[64 * 1024]);
    let url = breaking_upstream(&image).await;
    rule(&app, "flaky", &url, None).await;
    let password = app.registry_password().await;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}/v2/flaky/app", app.port);
    let manifest = http
        .get(format!("{base}/manifests/v1"))
        .basic_auth("AWS", Some(&password))
        .header("accept", image.format.manifest_type())
        .send()
        .await
        .expect("manifest");
    assert_eq!(manifest.status(), 200);
    assert_eq!(manifest.text().await.expect("body"), image.manifest);

    let layer = sha256(&image.layers[0]);
    let response = http
        .get(format!("{base}/blobs/{layer}"))
        .basic_auth("AWS", Some(&password))
        .send()
        .await
        .expect("blob response");
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err(), "the client sees the break");

    // Nothing of it is in the repository.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = app
        .ecr
        .batch_check_layer_availability()
        .repository_name("flaky/app")
        .layer_digests(&layer)
        .send()
        .await
        .expect("check");
    assert!(out.layers().is_empty(), "{:?}", out.layers());
    assert_eq!(out.failures().len(), 1);
}

async fn docker_pulls_through_the_cache(app: TestApp) {
    let docker = Docker::new().await;
    let mut upstream = DockerRegistry::anonymous().await;
    let host = upstream.url.trim_start_matches("http://").to_owned();
    let name = unique("docker/app");
    let source = format!("{host}/{name}:v1");
    let content = files(&["one.txt", "two.txt"]);
    docker.build(&source, &content, None).await;
    docker.ok(&["push", &source]).await;
    docker.ok(&["rmi", &source]).await;

    rule(&app, "dh", &upstream.url, None).await;
    let berth = format!("127.0.0.1:{}", app.port);
    docker
        .login_with(&berth, &app.registry_password().await)
        .await;
    let cached = format!("{berth}/dh/{name}:v1");
    docker.ok(&["pull", &cached]).await;
    docker.assert_files(&cached, None, &content).await;

    // The upstream gone and the engine's copy removed, the cache still serves it.
    upstream.stop().await;
    docker.ok(&["rmi", &cached]).await;
    docker.ok(&["pull", &cached]).await;
    docker.assert_files(&cached, None, &content).await;
    docker.ok(&["rmi", &cached]).await;
}

async fn batch_get_image_pulls_through(app: TestApp) {
    let mut upstream = DockerRegistry::anonymous().await;
    let remote = Remote::new(&upstream.url, None).expect("remote");
    let image = Image::new(Format::Docker, &[2500]);
    push(&remote, "sdk/app", &image, "v1").await;
    rule(&app, "mirror", &upstream.url, None).await;

    // The first BatchGetImage of a path never pulled creates the repository.
    let out = app
        .ecr
        .batch_get_image()
        .repository_name("mirror/sdk/app")
        .image_ids(crate::fixtures::by_tag("v1"))
        .send()
        .await
        .expect("batch get through the cache");
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    let got = &out.images()[0];
    assert_eq!(got.image_manifest(), Some(image.manifest.as_str()));
    assert_eq!(
        got.image_id().and_then(|id| id.image_digest()),
        Some(image.digest.as_str())
    );
    describe_repository(&app.ecr, "mirror/sdk/app").await;

    // With the upstream gone: the cached image still comes; another fails as ECR
    // says, UpstreamUnavailable.
    upstream.stop().await;
    let out = app
        .ecr
        .batch_get_image()
        .repository_name("mirror/sdk/app")
        .image_ids(crate::fixtures::by_tag("v1"))
        .image_ids(crate::fixtures::by_tag("v2"))
        .send()
        .await
        .expect("batch get");
    assert_eq!(out.images().len(), 1);
    assert_eq!(
        out.failures()[0].failure_code().map(|c| c.as_str()),
        Some("UpstreamUnavailable")
    );
}

/// Docker Engine through the cache of the two upstreams that want a login: htpasswd
/// Basic (docker-registry) and Bearer tokens (another berth's public registry), each
/// with the rule's secret.
async fn docker_pulls_through_upstreams_that_want_a_login(app: TestApp) {
    let docker = Docker::new().await;
    let berth = format!("127.0.0.1:{}", app.port);
    docker
        .login_with(&berth, &app.registry_password().await)
        .await;
    let basic = DockerRegistry::with_password("puller", "s3cret").await;
    let other = spawn_app(Backend::Sqlite).await;
    other.create_public("tools").await;
    let public_password = other.public_password().await;
    let upstreams = [
        (
            "basic",
            basic.url.clone(),
            "puller",
            "s3cret".to_owned(),
            String::new(),
        ),
        (
            "bearer",
            other.public_url.clone(),
            "AWS",
            public_password,
            format!("{ALIAS}/"),
        ),
    ];
    let mut secrets = serde_json::Map::new();
    for (prefix, _, user, password, _) in &upstreams {
        secrets.insert(
            secret_arn(prefix),
            json!({"username": user, "accessToken": password}),
        );
    }
    std::fs::write(
        app.data_dir.path().join("secrets.json"),
        Value::Object(secrets).to_string(),
    )
    .expect("secrets file");
    for (prefix, url, user, password, path) in &upstreams {
        let host = url.trim_start_matches("http://");
        let source = format!("{host}/{path}tools:v1");
        let content = files(&[&format!("{prefix}.txt")]);
        docker.build(&source, &content, None).await;
        docker.login_as(host, user, password).await;
        docker.ok(&["push", &source]).await;
        docker.ok(&["rmi", &source]).await;
        rule(&app, prefix, url, Some(prefix)).await;
        let cached = format!("{berth}/{prefix}/{path}tools:v1");
        docker.ok(&["pull", &cached]).await;
        docker.assert_files(&cached, None, &content).await;
        docker.ok(&["rmi", &cached]).await;
    }
}
