//! Durability: races settled by the store, crash consistency of the real binary under
//! SIGKILL, graceful shutdown under SIGTERM, and the health check.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ecr::error::SdkError;
use aws_sdk_ecr::operation::upload_layer_part::UploadLayerPartError;
use aws_sdk_ecr::types::{ImageTagMutability, LayerAvailability, ListImagesFilter, TagStatus};
use base64::Engine as _;
use rand::Rng as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::both_stores;
use crate::fixtures::{
    assert_code, batch_get_image, by_digest, by_tag, complete_upload, describe_image,
    describe_repository, initiate_upload, put_digest, put_image, random_bytes, upload_part,
    Descriptor, Format, Image, Manifest, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};
use crate::helpers::{self, sha256, Backend, TestApp, ACCESS_KEY, ECR_TARGET_PREFIX, SECRET_KEY};
use crate::metrics::scrape;
use crate::process::{log_tail, ServerProcess, ServerState};

/// The most any one test here may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(420);
const MIB: usize = 1024 * 1024;

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("test exceeded its time bound")
}

/// `n` distinct manifests over one config and one layer (they differ by annotation).
async fn manifest_variants(app: &TestApp, repo: &str, n: usize) -> Vec<String> {
    let image = app.push_blobs(repo, Image::new(Format::Oci, &[2048])).await;
    (0..n)
        .map(|i| {
            let variant = serde_json::json!({"variant": i.to_string()});
            image.draft().annotations(variant).to_string()
        })
        .collect()
}

/// What the tag currently resolves to, through BatchGetImage.
async fn tag_digest(ecr: &aws_sdk_ecr::Client, repo: &str, tag: &str) -> Option<String> {
    let out = batch_get_image(ecr, repo, by_tag(tag)).await;
    out.images()
        .first()
        .and_then(|i| i.image_id())
        .and_then(|i| i.image_digest())
        .map(str::to_owned)
}

/// Every ListImages entry as (digest, tag), following nextToken.
async fn list_all(
    ecr: &aws_sdk_ecr::Client,
    repo: &str,
    status: Option<TagStatus>,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut token = None;
    for _ in 0..1000 {
        let page = ecr
            .list_images()
            .repository_name(repo)
            .set_filter(
                status
                    .clone()
                    .map(|s| ListImagesFilter::builder().tag_status(s).build()),
            )
            .max_results(100)
            .set_next_token(token.take())
            .send()
            .await
            .expect("list images");
        for id in page.image_ids() {
            out.push((
                id.image_digest().expect("listed digest").to_owned(),
                id.image_tag().map(str::to_owned),
            ));
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return out,
        }
    }
    panic!("ListImages never ended");
}

/// Every DescribeImages detail as digest -> tags, following nextToken.
async fn describe_all(ecr: &aws_sdk_ecr::Client, repo: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut token = None;
    for _ in 0..1000 {
        let page = ecr
            .describe_images()
            .repository_name(repo)
            .max_results(100)
            .set_next_token(token.take())
            .send()
            .await
            .expect("describe images");
        for d in page.image_details() {
            let mut tags = d.image_tags().to_vec();
            tags.sort();
            out.insert(d.image_digest().expect("described digest").to_owned(), tags);
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return out,
        }
    }
    panic!("DescribeImages never ended");
}

// ---------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------

both_stores!(
    immutable_tag_race_has_one_winner,
    mutable_tag_race_all_succeed,
    create_repository_race_has_one_winner,
    concurrent_tagging_loses_no_tag,
    concurrent_delete_and_put,
    healthz_answers_ok,
    completion_retried_after_bytes_moved,
);

async fn immutable_tag_race_has_one_winner(app: TestApp) {
    bounded(async {
        app.create_repo_with("race/immutable", ImageTagMutability::Immutable, &[])
            .await;
        let manifests = manifest_variants(&app, "race/immutable", 16).await;
        let tasks: Vec<_> = manifests
            .iter()
            .map(|m| {
                let (ecr, m) = (app.ecr.clone(), m.clone());
                tokio::spawn(
                    async move { put_image(&ecr, "race/immutable", &m, Some("latest")).await },
                )
            })
            .collect();
        let mut winners = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let put = task.await.expect("task");
            match &put {
                Ok(out) => winners.push(put_digest(out)),
                Err(_) => {
                    assert_code(put, "ImageTagAlreadyExistsException", &format!("put {i}"));
                }
            }
        }
        assert_eq!(winners.len(), 1, "exactly one PutImage wins the tag");
        assert!(
            manifests.iter().any(|m| sha256(m.as_bytes()) == winners[0]),
            "the winner is one of the puts"
        );
        assert_eq!(
            tag_digest(&app.ecr, "race/immutable", "latest")
                .await
                .as_deref(),
            Some(winners[0].as_str()),
            "the tag points at the winner"
        );
        // Losers left no tagged image behind.
        let tagged = list_all(&app.ecr, "race/immutable", Some(TagStatus::Tagged)).await;
        assert_eq!(tagged, vec![(winners[0].clone(), Some("latest".into()))]);
    })
    .await
}

