//! podman and buildah, each with its own storage, pushing both OCI and Docker v2
//! schema 2 manifests; containerd's `ctr` over plain HTTP.

use tempfile::TempDir;

use super::docker::Docker;
use super::{
    assert_rootfs, aws_login, check_private_image, context, dockerd, files, image_detail,
    login_password, run_ok, unique,
};
use crate::both_stores;
use crate::fixtures::{DOCKER_MANIFEST, OCI_MANIFEST};
use crate::helpers::TestApp;

both_stores!(podman_round_trip, buildah_round_trip, ctr_round_trip);

/// podman or buildah with this test's own storage (vfs) and logins.
struct Engine {
    program: &'static str,
    dir: TempDir,
    root: String,
    runroot: String,
    auth: String,
}

impl Engine {
    fn new(program: &'static str) -> Self {
        let dir = tempfile::tempdir().expect("engine dir");
        let path = |name: &str| dir.path().join(name).display().to_string();
        Self {
            program,
            root: path("root"),
            runroot: path("run"),
            auth: path("auth.json"),
            dir,
        }
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec![
            self.program,
            "--root",
            &self.root,
            "--runroot",
            &self.runroot,
            "--storage-driver",
            "vfs",
        ];
        all.extend_from_slice(args);
        all
    }

    fn env(&self) -> [(&'static str, &str); 1] {
        [("REGISTRY_AUTH_FILE", &self.auth)]
    }

    async fn ok(&self, args: &[&str]) -> String {
        let all = self.args(args);
        run_ok(self.program, &all[1..], &self.env()).await
    }

    async fn login(&self, app: &TestApp) {
        let registry = format!("127.0.0.1:{}", app.port);
        let login = self.args(&[
            "login",
            "--username",
            "AWS",
            "--password-stdin",
            "--tls-verify=false",
            &registry,
        ]);
        aws_login(app, "ecr", &login, &self.env()).await;
    }

    /// The digest of the manifest the engine pulled `image` by.
    async fn digest(&self, image: &str) -> String {
        let digest = self.ok(&["images", "--format", "{{.Digest}}", image]).await;
        digest.trim().to_owned()
    }
}

/// podman builds, pushes as OCI and as v2s2, and pulls each back into empty storage.
async fn podman_round_trip(app: TestApp) {
    let podman = Engine::new("podman");
    let repo = unique("engines/podman");
    app.create_repo(&repo).await;
    podman.login(&app).await;
    for (format, build_format, media) in [
        ("oci", "oci", OCI_MANIFEST),
        ("v2s2", "docker", DOCKER_MANIFEST),
    ] {
        let image = format!("127.0.0.1:{}/{repo}:{format}", app.port);
        let content = files(&["a.txt", "b.txt"]);
        let dir = context(&podman.dir.path().join(format), &content);
        let containerfile = dir.join("Containerfile").display().to_string();
        let dir = dir.display().to_string();
        podman
            .ok(&[
                "build",
                "-q",
                "--format",
                build_format,
                "-f",
                &containerfile,
                "-t",
                &image,
                &dir,
            ])
            .await;
        podman
            .ok(&["push", "--tls-verify=false", "--format", format, &image])
            .await;
        let digest = check_private_image(&app, &repo, format).await;
        let detail = image_detail(&app, &repo, format).await;
        assert_eq!(detail.image_manifest_media_type(), Some(media));

        podman.ok(&["rmi", "--all", "--force"]).await;
        podman.ok(&["pull", "--tls-verify=false", &image]).await;
        assert_eq!(podman.digest(&image).await, digest);
        let id = podman.ok(&["create", &image, "/none"]).await;
        let tar = podman.dir.path().join(format!("{format}.tar"));
        let out = tar.display().to_string();
        podman.ok(&["export", "-o", &out, id.trim()]).await;
        podman.ok(&["rm", id.trim()]).await;
        assert_rootfs(&tar, &content).await;
    }
}

/// buildah makes an image from nothing, pushes it as OCI and as v2s2, and pulls each
/// back into empty storage.
async fn buildah_round_trip(app: TestApp) {
    let buildah = Engine::new("buildah");
    let repo = unique("engines/buildah");
    app.create_repo(&repo).await;
    buildah.login(&app).await;
    let content = files(&["a.txt", "b.txt"]);
    let working = buildah.ok(&["from", "scratch"]).await;
    let working = working.trim();
    for (name, bytes) in &content {
        let path = buildah.dir.path().join(name);
        std::fs::write(&path, bytes).expect("file");
        buildah
            .ok(&[
                "copy",
                working,
                &path.display().to_string(),
                &format!("/{name}"),
            ])
            .await;
    }
    buildah.ok(&["commit", "-q", working, "built"]).await;
    let formats = [("oci", OCI_MANIFEST), ("v2s2", DOCKER_MANIFEST)];
    let mut pushed = Vec::new();
    for (format, media) in formats {
        let image = format!("127.0.0.1:{}/{repo}:{format}", app.port);
        let destination = format!("docker://{image}");
        buildah
            .ok(&[
                "push",
                "--tls-verify=false",
                "--format",
                format,
                "built",
                &destination,
            ])
            .await;
        let digest = check_private_image(&app, &repo, format).await;
        let detail = image_detail(&app, &repo, format).await;
        assert_eq!(detail.image_manifest_media_type(), Some(media));
        pushed.push((image, digest));
    }

    buildah.ok(&["rm", "--all"]).await;
    buildah.ok(&["rmi", "--all", "--force"]).await;
    for (image, digest) in &pushed {
        buildah
            .ok(&["pull", "-q", "--tls-verify=false", image])
            .await;
        assert_eq!(&buildah.digest(image).await, digest);
        let from = buildah.ok(&["from", image]).await;
        let mounted = buildah.ok(&["mount", from.trim()]).await;
        for (name, bytes) in &content {
            let got = std::fs::read(std::path::Path::new(mounted.trim()).join(name))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&got, bytes, "{name} comes back byte for byte");
        }
        buildah.ok(&["umount", from.trim()]).await;
        buildah.ok(&["rm", from.trim()]).await;
        buildah.ok(&["rmi", "--all", "--force"]).await;
    }
}

