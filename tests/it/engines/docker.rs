//! Docker Engine against the private registry: login with the aws CLI, push, pull,
//! tags moved and refused, cross-repository mounts, and a manifest list pulled per
//! platform.

use std::path::PathBuf;

use aws_sdk_ecr::types::ImageTagMutability;
use tempfile::TempDir;

use super::{
    aws_login, check_private_image, context, dockerd, files, image_detail, run, run_ok, unique,
    Run, DOCKER,
};
use crate::both_stores;
use crate::fixtures::{by_digest, describe_image, DOCKER_LIST};
use crate::helpers::TestApp;

both_stores!(
    round_trip,
    all_tags_mount_across_repositories,
    manifest_list
);

/// The docker CLI talking to the run's dockerd, with this test's own configuration
/// (logins, manifest lists) and work directory.
pub(crate) struct Docker {
    host: &'static str,
    config: TempDir,
    work: TempDir,
}

impl Docker {
    pub(crate) async fn new() -> Self {
        Self {
            host: &dockerd().await.host,
            config: tempfile::tempdir().expect("docker config dir"),
            work: tempfile::tempdir().expect("work dir"),
        }
    }

    fn env(&self) -> [(&'static str, &str); 2] {
        [
            (
                "DOCKER_CONFIG",
                self.config.path().to_str().expect("UTF-8 path"),
            ),
            ("DOCKER_BUILDKIT", "0"),
        ]
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["-H", self.host];
        all.extend_from_slice(args);
        all
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        run(DOCKER, &self.args(args), &self.env()).await
    }

    /// Runs a docker command that must succeed; answers its stdout.
    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        run_ok(DOCKER, &self.args(args), &self.env()).await
    }

    /// `aws <service> get-login-password | docker login --username AWS
    /// --password-stdin <registry>`.
    pub(crate) async fn login(&self, app: &TestApp, service: &str, registry: &str) {
        let login = self.args(&["login", "--username", "AWS", "--password-stdin", registry]);
        let mut command = vec![DOCKER];
        command.extend(login);
        aws_login(app, service, &command, &self.env()).await;
    }

    /// `docker login` with a password in hand (another region's, another account's).
    pub(crate) async fn login_with(&self, registry: &str, password: &str) {
        self.login_as(registry, "AWS", password).await;
    }