async fn mutable_tag_race_all_succeed(app: TestApp) {
    bounded(async {
        app.create_repo("race/mutable").await;
        let manifests = manifest_variants(&app, "race/mutable", 16).await;
        let digests: BTreeSet<String> = manifests.iter().map(|m| sha256(m.as_bytes())).collect();
        let tasks: Vec<_> = manifests
            .iter()
            .map(|m| {
                let (ecr, m) = (app.ecr.clone(), m.clone());
                tokio::spawn(
                    async move { put_image(&ecr, "race/mutable", &m, Some("latest")).await },
                )
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let out = task
                .await
                .expect("task")
                .unwrap_or_else(|e| panic!("put {i}: {:?}", e.into_service_error()));
            let digest = out
                .image()
                .and_then(|i| i.image_id())
                .and_then(|i| i.image_digest());
            assert_eq!(digest, Some(sha256(manifests[i].as_bytes()).as_str()));
        }
        let current = tag_digest(&app.ecr, "race/mutable", "latest")
            .await
            .expect("tag resolves");
        assert!(
            digests.contains(&current),
            "the tag points at one of the puts"
        );

        let all = list_all(&app.ecr, "race/mutable", None).await;
        let listed: BTreeSet<String> = all.iter().map(|(d, _)| d.clone()).collect();
        assert_eq!(listed, digests, "ListImages shows all 16 images");
        assert_eq!(all.len(), 16, "one entry per image: {all:?}");
        let tagged: Vec<_> = all.iter().filter(|(_, t)| t.is_some()).collect();
        assert_eq!(
            tagged,
            vec![&(current.clone(), Some("latest".to_owned()))],
            "exactly one image carries the tag"
        );
    })
    .await
}

async fn create_repository_race_has_one_winner(app: TestApp) {
    bounded(async {
        for round in 0..3 {
            let name = format!("race/repo-{round}");
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (ecr, name) = (app.ecr.clone(), name.clone());
                    tokio::spawn(async move {
                        ecr.create_repository().repository_name(name).send().await
                    })
                })
                .collect();
            let mut winners = 0;
            for task in tasks {
                let created = task.await.expect("task");
                match &created {
                    Ok(out) => {
                        assert_eq!(
                            out.repository().and_then(|r| r.repository_name()),
                            Some(name.as_str())
                        );
                        winners += 1;
                    }
                    Err(_) => {
                        assert_code(created, "RepositoryAlreadyExistsException", "create");
                    }
                }
            }
            assert_eq!(winners, 1, "exactly one CreateRepository wins {name}");
            describe_repository(&app.ecr, &name).await;
        }
    })
    .await
}

async fn concurrent_tagging_loses_no_tag(app: TestApp) {
    bounded(async {
        app.create_repo("race/tags").await;
        let manifests = manifest_variants(&app, "race/tags", 2).await;
        // First an image that exists, then one that the racing puts create.
        for (m, pre_put) in [(&manifests[0], true), (&manifests[1], false)] {
            let digest = sha256(m.as_bytes());
            if pre_put {
                let base = format!("base-{pre_put}");
                put_image(&app.ecr, "race/tags", m, Some(&base))
                    .await
                    .expect("initial put");
            }
            let tags: Vec<String> = (0..16).map(|i| format!("t{i}-{pre_put}")).collect();
            let tasks: Vec<_> = tags
                .iter()
                .map(|t| {
                    let (ecr, m, t) = (app.ecr.clone(), m.clone(), t.clone());
                    tokio::spawn(async move { put_image(&ecr, "race/tags", &m, Some(&t)).await })
                })
                .collect();
            for (t, task) in tags.iter().zip(tasks) {
                task.await
                    .expect("task")
                    .unwrap_or_else(|e| panic!("tagging {t}: {:?}", e.into_service_error()));
            }
            let mut expected = tags.clone();
            if pre_put {
                expected.push(format!("base-{pre_put}"));
            }
            expected.sort();
            let described = describe_image(&app.ecr, "race/tags", by_digest(&digest)).await;
            let mut got = described.image_tags().to_vec();
            got.sort();
            assert_eq!(got, expected, "every tag is present after the race");
            for t in &tags {
                assert_eq!(
                    tag_digest(&app.ecr, "race/tags", t).await.as_deref(),
                    Some(digest.as_str()),
                    "{t}"
                );
            }
        }
    })
    .await
}