/// containerd's `ctr` (of the run's dockerd's containerd, in a namespace of its own)
/// pushes over plain HTTP with the registry password and pulls back what it pushed.
async fn ctr_round_trip(app: TestApp) {
    let ns = &unique("berth");
    let repo = unique("engines/ctr");
    app.create_repo(&repo).await;
    let image = format!("127.0.0.1:{}/{repo}:v1", app.port);

    // The image comes into containerd as a docker archive.
    let docker = Docker::new().await;
    let content = files(&["a.txt"]);
    docker.build(&image, &content, None).await;
    let work = tempfile::tempdir().expect("work dir");
    let archive = work.path().join("image.tar").display().to_string();
    docker.ok(&["save", "-o", &archive, &image]).await;
    ctr(ns, &["images", "import", "--no-unpack", &archive]).await;

    let credentials = format!("AWS:{}", login_password(&app, "ecr").await);
    ctr(
        ns,
        &[
            "images",
            "push",
            "--plain-http",
            "--user",
            &credentials,
            &image,
        ],
    )
    .await;
    let digest = check_private_image(&app, &repo, "v1").await;

    // Nothing of it is left in containerd; the pull fetches it all from berth.
    ctr(ns, &["images", "rm", "--sync", &image]).await;
    let left = ctr(ns, &["content", "ls", "-q"]).await;
    assert!(left.trim().is_empty(), "content left: {left}");
    ctr(
        ns,
        &[
            "images",
            "pull",
            "--plain-http",
            "--user",
            &credentials,
            "--snapshotter",
            "native",
            &image,
        ],
    )
    .await;
    let listed = ctr(ns, &["images", "ls"]).await;
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&image) && l.contains(&digest)),
        "{listed}"
    );
    // What came back is the image pushed: its layer holds the files.
    let exported = work.path().join("exported");
    std::fs::create_dir(&exported).expect("export dir");
    let archive = work.path().join("exported.tar").display().to_string();
    ctr(ns, &["images", "export", &archive, &image]).await;
    let into = exported.display().to_string();
    run_ok("tar", &["-xf", &archive, "-C", &into], &[]).await;
    let blob = |digest: &str| {
        exported
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let manifest = std::fs::read(blob(&digest)).expect("manifest blob");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
    assert_rootfs(&blob(layer), &content).await;
}

/// `ctr` with the run's dockerd's containerd, in namespace `ns`; answers its stdout.
async fn ctr(ns: &str, args: &[&str]) -> String {
    let socket = &dockerd().await.containerd;
    let mut all = vec!["-a", socket.as_str(), "-n", ns];
    all.extend_from_slice(args);
    run_ok("ctr", &all, &[]).await
}
