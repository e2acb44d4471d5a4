//! Real container engines against berth: Docker Engine (dockerd, the docker CLI and
//! `docker manifest`), podman, buildah and containerd's `ctr` push to and pull from
//! `/v2/`, and what they push reads back right through the ECR API. The test command
//! installs them; a missing engine fails its tests, it is never skipped.
//!
//! One dockerd serves every test of a run: started on first use, it is stopped and its
//! directory removed by a watchdog once the test binary exits. Each test has its own
//! berth, its own client configuration and its own repository names, so tests share
//! nothing else. Images are `FROM scratch` plus small files built with the classic
//! builder (or made by buildah): nothing comes from the internet. dockerd runs with no
//! bridge and no iptables rules; all traffic is on loopback.

mod containers;
pub(crate) mod docker;
mod public;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_ecr::types::ImageDetail;
use serde_json::Value;
use tokio::process::Command;

use crate::fixtures::{
    by_digest, by_tag, describe_image, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST,
};
use crate::helpers::{sha256, TestApp, ACCESS_KEY, REGION, SECRET_KEY};
use crate::oci_client::Registry;

/// The docker CLI of Debian's `docker.io`: another one may come first in PATH.
const DOCKER: &str = "/usr/bin/docker";
/// How long one engine command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);
/// How long dockerd may take to answer after it is started.
const DAEMON_START: Duration = Duration::from_secs(60);

/// Every manifest type an engine pushes, for `Accept` and BatchGetImage.
const MANIFEST_TYPES: [&str; 4] = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX];