async fn concurrent_delete_and_put(app: TestApp) {
    bounded(async {
        let repo = "race/churn";
        app.create_repo(repo).await;

        // Deleting tag a while putting the same image under tag b: whichever runs
        // first, the image ends up present with exactly tag b.
        let manifests = manifest_variants(&app, repo, 8).await;
        for (round, m) in manifests.iter().enumerate() {
            let digest = sha256(m.as_bytes());
            let (a, b) = (format!("a{round}"), format!("b{round}"));
            put_image(&app.ecr, repo, m, Some(&a)).await.expect("put a");
            let delete = {
                let (ecr, a) = (app.ecr.clone(), a.clone());
                tokio::spawn(async move {
                    ecr.batch_delete_image()
                        .repository_name(repo)
                        .image_ids(by_tag(&a))
                        .send()
                        .await
                })
            };
            let put = {
                let (ecr, m, b) = (app.ecr.clone(), m.clone(), b.clone());
                tokio::spawn(async move { put_image(&ecr, repo, &m, Some(&b)).await })
            };
            let deleted = delete
                .await
                .expect("task")
                .unwrap_or_else(|e| panic!("delete {a}: {:?}", e.into_service_error()));
            assert!(deleted.failures().is_empty(), "{:?}", deleted.failures());
            assert_eq!(deleted.image_ids().len(), 1);
            put.await
                .expect("task")
                .unwrap_or_else(|e| panic!("put {b}: {:?}", e.into_service_error()));
            assert_eq!(tag_digest(&app.ecr, repo, &a).await, None, "{a} is gone");
            assert_eq!(
                tag_digest(&app.ecr, repo, &b).await.as_deref(),
                Some(digest.as_str()),
                "{b} survives the concurrent delete of {a}"
            );
            let described = describe_all(&app.ecr, repo).await;
            assert_eq!(
                described.get(&digest),
                Some(&vec![b.clone()]),
                "{described:?}"
            );
        }

        // Random churn of puts and deletes by tag and by digest over a few images:
        // every answer is a success or a modelled per-item failure, never a 500.
        let churn = manifest_variants(&app, repo, 3).await;
        let mut tasks = Vec::new();
        for i in 0..48 {
            let (op, image, tag) = {
                let mut rng = rand::thread_rng();
                (
                    rng.gen_range(0..3),
                    rng.gen_range(0..churn.len()),
                    rng.gen_range(0..4),
                )
            };
            let (ecr, m) = (app.ecr.clone(), churn[image].clone());
            let tag = format!("c{tag}");
            tasks.push(tokio::spawn(async move {
                let what = format!("op {i} ({op}) on image {image} tag {tag}");
                match op {
                    0 => {
                        // The one outcome a PutImage may have here besides success.
                        let put = put_image(&ecr, repo, &m, Some(&tag)).await;
                        if put.is_err() {
                            assert_code(put, "ImageAlreadyExistsException", &what);
                        }
                    }
                    _ => {
                        let id = if op == 1 {
                            by_tag(&tag)
                        } else {
                            by_digest(&sha256(m.as_bytes()))
                        };
                        let out = ecr
                            .batch_delete_image()
                            .repository_name(repo)
                            .image_ids(id)
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("{what}: {:?}", e.into_service_error()));
                        for f in out.failures() {
                            assert_eq!(
                                f.failure_code().map(|c| c.as_str()),
                                Some("ImageNotFound"),
                                "{what}: {f:?}"
                            );
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("churn task panicked");
        }
        // What is left is consistent: every listed tag and image resolves.
        let listed = list_all(&app.ecr, repo, None).await;
        let described = describe_all(&app.ecr, repo).await;
        let listed_digests: BTreeSet<_> = listed.iter().map(|(d, _)| d.clone()).collect();
        assert_eq!(
            listed_digests,
            described.keys().cloned().collect::<BTreeSet<_>>()
        );
        for (digest, tag) in &listed {
            if let Some(tag) = tag {
                assert_eq!(tag_digest(&app.ecr, repo, tag).await.as_ref(), Some(digest));
                assert!(described[digest].contains(tag));
            }
        }
    })
    .await
}

/// Uploads `bytes` in one part without completing; returns the upload id.
async fn upload_unfinished(app: &TestApp, repo: &str, bytes: &[u8]) -> String {
    let id = initiate_upload(&app.ecr, repo).await;
    upload_part(&app.ecr, repo, &id, 0, bytes)
        .await
        .expect("part");
    id
}

/// The state a crash inside CompleteLayerUpload leaves (the bytes already moved out
/// of the upload area, the upload not yet forgotten): retrying the completion answers
/// LayerAlreadyExists when the layer was recorded, else UploadNotFound; never a 500.
async fn completion_retried_after_bytes_moved(app: TestApp) {
    let repo = "crash/complete";
    app.create_repo(repo).await;
    let recorded = random_bytes(4096);
    let digest = app.push_blob(repo, &recorded).await;
    let unrecorded = random_bytes(4096);
    for (bytes, recorded) in [(&recorded, true), (&unrecorded, false)] {
        let id = upload_unfinished(&app, repo, bytes).await;
        // The blob store's documented layout: `uploads/<upload id>/data`.
        let path = app.data_dir.path().join("uploads").join(&id);
        std::fs::remove_dir_all(&path).expect("the upload's bytes are where documented");
        let r = complete_upload(&app.ecr, repo, &id, &sha256(bytes)).await;
        let code = if recorded {
            "LayerAlreadyExistsException"
        } else {
            "UploadNotFoundException"
        };
        assert_code(r, code, "the bytes are gone");
        // The upload is forgotten; the layer is pushable again.
        let r = upload_part(&app.ecr, repo, &id, 0, &[0]).await;
        assert_code(r, "UploadNotFoundException", "upload gone");
    }
    assert_eq!(app.push_blob(repo, &unrecorded).await, sha256(&unrecorded));
    let check = app
        .ecr
        .batch_check_layer_availability()
        .repository_name(repo)
        .layer_digests(&digest)
        .layer_digests(sha256(&unrecorded))
        .send()
        .await
        .expect("check");
    assert_eq!(check.layers().len(), 2, "{:?}", check.failures());
}

/// Pushes that queue while SQLite's write lock is held elsewhere are committed
/// together by its writer thread (one transaction, one fsync), each in a savepoint:
/// every push keeps its own outcome, the refused ones leave nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_sharing_a_commit_keep_their_own_outcomes() {
    bounded(async {
        let app = helpers::spawn_app(Backend::Sqlite).await;
        let repo = "batch/app";
        app.create_repo_with(repo, ImageTagMutability::Immutable, &[])
            .await;
        let manifests = manifest_variants(&app, repo, 8).await;
        let absent = sha256(b"never uploaded");
        let missing = Manifest::image(
            OCI_MANIFEST,
            Descriptor::new(OCI_CONFIG, &absent, 14),
            [Descriptor::new(OCI_LAYER, &absent, 14)],
        )
        .to_string();
        let mut pushes: Vec<(String, String)> = (0..6)
            .map(|i| (manifests[i].clone(), format!("t{i}")))
            .collect();
        pushes.push((manifests[6].clone(), "shared".into()));
        pushes.push((manifests[7].clone(), "shared".into()));
        pushes.push((missing, "missing".into()));
        let written = || async {
            scrape(&app)
                .await
                .value("berth_sqlite_committed_writes_total", &[])
        };
        let before = written().await;

        let mut lock = helpers::sqlite_write_lock(&app).await;
        let tasks: Vec<_> = pushes
            .iter()
            .map(|(m, tag)| {
                let (ecr, m, tag) = (app.ecr.clone(), m.clone(), tag.clone());
                tokio::spawn(async move { put_image(&ecr, repo, &m, Some(&tag)).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        sqlx::query("COMMIT")
            .execute(&mut lock)
            .await
            .expect("release the write lock");

        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("task"));
        }
        let mut outcomes = outcomes.into_iter();
        for (i, put) in outcomes.by_ref().take(6).enumerate() {
            let out = put.unwrap_or_else(|e| panic!("put {i}: {:?}", e.into_service_error()));
            assert_eq!(put_digest(&out), sha256(manifests[i].as_bytes()), "put {i}");
        }
        let shared: Vec<_> = outcomes.by_ref().take(2).collect();
        let winners: Vec<String> = shared.iter().flatten().map(put_digest).collect();
        assert_eq!(winners.len(), 1, "exactly one push wins the immutable tag");
        for put in shared.into_iter().filter(Result::is_err) {
            assert_code(put, "ImageTagAlreadyExistsException", "the other push");
        }
        let refused = outcomes.next().expect("the push of missing layers");
        assert_code(refused, "LayersNotFoundException", "missing layers");

        let mut expected: Vec<(String, Option<String>)> = (0..6)
            .map(|i| (sha256(manifests[i].as_bytes()), Some(format!("t{i}"))))
            .collect();
        expected.push((winners[0].clone(), Some("shared".into())));
        expected.sort();
        let mut listed = list_all(&app.ecr, repo, None).await;
        listed.sort();
        assert_eq!(listed, expected, "the accepted pushes and nothing else");
        assert!(
            written().await >= before + pushes.len() as f64,
            "every push was counted in a commit"
        );
    })
    .await
}

// ---------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------

async fn healthz_answers_ok(app: TestApp) {
    assert_eq!(app.healthz().await, (200, "ok\n".to_owned()));
}

/// With its database gone, the health check says so instead of answering 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_unreachable_postgres() {
    let app = helpers::spawn_app(Backend::Postgres).await;
    let url = app.database_url.clone().expect("postgres url");
    let name = url.rsplit('/').next().expect("db name").to_owned();
    let mut admin =
        <sqlx::PgConnection as sqlx::Connection>::connect(&helpers::postgres_admin_url())
            .await
            .expect("admin connection");
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop database");
    let resp = tokio::time::timeout(
        Duration::from_secs(60),
        app.http.get(format!("{}/healthz", app.url)).send(),
    )
    .await
    .expect("healthz answers in time")
    .expect("healthz");
    assert_eq!(resp.status().as_u16(), 503);
}

// ---------------------------------------------------------------------------
// The binary as a child process: crash and shutdown
// ---------------------------------------------------------------------------

/// A data dir (and database) that outlives the server processes started on it.
struct Fixture {
    _dir: tempfile::TempDir,
    state: ServerState,
}

async fn fixture(backend: Backend) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(helpers::fresh_postgres_database().await),
    };
    let state = ServerState {
        database_url,
        ..ServerState::in_dir(dir.path())
    };
    Fixture { _dir: dir, state }
}

macro_rules! both_processes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::fixture($crate::helpers::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::fixture($crate::helpers::Backend::Postgres).await).await
            }
        }
    )*};
}