    /// `docker login` as `user`.
    pub(crate) async fn login_as(&self, registry: &str, user: &str, password: &str) {
        let mut args = vec!["-c", r#"printf %s "$PASSWORD" | "$@""#, "login", DOCKER];
        args.extend(self.args(&["login", "--username", user, "--password-stdin", registry]));
        let mut env = self.env().to_vec();
        env.push(("PASSWORD", password));
        run_ok("bash", &args, &env).await;
    }

    /// Builds `files` onto nothing (one layer each) as `tag`, for `platform` if given.
    pub(crate) async fn build(
        &self,
        tag: &str,
        files: &[(String, Vec<u8>)],
        platform: Option<&str>,
    ) {
        let dir = context(&self.scratch(), files);
        let containerfile = dir.join("Containerfile");
        let (dir, containerfile) = (
            dir.to_str().expect("UTF-8 path"),
            containerfile.to_str().expect("UTF-8 path"),
        );
        let mut args = vec!["build", "-q", "-f", containerfile, "-t", tag];
        if let Some(platform) = platform {
            args.extend(["--platform", platform]);
        }
        args.push(dir);
        self.ok(&args).await;
    }

    /// Checks that `image`'s file system holds `files`, byte for byte: a container is made
    /// (not run) from it and its file system exported.
    pub(crate) async fn assert_files(
        &self,
        image: &str,
        platform: Option<&str>,
        files: &[(String, Vec<u8>)],
    ) {
        let mut create = vec!["create"];
        if let Some(platform) = platform {
            create.extend(["--platform", platform]);
        }
        create.extend([image, "/none"]);
        let id = self.ok(&create).await.trim().to_owned();
        let tar = self.scratch().with_extension("tar");
        let out = tar.to_str().expect("UTF-8 path");
        self.ok(&["export", "-o", out, &id]).await;
        self.ok(&["rm", &id]).await;
        super::assert_rootfs(&tar, files).await;
    }

    /// A fresh path in the work directory.
    fn scratch(&self) -> PathBuf {
        self.work
            .path()
            .join(uuid::Uuid::new_v4().simple().to_string())
    }
}

fn registry(app: &TestApp) -> String {
    format!("127.0.0.1:{}", app.port)
}

/// The digest docker reports for a push: `<tag>: digest: sha256:... size: N`.
fn pushed_digest(out: &str) -> String {
    out.split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest in docker's output: {out}"))
        .to_owned()
}

async fn round_trip(app: TestApp) {
    let docker = Docker::new().await;
    let repo = unique("engines/app");
    app.create_repo(&repo).await;
    docker.login(&app, "ecr", &registry(&app)).await;
    let image = format!("{}/{repo}:v1", registry(&app));

    // Push, then pull into an engine that no longer has the image: the same files.
    let first = files(&["a.txt", "b.txt"]);
    docker.build(&image, &first, None).await;
    let pushed = docker.ok(&["push", &image]).await;
    let digest = check_private_image(&app, &repo, "v1").await;
    assert_eq!(pushed_digest(&pushed), digest);
    docker.ok(&["rmi", &image]).await;
    docker.ok(&["pull", &image]).await;
    docker.assert_files(&image, None, &first).await;

    // Pushing the same again sends nothing and changes nothing.
    let again = docker.ok(&["push", &image]).await;
    assert!(again.contains("Layer already exists"), "{again}");
    assert_eq!(pushed_digest(&again), digest);
    assert_eq!(check_private_image(&app, &repo, "v1").await, digest);

    // A mutable tag moves to the image pushed last; the one it named stays, untagged.
    let second = files(&["a.txt"]);
    docker.build(&image, &second, None).await;
    docker.ok(&["push", &image]).await;
    let moved = check_private_image(&app, &repo, "v1").await;
    assert_ne!(moved, digest);
    let old = describe_image(&app.ecr, &repo, by_digest(&digest)).await;
    assert!(
        old.image_tags().is_empty(),
        "the first image stays, untagged"
    );
    docker.ok(&["rmi", &image]).await;
    docker.ok(&["pull", &image]).await;
    docker.assert_files(&image, None, &second).await;

    // An immutable tag is refused, and docker shows berth's reason.
    app.ecr
        .put_image_tag_mutability()
        .repository_name(&repo)
        .image_tag_mutability(ImageTagMutability::Immutable)
        .send()
        .await
        .expect("immutable");
    docker.build(&image, &files(&["c.txt"]), None).await;
    let refused = docker.run(&["push", &image]).await;
    assert!(!refused.ok, "pushing over an immutable tag must fail");
    let reason = format!(
        "The image tag 'v1' already exists in the '{repo}' repository and cannot be \
         overwritten because the tag is immutable"
    );
    assert!(refused.stderr.contains(&reason), "{}", refused.stderr);
    let detail = image_detail(&app, &repo, "v1").await;
    assert_eq!(detail.image_digest(), Some(moved.as_str()));
}

/// `docker push --all-tags` to a second repository mounts the layers the first holds
/// instead of uploading them again.
async fn all_tags_mount_across_repositories(app: TestApp) {
    let docker = Docker::new().await;
    let (source, target) = (unique("engines/source"), unique("engines/target"));
    app.create_repo(&source).await;
    app.create_repo(&target).await;
    app.enable_blob_mounting().await;
    docker.login(&app, "ecr", &registry(&app)).await;
    let image = format!("{}/{source}:v1", registry(&app));
    let content = files(&["a.txt", "b.txt"]);
    docker.build(&image, &content, None).await;
    docker.ok(&["push", &image]).await;
    let digest = check_private_image(&app, &source, "v1").await;

    let tags = ["one", "two"].map(|t| format!("{}/{target}:{t}", registry(&app)));
    for tag in &tags {
        docker.ok(&["tag", &image, tag]).await;
    }
    let target_ref = format!("{}/{target}", registry(&app));
    let pushed = docker.ok(&["push", "--all-tags", &target_ref]).await;
    let mounted = pushed.matches(&format!("Mounted from {source}")).count();
    assert_eq!(mounted, 2, "both layers are mounted: {pushed}");
    for tag in ["one", "two"] {
        assert_eq!(check_private_image(&app, &target, tag).await, digest);
    }

    // What was mounted pulls from the target alone.
    docker.ok(&["rmi", &image, &tags[0], &tags[1]]).await;
    docker.ok(&["pull", &tags[1]]).await;
    docker.assert_files(&tags[1], None, &content).await;
}

/// Two images for two platforms, joined by `docker manifest` into a manifest list;
/// a pull for each platform gets its own.
async fn manifest_list(app: TestApp) {
    let docker = Docker::new().await;
    let repo = unique("engines/multi");
    app.create_repo(&repo).await;
    docker.login(&app, "ecr", &registry(&app)).await;
    let name = format!("{}/{repo}", registry(&app));
    let platforms = ["amd64", "arm64"].map(|arch| {
        let image = format!("{name}:{arch}");
        (arch, format!("linux/{arch}"), image, files(&["arch.txt"]))
    });
    let mut children = Vec::new();
    for (arch, platform, image, content) in &platforms {
        docker.build(image, content, Some(platform)).await;
        let inspected = docker
            .ok(&["inspect", "-f", "{{.Architecture}}", image])
            .await;
        assert_eq!(inspected.trim(), *arch);
        docker.ok(&["push", image]).await;
        children.push(check_private_image(&app, &repo, arch).await);
    }

    let list = format!("{name}:multi");
    let mut create = vec!["manifest", "create", "--insecure", &list];
    create.extend(platforms.iter().map(|p| p.2.as_str()));
    docker.ok(&create).await;
    docker.ok(&["manifest", "push", "--insecure", &list]).await;
    let digest = check_private_image(&app, &repo, "multi").await;
    let got = app
        .ecr
        .batch_get_image()
        .repository_name(&repo)
        .image_ids(by_digest(&digest))
        .accepted_media_types(DOCKER_LIST)
        .send()
        .await
        .expect("BatchGetImage");
    let index: serde_json::Value =
        serde_json::from_str(got.images()[0].image_manifest().expect("manifest")).expect("JSON");
    let named: Vec<(&str, &str)> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            (
                m["digest"].as_str().expect("digest"),
                m["platform"]["architecture"]
                    .as_str()
                    .expect("architecture"),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            (children[0].as_str(), "amd64"),
            (children[1].as_str(), "arm64")
        ]
    );

    for (_, _, image, _) in &platforms {
        docker.ok(&["rmi", image]).await;
    }
    for (arch, platform, _, content) in &platforms {
        docker.ok(&["pull", "--platform", platform, &list]).await;
        let inspected = docker
            .ok(&["inspect", "-f", "{{.Architecture}}", &list])
            .await;
        assert_eq!(inspected.trim(), *arch);
        docker.assert_files(&list, Some(platform), content).await;
        docker.ok(&["rmi", &list]).await;
    }
}