/// What a finished command printed, and whether it succeeded.
pub(crate) struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Fails the test, clearly, when `program` is not installed.
fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(program))))
        .unwrap_or(false);
    assert!(
        found || is_executable(Path::new(program)),
        "{program} is not installed: `bash tests/run.sh` installs the container engines \
         (Debian packages docker.io, podman, buildah, containerd)"
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a command to its end with `env`; a command that hangs fails the test.
pub(crate) async fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    require(program);
    let child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish in {COMMAND_TIMEOUT:?}"))
        .expect("wait for the command");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Like `run`, but the command must succeed; answers its stdout.
pub(crate) async fn run_ok(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(program, args, env).await;
    assert!(
        out.ok,
        "{program} {args:?} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// The aws CLI's environment for `service` (`ecr` or `ecr-public`, which lives in
/// us-east-1): the test credentials and nothing from the machine's configuration.
fn aws_env(service: &str) -> [(&'static str, &'static str); 5] {
    let region = if service == "ecr-public" {
        "us-east-1"
    } else {
        REGION
    };
    [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ]
}

/// A registry password from `aws <service> get-login-password`.
pub(crate) async fn login_password(app: &TestApp, service: &str) -> String {
    let args = [service, "get-login-password", "--endpoint-url", &app.url];
    run_ok("aws", &args, &aws_env(service))
        .await
        .trim()
        .to_owned()
}

/// `aws <service> get-login-password | <login...>`, the README's login, where
/// `login` reads the password from its stdin.
pub(crate) async fn aws_login(app: &TestApp, service: &str, login: &[&str], env: &[(&str, &str)]) {
    let script = r#"service=$1 url=$2; shift 2
        aws "$service" get-login-password --endpoint-url "$url" | "$@""#;
    let mut args = vec!["-o", "pipefail", "-c", script, "login", service, &app.url];
    args.extend_from_slice(login);
    let mut all = aws_env(service).to_vec();
    all.extend_from_slice(env);
    run_ok("bash", &args, &all).await;
}

/// A name no other test uses: all tests of a run share one dockerd.
pub(crate) fn unique(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Files for an image: small, and different in every test.
pub(crate) fn files(names: &[&str]) -> Vec<(String, Vec<u8>)> {
    let seed = uuid::Uuid::new_v4();
    names
        .iter()
        .map(|name| {
            let bytes = format!("{name} of image {seed}\n").into_bytes();
            ((*name).to_owned(), bytes)
        })
        .collect()
}

/// A build context: `files` and a Containerfile copying each (one layer apiece)
/// onto nothing.
pub(crate) fn context(dir: &Path, files: &[(String, Vec<u8>)]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("context dir");
    let mut containerfile = String::from("FROM scratch\n");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write context file");
        containerfile.push_str(&format!("COPY {name} /{name}\n"));
    }
    std::fs::write(dir.join("Containerfile"), containerfile).expect("Containerfile");
    dir.to_owned()
}

/// Unpacks a root filesystem tar and checks that it holds `files`, byte for byte.
pub(crate) async fn assert_rootfs(tar: &Path, files: &[(String, Vec<u8>)]) {
    let dir = tar.with_extension("d");
    std::fs::create_dir_all(&dir).expect("unpack dir");
    let (tar, into) = (tar.display().to_string(), dir.display().to_string());
    run_ok("tar", &["-xf", &tar, "-C", &into], &[]).await;
    for (name, bytes) in files {
        let got = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&got, bytes, "{name} comes back byte for byte");
    }
}

// ---------------------------------------------------------------------------------
// The shared dockerd.

/// The run's dockerd: its API socket and that of the containerd it manages.
pub(crate) struct Dockerd {
    pub host: String,
    pub containerd: String,
}

static DOCKERD: OnceLock<Dockerd> = OnceLock::new();

/// Starts dockerd under a watchdog in its own session (so that an interrupted run is
/// cleaned up too): when the test binary exits, the watchdog stops the daemon by its
/// PID, unmounts what it left mounted in its directory, and removes the directory.
const WATCHDOG: &str = r#"
dir=$1 parent=$2
dockerd -H "unix://$dir/d.sock" --data-root "$dir/root" --exec-root "$dir/exec" \
    --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    --pidfile "$dir/d.pid" >"$dir/dockerd.log" 2>&1 &
daemon=$!
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
kill -TERM "$daemon"
for _ in $(seq 60); do [ -e "/proc/$daemon/cmdline" ] && grep -q dockerd "/proc/$daemon/cmdline" || break; sleep 0.5; done
kill -KILL "$daemon" 2>/dev/null
wait "$daemon"
# dockerd stops the containerd it started, unless it was killed first.
containerd=$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null)
if [ -n "$containerd" ] && grep -q "$dir" "/proc/$containerd/cmdline" 2>/dev/null; then
    kill -KILL "$containerd"
fi
awk -v d="$dir" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount "$m"
done
rm -rf "$dir"
"#;

fn start_dockerd() -> Dockerd {
    require("dockerd");
    require("setsid");
    require(DOCKER);
    let dir = std::env::temp_dir().join(format!(
        "berth-dockerd-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir(&dir).expect("dockerd dir");
    let log = std::fs::File::create(dir.join("watchdog.log")).expect("watchdog log");
    // `--fork`: setsid returns at once, leaving the watchdog to outlive this process.
    let started = std::process::Command::new("setsid")
        .args(["--fork", "sh", "-c", WATCHDOG, "watchdog"])
        .arg(&dir)
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .expect("start the dockerd watchdog");
    assert!(started.success(), "setsid failed: {started}");
    let host = format!("unix://{}", dir.join("d.sock").display());
    let deadline = std::time::Instant::now() + DAEMON_START;
    loop {
        let up = std::process::Command::new(DOCKER)
            .args(["-H", &host, "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if up {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dockerd did not start within {DAEMON_START:?}; its log:\n{}",
            std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Dockerd {
        host,
        containerd: dir
            .join("exec/containerd/containerd.sock")
            .display()
            .to_string(),
    }
}

/// The run's dockerd, started on first use.
pub(crate) async fn dockerd() -> &'static Dockerd {
    tokio::task::spawn_blocking(|| DOCKERD.get_or_init(start_dockerd))
        .await
        .expect("start dockerd")
}

// ---------------------------------------------------------------------------------
// Reading back through the ECR API.

/// The manifest `/v2/` serves for `reference` (any type an engine pushes).
async fn served_manifest(reg: &Registry, repo: &str, reference: &str) -> Vec<u8> {
    let r = reg
        .get_with(
            &format!("/v2/{repo}/manifests/{reference}"),
            ("accept", &MANIFEST_TYPES.join(", ")),
        )
        .await;
    assert_eq!(r.status, 200, "{repo}:{reference}: {}", r.text());
    r.body
}

/// ECR's `imageSizeInBytes` for a manifest `/v2/` serves: its config and layers, or
/// for an index the largest of its images.
async fn image_size(reg: &Registry, repo: &str, manifest: &[u8]) -> i64 {
    let parse = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).expect("manifest JSON");
    let own = |m: &Value| {
        let layers = m["layers"].as_array().expect("layers");
        layers
            .iter()
            .chain([&m["config"]])
            .map(|d| d["size"].as_i64().expect("descriptor size"))
            .sum::<i64>()
    };
    let value = parse(manifest);
    let Some(children) = value["manifests"].as_array() else {
        return own(&value);
    };
    let mut largest = 0;
    for child in children {
        let digest = child["digest"].as_str().expect("child digest");
        largest = largest.max(own(&parse(&served_manifest(reg, repo, digest).await)));
    }
    largest
}

/// Checks an image an engine pushed to the private registry as `repo:tag` through the
/// ECR API: DescribeImages names the digest of the manifest `/v2/` serves, and the size
/// its blobs add up to; BatchGetImage returns exactly the bytes `/v2/` serves. Answers
/// the digest.
pub(crate) async fn check_private_image(app: &TestApp, repo: &str, tag: &str) -> String {
    let reg = Registry::login(app).await;
    let served = served_manifest(&reg, repo, tag).await;
    let digest = sha256(&served);
    let detail = image_detail(app, repo, tag).await;
    assert_eq!(detail.image_digest(), Some(digest.as_str()), "{repo}:{tag}");
    assert_eq!(
        detail.image_size_in_bytes(),
        Some(image_size(&reg, repo, &served).await),
        "{repo}:{tag}"
    );
    let got = app
        .ecr
        .batch_get_image()
        .repository_name(repo)
        .image_ids(by_digest(&digest))
        .set_accepted_media_types(Some(MANIFEST_TYPES.map(str::to_owned).to_vec()))
        .send()
        .await
        .expect("BatchGetImage");
    assert!(got.failures().is_empty(), "{:?}", got.failures());
    assert_eq!(
        got.images()[0].image_manifest().map(str::as_bytes),
        Some(served.as_slice()),
        "BatchGetImage returns the bytes /v2/ serves"
    );
    digest
}

/// What ECR's DescribeImages says of `repo:tag` now.
pub(crate) async fn image_detail(app: &TestApp, repo: &str, tag: &str) -> ImageDetail {
    describe_image(&app.ecr, repo, by_tag(tag)).await
}