both_processes!(
    sigkill_mid_traffic_keeps_store_consistent,
    sigterm_drains_inflight_upload
);

/// An upload the client started: what the server has acknowledged, and what was on
/// the wire when the server died.
#[derive(Debug, Clone)]
struct OpenUpload {
    id: String,
    content: Arc<Vec<u8>>,
    /// Bytes the server acknowledged.
    acked: usize,
    /// The end of the part in flight, if one was.
    sending_to: Option<usize>,
    /// All parts acknowledged; CompleteLayerUpload was in flight.
    completing: bool,
}

#[derive(Debug, Default)]
struct WorkerLog {
    /// (tag, digest) of every PutImage that answered success.
    puts: Vec<(String, String)>,
    open: Option<OpenUpload>,
    /// An error answer from the live server: always a bug.
    failure: Option<String>,
}

type Shared = Arc<Mutex<WorkerLog>>;

/// Describes an SDK error, or None when the server did not answer (it died).
fn answered<E: std::fmt::Debug, R>(e: &SdkError<E, R>) -> Option<String> {
    match e {
        SdkError::ServiceError(s) => Some(format!("{:?}", s.err())),
        _ => None,
    }
}

/// Uploads `content` in parts of at most `part` bytes, recording progress in `log`.
async fn upload_tracked(
    ecr: &aws_sdk_ecr::Client,
    repo: &str,
    content: Arc<Vec<u8>>,
    part: usize,
    log: &Shared,
) -> Result<String, Option<String>> {
    let up = ecr
        .initiate_layer_upload()
        .repository_name(repo)
        .send()
        .await
        .map_err(|e| answered(&e))?;
    let id = up.upload_id().expect("upload id").to_owned();
    log.lock().unwrap().open = Some(OpenUpload {
        id: id.clone(),
        content: content.clone(),
        acked: 0,
        sending_to: None,
        completing: false,
    });
    let mut at = 0;
    while at < content.len() {
        let end = (at + part).min(content.len());
        log.lock().unwrap().open.as_mut().expect("open").sending_to = Some(end);
        upload_part(ecr, repo, &id, at as i64, &content[at..end])
            .await
            .map_err(|e| answered(&e))?;
        at = end;
        let mut l = log.lock().unwrap();
        let open = l.open.as_mut().expect("open");
        open.acked = end;
        open.sending_to = None;
    }
    log.lock().unwrap().open.as_mut().expect("open").completing = true;
    let digest = sha256(&content);
    let done = complete_upload(ecr, repo, &id, &digest)
        .await
        .map_err(|e| answered(&e))?;
    assert_eq!(done.layer_digest(), Some(digest.as_str()));
    log.lock().unwrap().open = None;
    Ok(digest)
}

