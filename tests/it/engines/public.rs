//! Docker Engine against the public registry, with berth requiring credentials: a
//! push after `aws ecr-public get-login-password | docker login`, and a pull with no
//! credentials at all, through the Bearer token flow.

use super::docker::Docker;
use super::{files, image_size, served_manifest, unique};
use crate::both_stores;
use crate::helpers::{sha256, TestApp, ALIAS};
use crate::oci_client::Registry;

both_stores!(docker_login_push_and_anonymous_pull);

/// Checks an image pushed to the public registry as `repo:tag` through the ECR Public
/// API: DescribeImages names the digest of the manifest the public `/v2/` serves to
/// anyone, and the size its blobs add up to. Answers the digest.
async fn check_public_image(app: &TestApp, repo: &str, tag: &str) -> String {
    let anonymous = Registry::at(&app.public_url, app, None);
    let path = format!("{ALIAS}/{repo}");
    let served = served_manifest(&anonymous, &path, tag).await;
    let digest = sha256(&served);
    let detail = app.describe_public_image(repo, tag).await;
    assert_eq!(detail.image_digest(), Some(digest.as_str()), "{repo}:{tag}");
    assert_eq!(
        detail.image_size_in_bytes(),
        Some(image_size(&anonymous, &path, &served).await)
    );
    digest
}

async fn docker_login_push_and_anonymous_pull(app: TestApp) {
    let docker = Docker::new().await;
    let repo = unique("engines/public");
    app.create_public(&repo).await;
    let registry = app.public_url.trim_start_matches("http://").to_owned();
    let image = format!("{registry}/{ALIAS}/{repo}:v1");

    docker.login(&app, "ecr-public", &registry).await;
    let content = files(&["a.txt", "b.txt"]);
    docker.build(&image, &content, None).await;
    docker.ok(&["push", &image]).await;
    check_public_image(&app, &repo, "v1").await;

    // Without credentials, docker pulls (anonymous pull tokens)...
    docker.ok(&["logout", &registry]).await;
    docker.ok(&["rmi", &image]).await;
    docker.ok(&["pull", &image]).await;
    docker.assert_files(&image, None, &content).await;

    // ...but does not push, and says why.
    let other = format!("{registry}/{ALIAS}/{repo}:v2");
    docker.build(&other, &files(&["c.txt"]), None).await;
    let refused = docker.run(&["push", &other]).await;
    assert!(!refused.ok, "an anonymous push must be refused");
    assert!(
        refused.stderr.contains("anonymous tokens grant pulls only"),
        "{}",
        refused.stderr
    );
}
