//! Replication to remote registries (`--replication-remotes`): destinations the file
//! maps are pushed over the registry protocol, byte for byte, tags and an index's
//! children included. To a second berth on loopback (with its GetAuthorizationToken
//! password), where a missing repository and an immutable tag refuse the copy; to
//! Debian's docker-registry, anonymous and behind htpasswd logins (wrong ones:
//! FAILED, ACCESS_DENIED); a remote that is down is retried, and the next process over the store completes the copy
//! once it is up. A remotes file berth cannot use stops the start.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_ecr::types::{ImageTagMutability, ReplicationStatus};
use berth::service::Service;
use berth::startup::Application;
use serde_json::{json, Value};

use crate::fixtures::docker_registry::DockerRegistry;
use crate::fixtures::{by_digest, by_tag, pull_exactly, Format, Image, Manifest, OCI_INDEX};
use crate::helpers::{config, spawn_app, spawn_app_on, spawn_app_with, Backend, TestApp, REGION};
use crate::oci_client::{basic, Registry};
use crate::on_both;
use crate::process::free_port;
use crate::replication::{destination, push, put_configuration, rule, run_job, status, statuses};

/// Registry ids the remotes files map; none is a registry of the source berth.
const BERTH_REMOTE: &str = "555566667777";
const OPEN: &str = "111100002222";
const LOCKED: &str = "333300004444";
const WRONG: &str = "666600008888";
/// The login docker-registry's htpasswd file holds.
const USER: (&str, &str) = ("replicator", "s3cret-pass");

/// A source berth started with a remotes file, and a service over its store that
/// replicates as the app's own does (the app's schedule leaves the copies to the test).
struct Source {
    app: TestApp,
    service: Service,
    remotes: tempfile::NamedTempFile,
}

impl Source {
    async fn start(backend: Backend, remotes: Value) -> Self {
        let file = tempfile::NamedTempFile::new().expect("remotes file");
        std::fs::write(file.path(), remotes.to_string()).expect("write remotes");
        let path = file.path().to_owned();
        let app = spawn_app_with(backend, |c| {
            c.replication_remotes = Some(path);
            c.jobs.replication_interval = Duration::from_secs(3600);
        })
        .await;
        let service = app.service_with_remotes(file.path()).await;
        Self {
            app,
            service,
            remotes: file,
        }
    }
}

/// What `push_images` pushed: a tagged OCI image with a layer of a few MiB (streamed
/// in many chunks), an untagged Docker image, and a tagged index over two untagged
/// images.
struct Pushed {
    image: Image,
    untagged: Image,
    children: [Image; 2],
    index: String,
}

/// Images `push_images` queues per destination.
const PUSHED: usize = 5;

async fn push_images(app: &TestApp, repo: &str) -> Pushed {
    let image = Image::new(Format::Oci, &[3 << 20, 1024]);
    push(app, repo, &image, Some("v1")).await;
    let untagged = Image::new(Format::Docker, &[2048]);
    push(app, repo, &untagged, None).await;
    let children = [
        Image::new(Format::Oci, &[512]),
        Image::new(Format::Oci, &[512]),
    ];
    for child in &children {
        push(app, repo, child, None).await;
    }
    let index = Manifest::index(OCI_INDEX, children.iter().map(Image::entry)).to_string();
    app.put_ok(repo, &index, Some("multi")).await;
    Pushed {
        image,
        untagged,
        children,
        index,
    }
}

impl Pushed {
    /// Every image reads back from `registry` byte for byte: by its tag where it has
    /// one, else by its digest.
    async fn assert_at(&self, registry: &Registry, repo: &str) {
        pull_exactly(registry, repo, "v1", &self.image).await;
        pull_exactly(registry, repo, &self.untagged.digest, &self.untagged).await;
        for child in &self.children {
            pull_exactly(registry, repo, &child.digest, child).await;
        }
        let index = registry
            .get_with(
                &format!("/v2/{repo}/manifests/multi"),
                ("accept", OCI_INDEX),
            )
            .await;
        index.assert_status(200);
        assert_eq!(index.body, self.index.as_bytes());
        assert_eq!(index.header("content-type"), Some(OCI_INDEX));
    }