/// An OCI image manifest over the blobs `(digest, size)`.
fn image_manifest(config: (&str, usize), layers: &[(String, usize)]) -> String {
    let layers = layers
        .iter()
        .map(|(d, s)| Descriptor::new(OCI_LAYER, d, *s));
    Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_CONFIG, config.0, config.1),
        layers,
    )
    .to_string()
}

/// Pushes images until the server stops answering (or `ops` is reached): a config, a
/// layer (every third one in two parts, 5 MiB and a tail) and a PutImage.
async fn traffic(ecr: aws_sdk_ecr::Client, repo: &'static str, prefix: String, log: Shared) {
    const OPS: usize = 300;
    let result: Result<(), Option<String>> = async {
        for i in 0..OPS {
            let config =
                format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"op\":\"{prefix}-{i}\"}}");
            let config_digest = upload_tracked(
                &ecr,
                repo,
                Arc::new(config.clone().into_bytes()),
                5 * MIB,
                &log,
            )
            .await?;
            let tail = rand::thread_rng().gen_range(1..64 * 1024);
            let layer = if i % 3 == 2 {
                random_bytes(5 * MIB + tail)
            } else {
                random_bytes(tail)
            };
            let len = layer.len();
            let layer_digest = upload_tracked(&ecr, repo, Arc::new(layer), 5 * MIB, &log).await?;
            let manifest = image_manifest((&config_digest, config.len()), &[(layer_digest, len)]);
            let tag = format!("{prefix}-{i}");
            let out = put_image(&ecr, repo, &manifest, Some(&tag))
                .await
                .map_err(|e| answered(&e))?;
            let digest = put_digest(&out);
            assert_eq!(digest, sha256(manifest.as_bytes()));
            log.lock().unwrap().puts.push((tag, digest));
        }
        Ok(())
    }
    .await;
    if let Err(Some(answer)) = result {
        log.lock().unwrap().failure = Some(answer);
    }
}

/// Finishes an upload that the kill interrupted: it resumes where the server says it
/// stands, or is unknown. Returns the layer (digest, size) when it completed.
async fn resume_interrupted(
    ecr: &aws_sdk_ecr::Client,
    repo: &str,
    open: &OpenUpload,
) -> Option<(String, usize)> {
    let digest = sha256(&open.content);
    let len = open.content.len();
    let at = open.acked;
    if !open.completing {
        let sent = upload_part(ecr, repo, &open.id, at as i64, &open.content[at..]).await;
        match sent {
            Ok(out) => assert_eq!(out.last_byte_received(), Some(len as i64 - 1)),
            Err(e) => match e.into_service_error() {
                e if e.is_upload_not_found_exception() => return None,
                UploadLayerPartError::InvalidLayerPartException(e) => {
                    // The part in flight was recorded though its answer never came:
                    // the server must stand exactly at its end.
                    let next = e.last_valid_byte_received().expect("last valid byte") as usize + 1;
                    assert_eq!(
                        Some(next),
                        open.sending_to,
                        "the server stands neither at the acknowledged position {} nor at the end of the part in flight: {e:?}",
                        open.acked
                    );
                    if next < len {
                        upload_part(ecr, repo, &open.id, next as i64, &open.content[next..])
                            .await
                            .expect("resume after the recorded part");
                    }
                }
                e => panic!("resuming upload {}: {e:?}", open.id),
            },
        }
    }
    match complete_upload(ecr, repo, &open.id, &digest).await {
        Ok(out) => {
            assert_eq!(out.layer_digest(), Some(digest.as_str()));
            Some((digest, len))
        }
        Err(e) => {
            let e = e.into_service_error();
            // Completion itself was interrupted after the layer was committed.
            assert!(
                open.completing
                    && (e.is_layer_already_exists_exception() || e.is_upload_not_found_exception()),
                "completing upload {} (acked {}, completing {}): {e:?}",
                open.id,
                open.acked,
                open.completing
            );
            e.is_layer_already_exists_exception()
                .then_some((digest, len))
        }
    }
}