    /// The statuses of each image the push tagged or left untagged are `expected`.
    async fn assert_statuses(
        &self,
        app: &TestApp,
        repo: &str,
        expected: &[(String, String, String, Option<String>)],
    ) {
        let mut expected = expected.to_vec();
        expected.sort();
        for id in [
            by_tag("v1"),
            by_tag("multi"),
            by_digest(&self.untagged.digest),
            by_digest(&self.children[0].digest),
        ] {
            assert_eq!(statuses(app, repo, id).await, expected);
        }
    }
}

fn failed(account: &str, code: &str) -> (String, String, String, Option<String>) {
    let failed = ReplicationStatus::Failed.as_str().into();
    (account.into(), REGION.into(), failed, Some(code.into()))
}

/// A `/v2/` client of the registry at `url`.
fn registry(url: &str, auth: Option<String>) -> Registry {
    Registry {
        url: url.to_owned(),
        http: reqwest::Client::new(),
        auth,
    }
}

async fn to_a_second_berth(backend: Backend) {
    let remote = spawn_app(Backend::Sqlite).await;
    remote.create_repo("team/app").await;
    remote
        .create_repo_with("team/fixed", ImageTagMutability::Immutable, &[])
        .await;
    let password = remote.registry_password().await;
    let source = Source::start(
        backend,
        json!([{"registryId": BERTH_REMOTE, "region": REGION, "url": remote.url,
                "username": "AWS", "password": password}]),
    )
    .await;
    let app = &source.app;
    put_configuration(
        app,
        vec![rule(vec![destination(BERTH_REMOTE, REGION)], &[])],
    )
    .await;
    app.create_repo("team/app").await;
    let pushed = push_images(app, "team/app").await;
    let queued = status(BERTH_REMOTE, REGION, ReplicationStatus::InProgress);
    pushed.assert_statuses(app, "team/app", &[queued]).await;

    let run = run_job(&source.service).await;
    assert_eq!((run.completed, run.failed, run.retrying), (PUSHED, 0, 0));
    let complete = status(BERTH_REMOTE, REGION, ReplicationStatus::Complete);
    pushed.assert_statuses(app, "team/app", &[complete]).await;
    let logged_in = Registry::at(&remote.url, &remote, Some(basic("AWS", &password)));
    pushed.assert_at(&logged_in, "team/app").await;

    // The remote decides: a repository it lacks refuses the image, and so does an
    // immutable tag that names another image there.
    let theirs = Image::new(Format::Oci, &[256]);
    push(&remote, "team/fixed", &theirs, Some("v1")).await;
    for repo in ["team/missing", "team/fixed"] {
        app.create_repo(repo).await;
        let ours = Image::new(Format::Oci, &[256]);
        push(app, repo, &ours, Some("v1")).await;
    }
    let run = run_job(&source.service).await;
    assert_eq!((run.completed, run.failed, run.retrying), (0, 2, 0));
    assert_eq!(
        statuses(app, "team/missing", by_tag("v1")).await,
        vec![failed(BERTH_REMOTE, "IMAGE_REJECTED")]
    );
    assert_eq!(
        statuses(app, "team/fixed", by_tag("v1")).await,
        vec![failed(BERTH_REMOTE, "IMAGE_TAG_IMMUTABLE")]
    );
    pull_exactly(&logged_in, "team/fixed", "v1", &theirs).await;
}

async fn to_docker_registry(backend: Backend) {
    let open = DockerRegistry::anonymous().await;
    let locked = DockerRegistry::with_password(USER.0, USER.1).await;
    let source = Source::start(
        backend,
        json!([
            {"registryId": OPEN, "url": open.url},
            {"registryId": LOCKED, "region": REGION, "url": locked.url,
             "username": USER.0, "password": USER.1},
            {"registryId": WRONG, "url": locked.url, "username": USER.0, "password": "wrong"},
        ]),
    )
    .await;
    let app = &source.app;
    let all = [OPEN, LOCKED, WRONG].map(|id| destination(id, REGION));
    put_configuration(app, vec![rule(all.to_vec(), &[])]).await;
    app.create_repo("team/app").await;
    let pushed = push_images(app, "team/app").await;

    let run = run_job(&source.service).await;
    assert_eq!(
        (run.completed, run.failed, run.retrying),
        (2 * PUSHED, PUSHED, 0)
    );
    let expected = [
        status(OPEN, REGION, ReplicationStatus::Complete),
        status(LOCKED, REGION, ReplicationStatus::Complete),
        failed(WRONG, "ACCESS_DENIED"),
    ];
    pushed.assert_statuses(app, "team/app", &expected).await;
    pushed
        .assert_at(&registry(&open.url, None), "team/app")
        .await;
    let logged_in = registry(&locked.url, Some(basic(USER.0, USER.1)));
    pushed.assert_at(&logged_in, "team/app").await;
    registry(&locked.url, None)
        .get("/v2/team/app/tags/list")
        .await
        .assert_status(401);
}