/// Every image the store lists is whole: its manifest hashes to its digest, and every
/// blob it references is available and downloads with the right bytes. Every PutImage
/// acknowledged earlier is present.
async fn check_consistency(server: &ServerProcess, repo: &str, acknowledged: &[(String, String)]) {
    let ecr = &server.ecr;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http");
    let listed: BTreeSet<String> = list_all(ecr, repo, None)
        .await
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    let described = describe_all(ecr, repo).await;
    assert_eq!(
        listed,
        described.keys().cloned().collect::<BTreeSet<_>>(),
        "ListImages and DescribeImages agree"
    );
    let mut blobs: BTreeMap<String, i64> = BTreeMap::new();
    let digests: Vec<&String> = listed.iter().collect();
    for chunk in digests.chunks(100) {
        let out = ecr
            .batch_get_image()
            .repository_name(repo)
            .set_image_ids(Some(chunk.iter().map(|d| by_digest(d)).collect()))
            .send()
            .await
            .expect("batch get image");
        assert!(
            out.failures().is_empty(),
            "listed images missing: {:?}",
            out.failures()
        );
        assert_eq!(out.images().len(), chunk.len());
        for image in out.images() {
            let digest = image
                .image_id()
                .and_then(|i| i.image_digest())
                .expect("digest");
            let manifest = image.image_manifest().expect("manifest");
            assert_eq!(
                sha256(manifest.as_bytes()),
                digest,
                "manifest bytes hash to the digest"
            );
            let parsed: serde_json::Value = serde_json::from_str(manifest).expect("manifest json");
            let descriptors = std::iter::once(&parsed["config"])
                .chain(parsed["layers"].as_array().expect("layers"));
            for d in descriptors {
                blobs.insert(
                    d["digest"].as_str().expect("blob digest").to_owned(),
                    d["size"].as_i64().expect("blob size"),
                );
            }
        }
    }
    let all_blobs: Vec<(&String, &i64)> = blobs.iter().collect();
    for chunk in all_blobs.chunks(100) {
        let out = ecr
            .batch_check_layer_availability()
            .repository_name(repo)
            .set_layer_digests(Some(chunk.iter().map(|(d, _)| (*d).clone()).collect()))
            .send()
            .await
            .expect("check layers");
        assert!(
            out.failures().is_empty(),
            "referenced layers missing: {:?}",
            out.failures()
        );
        for layer in out.layers() {
            let digest = layer.layer_digest().expect("layer digest");
            assert_eq!(
                layer.layer_availability(),
                Some(&LayerAvailability::Available)
            );
            assert_eq!(layer.layer_size(), Some(blobs[digest]), "{digest}");
        }
    }
    for digest in blobs.keys() {
        let url = ecr
            .get_download_url_for_layer()
            .repository_name(repo)
            .layer_digest(digest)
            .send()
            .await
            .unwrap_or_else(|e| panic!("download url for {digest}: {:?}", e.into_service_error()));
        let resp = http
            .get(url.download_url().expect("url"))
            .send()
            .await
            .expect("download");
        assert_eq!(resp.status().as_u16(), 200, "{digest}");
        let bytes = resp.bytes().await.expect("bytes");
        assert_eq!(
            &sha256(&bytes),
            digest,
            "downloaded bytes hash to the digest"
        );
    }
    for chunk in acknowledged.chunks(100) {
        let out = ecr
            .batch_get_image()
            .repository_name(repo)
            .set_image_ids(Some(chunk.iter().map(|(t, _)| by_tag(t)).collect()))
            .send()
            .await
            .expect("batch get image");
        assert!(
            out.failures().is_empty(),
            "acknowledged PutImage lost: {:?}",
            out.failures()
        );
        let got: HashSet<(String, String)> = out
            .images()
            .iter()
            .map(|i| {
                let id = i.image_id().expect("id");
                (
                    id.image_tag().expect("tag").to_owned(),
                    id.image_digest().expect("digest").to_owned(),
                )
            })
            .collect();
        for put in chunk {
            assert!(
                got.contains(put),
                "acknowledged PutImage {put:?} not as put"
            );
        }
    }
}

async fn sigkill_mid_traffic_keeps_store_consistent(fx: Fixture) {
    const REPO: &str = "crash/app";
    const ROUNDS: usize = 3;
    bounded(async {
        let mut server = ServerProcess::start(&fx.state).await;
        server.create_repo(REPO).await;
        let mut acknowledged: Vec<(String, String)> = Vec::new();
        for round in 0..ROUNDS {
            // An upload with one acknowledged 5 MiB part, left open across the kill.
            let parked_log: Shared = Arc::default();
            let parked = Arc::new(random_bytes(5 * MIB + 4096));
            {
                let id = initiate_upload(&server.ecr, REPO).await;
                upload_part(&server.ecr, REPO, &id, 0, &parked[..5 * MIB])
                    .await
                    .expect("first part");
                parked_log.lock().unwrap().open = Some(OpenUpload {
                    id,
                    content: parked.clone(),
                    acked: 5 * MIB,
                    sending_to: None,
                    completing: false,
                });
            }

            let logs: Vec<Shared> = (0..2).map(|_| Shared::default()).collect();
            let workers: Vec<_> = logs
                .iter()
                .enumerate()
                .map(|(w, log)| {
                    tokio::spawn(traffic(
                        server.ecr.clone(),
                        REPO,
                        format!("r{round}w{w}"),
                        log.clone(),
                    ))
                })
                .collect();
            // Kill at a random moment once traffic is flowing.
            let flowing = async {
                while logs.iter().all(|l| l.lock().unwrap().puts.is_empty()) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(120), flowing)
                .await
                .unwrap_or_else(|_| panic!("no PutImage succeeded; log:\n{}", server.log_tail()));
            let delay = rand::thread_rng().gen_range(0..1500);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            server.sigkill().await;
            for w in workers {
                tokio::time::timeout(Duration::from_secs(60), w)
                    .await
                    .expect("traffic stops once the server is gone")
                    .expect("traffic task");
            }

            server = ServerProcess::start(&fx.state).await;
            let mut resumed = Vec::new();
            let parked_open = parked_log.lock().unwrap().open.clone().expect("parked");
            // The parked upload's acknowledged part survives: it must resume.
            let layer = resume_interrupted(&server.ecr, REPO, &parked_open)
                .await
                .expect("the acknowledged part of an open upload survives a crash");
            resumed.push(layer);
            for log in &logs {
                let log = log.lock().unwrap();
                assert_eq!(
                    log.failure,
                    None,
                    "the live server answered an error; log:\n{}",
                    log_tail(&fx.state.log)
                );
                acknowledged.extend(log.puts.iter().cloned());
            }
            for log in &logs {
                let open = log.lock().unwrap().open.clone();
                if let Some(open) = open {
                    if let Some(layer) = resume_interrupted(&server.ecr, REPO, &open).await {
                        resumed.push(layer);
                    }
                }
            }
            // The resumed layers serve an image like any other.
            let config =
                format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"resumed\":{round}}}");
            let config_digest = upload_tracked(
                &server.ecr,
                REPO,
                Arc::new(config.clone().into_bytes()),
                MIB,
                &Shared::default(),
            )
            .await
            .expect("config");
            let manifest = image_manifest((&config_digest, config.len()), &resumed);
            let tag = format!("resumed-{round}");
            put_image(&server.ecr, REPO, &manifest, Some(&tag))
                .await
                .expect("put image of resumed layers");
            acknowledged.push((tag, sha256(manifest.as_bytes())));

            check_consistency(&server, REPO, &acknowledged).await;
        }
        assert!(
            acknowledged.len() > ROUNDS * 2,
            "traffic ran: {} images acknowledged",
            acknowledged.len()
        );
    })
    .await
}

/// Sends an UploadLayerPart by hand: headers and the first half of the body, then
/// `between` runs, then the rest. Returns the status and JSON body of the answer.
async fn split_upload_part(
    port: u16,
    body: &[u8],
    between: impl std::future::Future<Output = ()>,
) -> (u16, serde_json::Value) {
    let target = &format!("{ECR_TARGET_PREFIX}.UploadLayerPart");
    let url = format!("http://127.0.0.1:{port}");
    let headers = helpers::sign_headers(&url, port, target, body, ACCESS_KEY, SECRET_KEY, "ecr");
    let mut head = format!(
        "POST / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let half = body.len() / 2;
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body[..half]).await.expect("first half");
    stream.flush().await.expect("flush");
    between.await;
    stream.write_all(&body[half..]).await.expect("second half");
    stream.flush().await.expect("flush");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut answer))
        .await
        .expect("answer in time")
        .expect("read answer");
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").expect("http answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.to_owned()));
    (status, json)
}

async fn sigterm_drains_inflight_upload(fx: Fixture) {
    const REPO: &str = "shutdown/app";
    bounded(async {
        let mut server = ServerProcess::start(&fx.state).await;
        server.create_repo(REPO).await;
        let id = initiate_upload(&server.ecr, REPO).await;
        let content = random_bytes(15 * MIB);
        let body = serde_json::json!({
            "repositoryName": REPO,
            "uploadId": id,
            "partFirstByte": 0,
            "partLastByte": content.len() - 1,
            "layerPartBlob": base64::engine::general_purpose::STANDARD.encode(&content),
        })
        .to_string();

        let (status, answer) = split_upload_part(server.port, body.as_bytes(), async {
            // The request is on the wire, half its body read, when SIGTERM lands.
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.sigterm();
            // Shutdown has begun (no new connections are served) while the part is
            // still half sent.
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("http");
            let healthz = format!("{}/healthz", server.url);
            let stopped = async {
                while http.get(&healthz).send().await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(30), stopped)
                .await
                .expect("berth stops serving new requests after SIGTERM");
        })
        .await;
        assert_eq!(
            status,
            200,
            "the in-flight part completes: {answer}; log:\n{}",
            log_tail(&fx.state.log)
        );
        assert_eq!(answer["uploadId"], id.as_str());
        assert_eq!(answer["lastByteReceived"], content.len() as i64 - 1);
        let exit = server.wait_exit(Duration::from_secs(60)).await;
        assert_eq!(
            exit.code(),
            Some(0),
            "berth exits cleanly after SIGTERM: {exit}"
        );

        // The part was kept: the upload completes after a restart.
        let server = ServerProcess::start(&fx.state).await;
        let digest = sha256(&content);
        let done = complete_upload(&server.ecr, REPO, &id, &digest)
            .await
            .unwrap_or_else(|e| panic!("complete: {:?}", e.into_service_error()));
        assert_eq!(done.layer_digest(), Some(digest.as_str()));
        let check = server
            .ecr
            .batch_check_layer_availability()
            .repository_name(REPO)
            .layer_digests(&digest)
            .send()
            .await
            .expect("check");
        assert_eq!(check.layers().len(), 1);
        assert_eq!(check.layers()[0].layer_size(), Some(content.len() as i64));
    })
    .await
}