/// A remote that is down: the copy stays IN_PROGRESS and is tried again; the next
/// process over the same store makes it once the remote is up.
async fn a_remote_down_is_retried(backend: Backend) {
    let port = free_port();
    let remotes = json!([{"registryId": OPEN, "url": format!("http://127.0.0.1:{port}")}]);
    let source = Source::start(backend, remotes).await;
    let app = &source.app;
    put_configuration(app, vec![rule(vec![destination(OPEN, REGION)], &[])]).await;
    app.create_repo("kept").await;
    let image = Image::new(Format::Docker, &[4096]);
    push(app, "kept", &image, Some("v1")).await;
    let run = run_job(&source.service).await;
    assert_eq!((run.completed, run.failed, run.retrying), (0, 0, 1));
    let in_progress = vec![status(OPEN, REGION, ReplicationStatus::InProgress)];
    assert_eq!(statuses(app, "kept", by_tag("v1")).await, in_progress);

    let remote = DockerRegistry::anonymous_on(port).await;
    let Source { app, remotes, .. } = source;
    let TestApp {
        data_dir,
        database_url,
        ..
    } = app;
    let path: PathBuf = remotes.path().to_owned();
    let second = spawn_app_on(backend, data_dir, database_url, |c| {
        c.replication_remotes = Some(path);
        c.jobs.replication_interval = Duration::from_millis(200);
    })
    .await;
    // The retry is due after the first backoff (2 s).
    let complete = vec![status(OPEN, REGION, ReplicationStatus::Complete)];
    for _ in 0..150 {
        if statuses(&second, "kept", by_tag("v1")).await == complete {
            pull_exactly(&registry(&remote.url, None), "kept", "v1", &image).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the copy was not made once the remote was up: {:?}",
        statuses(&second, "kept", by_tag("v1")).await
    );
}

on_both!(
    to_a_second_berth,
    to_docker_registry,
    a_remote_down_is_retried
);

/// The start fails, naming the file and what is wrong in it.
#[tokio::test]
async fn a_remotes_file_berth_cannot_use_stops_the_start() {
    let entry = |id: &str, url: &str| json!({"registryId": id, "url": url});
    for (remotes, says) in [
        (
            json!([entry("12345", "http://a")]).to_string(),
            "entry 1: registryId \"12345\" is not 12 digits",
        ),
        (
            json!([entry(OPEN, "http://a/v2/")]).to_string(),
            "entry 1: registry URL \"http://a/v2/\"",
        ),
        (
            json!([
                entry(OPEN, "http://a"),
                entry(LOCKED, "http://b"),
                entry(OPEN, "http://c")
            ])
            .to_string(),
            "entries 1 and 3 both map registry 111100002222 in every region",
        ),
        ("{\"registryId\": 1}".to_owned(), "expected a JSON list"),
    ] {
        let file = tempfile::NamedTempFile::new().expect("remotes file");
        std::fs::write(file.path(), remotes).expect("write remotes");
        let dir = tempfile::tempdir().expect("data dir");
        let mut config = config(None, dir.path());
        config.replication_remotes = Some(file.path().to_owned());
        let Err(e) = Application::build(config).await else {
            panic!("berth started with {says}");
        };
        let message = e.to_string();
        assert!(message.contains(says), "{message}");
        assert!(
            message.contains(&file.path().display().to_string()),
            "{message}"
        );
    }
}
