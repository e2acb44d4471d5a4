//! Garbage collection: what it reclaims and when, while pushes go on, across a crash
//! of the collecting process, and in one process at a time; `berth gc` and
//! `berth check --repair`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth::domain::{Digest, RepositoryName, TagMutability};
use berth::service::{CreateRepository, Encryption, Service};

use crate::fixtures::{caller, pull_exactly, random_bytes, Format, Image, StoreAt, OCI_MANIFEST};
use crate::helpers::{sha256, spawn_app_with, Backend, TestApp, ALIAS};
use crate::oci_client::Registry;
use crate::on_both;
use crate::process::run_berth as berth;

/// The grace the tests collect with: links and uploads younger than this stay.
const GRACE: Duration = Duration::from_secs(2);

/// The bytes of every blob file in the store at `dir`, and how many files.
fn blob_files(dir: &Path) -> (u64, usize) {
    fn walk(path: &Path, acc: &mut (u64, usize)) {
        for entry in std::fs::read_dir(path).expect("read dir").flatten() {
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                walk(&entry.path(), acc);
            } else {
                acc.0 += meta.len();
                acc.1 += 1;
            }
        }
    }
    let mut acc = (0, 0);
    walk(&dir.join("blobs"), &mut acc);
    acc
}

/// Where the blob store keeps `digest`'s bytes (its documented layout).
fn blob_path(dir: &Path, digest: &str) -> std::path::PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    dir.join("blobs/sha256").join(&hex[..2]).join(hex)
}

on_both!(
    reclaims_what_nothing_uses,
    archived_images_keep_their_blobs,
    uploads_racing_collection_keep_their_bytes,
    put_images_racing_collection_keep_their_layers,
    pushes_deletes_and_collections_race,
    kill_during_collection,
    one_collector_at_a_time,
    dry_run_counts_what_a_run_reclaims,
    serve_collects_on_its_interval,
    check_reports_and_repairs_dangling,
);

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.jobs.gc_grace = GRACE).await
}

/// Images pushed through PutImage, ECR Public and `/v2/` sharing a layer; one deleted.
/// Collection gives back exactly the deleted image's own blobs (the disk says so),
/// keeps the shared layer for the live images of the other repository and the public
/// registry, and keeps a layer uploaded but not used yet until its grace has passed.
async fn reclaims_what_nothing_uses(backend: Backend) {
    let app = app(backend).await;
    let gc = app.service_with_grace(GRACE).await;
    let reg = Registry::login(&app).await;
    let shared = random_bytes(64 * 1024);

    app.create_repo("gc/keep").await;
    let kept = Image::over(Format::Oci, vec![shared.clone(), random_bytes(4096)]);
    let kept = app.push_blobs("gc/keep", kept).await;
    app.put_ok("gc/keep", &kept.manifest, Some("v1")).await;

    app.create_public("gc-pub").await;
    let public = Image::over(Format::Oci, vec![shared.clone()]);
    for blob in public.blobs() {
        app.push_public_blob("gc-pub", blob, None).await;
    }
    app.ecr_public
        .put_image()
        .repository_name("gc-pub")
        .image_manifest(&public.manifest)
        .image_tag("v1")
        .send()
        .await
        .expect("put public image");

    app.create_repo("gc/drop").await;
    let dropped = Image::over(Format::Oci, vec![shared.clone(), random_bytes(1 << 20)]);
    for blob in dropped.blobs() {
        reg.push_blob("gc/drop", blob).await;
    }
    let put = reg
        .put_manifest("gc/drop", "v1", OCI_MANIFEST, dropped.manifest.as_bytes())
        .await;
    assert_eq!(put.status, 201, "{}", put.text());
    let deleted = reg
        .delete(&format!("/v2/gc/drop/manifests/{}", dropped.digest))
        .await;
    assert_eq!(deleted.status, 202, "{}", deleted.text());

    tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
    // Uploaded now, used by no image yet: inside its grace.
    let unused = random_bytes(8192);
    let unused_digest = app.push_blob("gc/keep", &unused).await;
    let (bytes_before, _) = blob_files(app.data_dir.path());

    let dry = gc.collect_garbage(true).await.expect("dry run");
    let report = gc
        .collect_garbage(false)
        .await
        .expect("collect")
        .expect("no other collector");
    assert_eq!(
        dry.as_ref(),
        Some(&report),
        "a dry run counts what a run removes"
    );
    let own = (dropped.config.len() + dropped.layers[1].len()) as u64;
    assert_eq!(
        (report.links, report.blobs, report.bytes),
        (3, 2, own),
        "the deleted image's three links go, and its two blobs of its own: {report:?}"
    );
    assert_eq!((report.uploads, report.unrecorded), (0, 0));
    let (bytes_after, _) = blob_files(app.data_dir.path());
    assert_eq!(
        bytes_before - bytes_after,
        own,
        "the bytes are back on disk"
    );

    pull_exactly(&reg, "gc/keep", "v1", &kept).await;
    let anonymous = Registry::at(&app.public_url, &app, None);
    pull_exactly(&anonymous, &format!("{ALIAS}/gc-pub"), "v1", &public).await;
    let gone = reg
        .get(&format!("/v2/gc/drop/blobs/{}", sha256(&dropped.layers[1])))
        .await;
    assert_eq!(gone.status, 404);
    assert!(blob_path(app.data_dir.path(), &unused_digest).exists());

    // Once its grace has passed, the unused layer goes too.
    tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
    let later = gc
        .collect_garbage(false)
        .await
        .expect("collect")
        .expect("run");
    assert_eq!(
        (later.links, later.blobs, later.bytes),
        (1, 1, unused.len() as u64),
        "{later:?}"
    );
    assert!(!blob_path(app.data_dir.path(), &unused_digest).exists());
    pull_exactly(&reg, "gc/keep", "v1", &kept).await;
    let (code, out) = berth(app.data_dir.path(), app.database_url.as_deref(), &["check"]);
    assert_eq!(code, Some(0), "{out}");
}

/// What one pusher got acknowledged.
struct Pushed {
    repo: String,
    tag: String,
    image: Image,
}

/// For a fixed time, pushers (through `/v2/`, asking first which layers are there, as
/// docker does, and through PutImage) share a pool of layers, delete half of what they
/// push, and a collector runs back to back with a grace of a second. Every push that
/// was acknowledged and not deleted then pulls byte for byte, and `berth check` is
/// clean.
async fn pushes_deletes_and_collections_race(backend: Backend) {
    const RUN: Duration = Duration::from_secs(20);
    const PUSHERS: usize = 4;
    let grace = Duration::from_secs(1);
    let app = Arc::new(spawn_app_with(backend, |c| c.jobs.gc_grace = grace).await);
    let gc = app.service_with_grace(grace).await;
    let pool: Arc<Vec<Vec<u8>>> = Arc::new((0..6).map(|_| random_bytes(32 * 1024)).collect());
    for n in 0..PUSHERS {
        app.create_repo(&format!("torture/{n}")).await;
    }
    let deadline = tokio::time::Instant::now() + RUN;

    let collector = tokio::spawn(async move {
        let mut runs = 0;
        while tokio::time::Instant::now() < deadline {
            gc.collect_garbage(false).await.expect("collect");
            runs += 1;
        }
        runs
    });
    let mut pushers = Vec::new();
    for n in 0..PUSHERS {
        let (app, pool) = (app.clone(), pool.clone());
        pushers.push(tokio::spawn(async move {
            let reg = Registry::login(&app).await;
            let repo = format!("torture/{n}");
            let (mut kept, mut failed, mut round) = (Vec::new(), 0, 0);
            while tokio::time::Instant::now() < deadline {
                round += 1;
                // Two different layers of the pool, and one of its own.
                let first = (n + round) % pool.len();
                let second = (first + 1 + round % (pool.len() - 1)) % pool.len();
                let layers = vec![
                    pool[first].clone(),
                    pool[second].clone(),
                    random_bytes(4096),
                ];
                let image = Image::over(Format::Oci, layers);
                let tag = format!("r{round}");
                let pushed = if round % 2 == 0 {
                    push_like_docker(&reg, &repo, &tag, &image).await
                } else {
                    push_with_put_image(&app, &repo, &tag, &image).await
                };
                if !pushed {
                    failed += 1;
                    continue;
                }
                if round % 3 == 0 {
                    let r = reg
                        .delete(&format!("/v2/{repo}/manifests/{}", image.digest))
                        .await;
                    assert_eq!(r.status, 202, "delete: {}", r.text());
                } else {
                    kept.push(Pushed {
                        repo: repo.clone(),
                        tag,
                        image,
                    });
                }
            }
            (kept, failed, round)
        }));
    }
    let mut kept = Vec::new();
    let (mut failed, mut rounds) = (0, 0);
    for pusher in pushers {
        let (k, f, r) = pusher.await.expect("pusher");
        kept.extend(k);
        failed += f;
        rounds += r;
    }
    let runs = collector.await.expect("collector");
    eprintln!("{rounds} pushes ({failed} refused), {runs} collections");
    assert!(runs >= 3 && kept.len() >= 10, "too little happened");

    // Past the grace, with nothing pushing: what is left is only what images use.
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    let reg = Registry::login(&app).await;
    for p in &kept {
        pull_exactly(&reg, &p.repo, &p.tag, &p.image).await;
    }
    let last = app.service_with_grace(grace).await;
    last.collect_garbage(false)
        .await
        .expect("collect")
        .expect("run");
    for p in &kept {
        pull_exactly(&reg, &p.repo, &p.tag, &p.image).await;
    }
    let (code, out) = berth(app.data_dir.path(), app.database_url.as_deref(), &["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(" 0 missing, 0 files without a record"),
        "{out}"
    );
}

/// docker's push: HEAD each blob, upload the missing ones, PUT the manifest. True when
/// the manifest was accepted.
async fn push_like_docker(reg: &Registry, repo: &str, tag: &str, image: &Image) -> bool {
    for blob in image.blobs() {
        let digest = sha256(blob);
        let head = reg.head(&format!("/v2/{repo}/blobs/{digest}")).await;
        if head.status == 200 {
            continue;
        }
        assert_eq!(head.status, 404);
        let r = reg.post_blob(repo, &digest, blob).await;
        assert_eq!(r.status, 201, "blob upload: {}", r.text());
    }
    let r = reg
        .put_manifest(repo, tag, OCI_MANIFEST, image.manifest.as_bytes())
        .await;
    match r.status {
        201 => true,
        // A layer seen at the HEAD was collected before the manifest came.
        400 if r.text().contains("BLOB_UNKNOWN") => false,
        _ => panic!("manifest put: {} {}", r.status, r.text()),
    }
}

/// ECR's push: BatchCheckLayerAvailability, the layer calls for what is missing,
/// PutImage. True when PutImage answered.
async fn push_with_put_image(app: &TestApp, repo: &str, tag: &str, image: &Image) -> bool {
    let digests: Vec<String> = image.blobs().map(sha256).collect();
    let check = app
        .ecr
        .batch_check_layer_availability()
        .repository_name(repo)
        .set_layer_digests(Some(digests.clone()))
        .send()
        .await
        .expect("check layers");
    for (blob, digest) in image.blobs().zip(&digests) {
        let there = check.layers().iter().any(|l| {
            l.layer_digest() == Some(digest.as_str())
                && l.layer_availability() == Some(&aws_sdk_ecr::types::LayerAvailability::Available)
        });
        if !there && !upload_layer(app, repo, blob).await {
            return false;
        }
    }
    match crate::fixtures::put_image(&app.ecr, repo, &image.manifest, Some(tag)).await {
        Ok(_) => true,
        Err(e) => {
            let e = e.into_service_error();
            assert!(e.is_layers_not_found_exception(), "put image: {e:?}");
            false
        }
    }
}

/// Uploads a layer through ECR's calls; false when the upload was collected before it
/// completed, as one older than the grace is (a loaded machine can take a second).
async fn upload_layer(app: &TestApp, repo: &str, blob: &[u8]) -> bool {
    use crate::fixtures::{complete_upload, initiate_upload, upload_part};
    let id = initiate_upload(&app.ecr, repo).await;
    let uploaded = match upload_part(&app.ecr, repo, &id, 0, blob).await {
        Ok(_) => complete_upload(&app.ecr, repo, &id, &sha256(blob))
            .await
            .map(|_| ())
            .map_err(|e| e.into_service_error().is_upload_not_found_exception()),
        Err(e) => Err(e.into_service_error().is_upload_not_found_exception()),
    };
    match uploaded {
        Ok(()) => true,
        Err(collected) => {
            assert!(collected, "a layer upload failed other than by collection");
            false
        }
    }
}

/// A repository in the in-process service's private registry.
async fn create_repository(service: &Service, name: &str) -> RepositoryName {
    let name = RepositoryName::parse(name).expect("name");
    service
        .create_repository(
            &caller(),
            CreateRepository {
                registry: None,
                name: name.clone(),
                mutability: TagMutability::Mutable,
                scan_on_push: false,
                encryption: Encryption::default(),
                tags: Vec::new(),
                catalog: None,
            },
        )
        .await
        .expect("create repository");
    name
}

/// Uploads `bytes` into `name` in one request, as `POST ?digest=` does.
async fn put_blob(
    service: &Service,
    name: &RepositoryName,
    bytes: &[u8],
) -> berth::service::Result<Digest> {
    let digest = Digest::parse(&sha256(bytes)).expect("digest");
    let body = bytes::Bytes::copy_from_slice(bytes);
    let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(body)]);
    service.put_blob(&caller(), name, &digest, body).await?;
    Ok(digest)
}

/// Reads the blob back through the service: it must be there, byte for byte.
async fn read_back(service: &Service, name: &RepositoryName, digest: &Digest, bytes: &[u8]) {
    use futures_util::TryStreamExt as _;
    let blob = service
        .blob(&caller(), name, digest, berth::service::BlobRead::Download)
        .await
        .unwrap_or_else(|e| panic!("{digest} was acknowledged and is gone: {e:?}"));
    let berth::service::Blob::Stored(reader) = blob else {
        panic!("{digest} is stored, not on its way from an upstream");
    };
    let chunks: Vec<bytes::Bytes> = reader.into_stream().try_collect().await.expect("read");
    assert!(chunks.concat() == bytes, "{digest}: the bytes differ");
}

/// Makes `bytes` garbage in `name`: uploaded, then unlinked (no grace applies).
async fn make_garbage(service: &Service, name: &RepositoryName, bytes: &[u8]) {
    let digest = put_blob(service, name, bytes).await.expect("put blob");
    service
        .delete_blob(&caller(), name, &digest)
        .await
        .expect("unlink");
}

/// `n` small blobs made garbage in `name`.
async fn garbage(service: &Service, name: &RepositoryName, n: usize) {
    for _ in 0..n {
        make_garbage(service, name, &random_bytes(256)).await;
    }
}

/// A short random pause, so that two racing calls meet at varying points.
async fn jitter() {
    use rand::Rng as _;
    let micros = rand::thread_rng().gen_range(0..6000);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// Race 1: a blob that is garbage is uploaded again while a collection removes it.
/// The upload places its file (finding the name taken, it keeps the existing file) and
/// records it; collection deletes the record and then the file. Each round either ends
/// with the record and the file or with neither: an acknowledged upload reads back.
async fn uploads_racing_collection_keep_their_bytes(backend: Backend) {
    let at = StoreAt::new(backend).await;
    let (pusher, collector) = (at.service().await, at.service().await);
    let name = create_repository(&pusher, "gc/race-upload").await;
    for _ in 0..150 {
        let bytes = random_bytes(512);
        make_garbage(&pusher, &name, &bytes).await;
        let upload = async {
            jitter().await;
            put_blob(&pusher, &name, &bytes).await
        };
        let (uploaded, collected) = tokio::join!(upload, collector.collect_garbage(false));
        collected.expect("collect");
        let digest = uploaded.expect("upload");
        read_back(&pusher, &name, &digest, &bytes).await;
    }
}

/// Race 2: PutImage of an image whose layer link is past the grace and unused, while a
/// collection drops such links. An image put is never missing a layer; a refused put
/// says which layer is missing.
async fn put_images_racing_collection_keep_their_layers(backend: Backend) {
    let at = StoreAt::new(backend).await;
    let pusher = at.service().await;
    let collector = at.service_with_grace(Duration::from_millis(1)).await;
    let name = create_repository(&pusher, "gc/race-put").await;
    let (mut put, mut refused) = (0, 0);
    for round in 0..150 {
        let image = Image::new(Format::Oci, &[512]);
        for blob in image.blobs() {
            put_blob(&pusher, &name, blob).await.expect("upload");
        }
        let request = berth::service::PutImage {
            registry: None,
            name: name.clone(),
            manifest: image.manifest.clone().into_bytes(),
            media_type: Some(OCI_MANIFEST.into()),
            tag: Some(berth::domain::ImageTag::parse(&format!("r{round}")).expect("tag")),
            digest: None,
        };
        // Either side starts late, by turns: a late collection lets the put win, a
        // late put the collection (on a loaded machine one side may win every time
        // when only the put waits).
        let put_waits = round % 2 == 0;
        let putting = async {
            if put_waits {
                jitter().await;
            }
            pusher.put_image(&caller(), request).await
        };
        let collecting = async {
            if !put_waits {
                jitter().await;
            }
            collector.collect_garbage(false).await
        };
        let (done, collected) = tokio::join!(putting, collecting);
        collected.expect("collect");
        match done {
            Ok(_) => {
                put += 1;
                for blob in image.blobs() {
                    let digest = Digest::parse(&sha256(blob)).expect("digest");
                    read_back(&pusher, &name, &digest, blob).await;
                }
            }
            Err(berth::service::Error::LayersNotFound(_)) => refused += 1,
            Err(e) => panic!("put image: {e:?}"),
        }
    }
    eprintln!("{put} images put, {refused} refused for a collected layer");
    assert!(
        put > 0 && refused > 0,
        "the race was not run: {put} put, {refused} refused"
    );
}

/// Writes straight to the store at `at` (the test's own hand, not berth's).
async fn store_execute(at: &StoreAt, sql: &str) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let url = at
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", at.dir.path().join("berth.db").display()));
    let mut conn = sqlx::AnyConnection::connect(&url).await.expect("store");
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
}

/// `berth gc` killed with SIGKILL while it removes a large set of garbage leaves the
/// store consistent (`berth check` passes: no record without its file), and a second
/// run removes the rest.
async fn kill_during_collection(backend: Backend) {
    let at = StoreAt::new(backend).await;
    let service = at.service().await;
    let name = create_repository(&service, "gc/killed").await;
    garbage(&service, &name, 600).await;
    service.close().await;
    let (_, files) = blob_files(at.dir.path());
    assert_eq!(files, 600);

    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["gc", "--gc-grace", "1ms", "--data-dir"])
        .arg(at.dir.path());
    if let Some(url) = &at.database_url {
        cmd.arg("--database-url").arg(url);
    }
    let mut child = cmd
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("berth gc");
    // Killed once it has removed some of the garbage and not all of it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, left) = blob_files(at.dir.path());
        if left < files {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        child.try_wait().expect("try wait").is_none(),
        "the collection finished before the kill: make more garbage"
    );
    child.kill().await.expect("kill -9");
    let (_, left) = blob_files(at.dir.path());
    assert!(left > 0, "the kill came after the last file");

    let url = at.database_url.as_deref();
    let (code, out) = berth(at.dir.path(), url, &["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(" 0 missing, "), "{out}");
    // The killed process's lease would lapse within a minute; lapse it now.
    store_execute(&at, "UPDATE leases SET expires_at = 0").await;
    let (code, out) = berth(at.dir.path(), url, &["gc", "--gc-grace", "1ms"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(blob_files(at.dir.path()), (0, 0), "{out}");
    let (code, out) = berth(at.dir.path(), url, &["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 blobs verified, 0 corrupt, 0 missing, 0 files"),
        "{out}"
    );
}

/// Two processes over one store asked to collect at once: one does, the other
/// stands aside; every blob is reclaimed exactly once.
async fn one_collector_at_a_time(backend: Backend) {
    let at = StoreAt::new(backend).await;
    let service = at.service().await;
    let name = create_repository(&service, "gc/twice").await;
    garbage(&service, &name, 100).await;
    // Links dropped by DELETE need no grace: the blobs are garbage at once.
    let (first, second) = (at.service().await, at.service().await);
    let (a, b) = tokio::join!(first.collect_garbage(false), second.collect_garbage(false));
    let (a, b) = (a.expect("first"), b.expect("second"));
    let ran: Vec<_> = [a, b].into_iter().flatten().collect();
    assert_eq!(ran.len(), 1, "exactly one process collects: {ran:?}");
    assert_eq!(ran[0].blobs, 100);
    assert_eq!(blob_files(at.dir.path()), (0, 0));

    // While this process collects, `berth gc` in another stands aside and says so.
    garbage(&service, &name, 1).await;
    let (holding, release) = tokio::sync::oneshot::channel::<()>();
    let (held, hold) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        first
            .exclusively("gc", async {
                held.send(()).expect("signal");
                release.await.expect("release");
                Ok(())
            })
            .await
    });
    hold.await.expect("the lease is held");
    let url = at.database_url.as_deref();
    let (code, out) = berth(at.dir.path(), url, &["gc"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("another process is collecting"), "{out}");
    assert_eq!(blob_files(at.dir.path()).1, 1, "it removed nothing");
    holding.send(()).expect("release");
    holder.await.expect("holder").expect("held");
    let (code, out) = berth(at.dir.path(), url, &["gc"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(blob_files(at.dir.path()), (0, 0), "{out}");
}

/// `berth gc --dry-run` removes nothing and reports what `berth gc` then removes.
async fn dry_run_counts_what_a_run_reclaims(backend: Backend) {
    let app = app(backend).await;
    let reg = Registry::login(&app).await;
    app.create_repo("gc/cli").await;
    let (_, digest) = reg.push_image("gc/cli", "v1").await;
    let (_, kept) = reg.push_image("gc/cli", "v2").await;
    let r = reg.delete(&format!("/v2/gc/cli/manifests/{digest}")).await;
    assert_eq!(r.status, 202);
    let (dir, url) = (app.data_dir.path(), app.database_url.as_deref());
    let on_disk = blob_files(dir);

    let (code, dry) = berth(dir, url, &["gc", "--dry-run", "--gc-grace", "1ms"]);
    assert_eq!(code, Some(0), "{dry}");
    assert_eq!(blob_files(dir), on_disk, "a dry run removes nothing");
    let (code, real) = berth(dir, url, &["gc", "--gc-grace", "1ms"]);
    assert_eq!(code, Some(0), "{real}");
    assert_eq!(dry.strip_prefix("dry run: "), Some(real.as_str()));
    assert!(
        real.starts_with("2 blobs (") && real.contains("2 links and 0 uploads"),
        "{real}"
    );
    let freed: u64 = real
        .split(['(', ' '])
        .nth(3)
        .and_then(|n| n.parse().ok())
        .expect("bytes");
    assert_eq!(blob_files(dir), (on_disk.0 - freed, on_disk.1 - 2));
    let still = reg.get(&format!("/v2/gc/cli/manifests/{kept}")).await;
    assert_eq!(still.status, 200);
}

/// `berth check` reports a record whose file is gone, by name, with the image that
/// lists it; `--repair` removes the record and its links and a file without a record,
/// and no file that has one.
async fn check_reports_and_repairs_dangling(backend: Backend) {
    let app = app(backend).await;
    let reg = Registry::login(&app).await;
    app.create_repo("gc/repair").await;
    let (manifest, image) = reg.push_image("gc/repair", "v1").await;
    let layer_only = reg.push_blob("gc/repair", &random_bytes(2048)).await;
    let (dir, url) = (app.data_dir.path(), app.database_url.as_deref());

    // A layer of the image loses its file; a linked layer too; a file appears that
    // no record names.
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("json");
    let in_image = manifest["layers"][0]["digest"].as_str().expect("layer");
    std::fs::remove_file(blob_path(dir, in_image)).expect("remove");
    std::fs::remove_file(blob_path(dir, &layer_only)).expect("remove");
    let stray = random_bytes(100);
    let stray_digest = sha256(&stray);
    let stray_path = blob_path(dir, &stray_digest);
    std::fs::create_dir_all(stray_path.parent().expect("parent")).expect("dir");
    std::fs::write(&stray_path, &stray).expect("stray");

    let (code, out) = berth(dir, url, &["check"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("MISSING {in_image}")), "{out}");
    assert!(out.contains(&format!("MISSING {layer_only}")), "{out}");
    assert!(out.contains("2 missing, 1 files without a record"), "{out}");
    let listed = format!(
        "{}/{}/private/gc/repair@{image} -> {in_image}",
        crate::helpers::ACCOUNT,
        crate::helpers::REGION
    );
    assert!(
        out.contains(&format!("UNREADABLE REFERENCE {listed}")),
        "{out}"
    );

    let (code, out) = berth(dir, url, &["check", "--repair"]);
    assert_eq!(code, Some(1), "the store was not sound: {out}");
    assert!(
        out.contains(&format!("REMOVED RECORD {layer_only}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("REMOVED FILE {stray_digest}")),
        "{out}"
    );
    assert!(
        out.contains("repaired: 2 records of missing blobs, 2 links, 1 files"),
        "{out}"
    );
    assert!(!stray_path.exists());

    // What repair cannot mend stays reported: the image lists a blob with no record.
    let (code, out) = berth(dir, url, &["check"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("DANGLING REFERENCE {listed}")),
        "{out}"
    );
    assert!(out.contains("0 missing, 0 files without a record"), "{out}");
    // The blobs that have records and files were all kept.
    let config = manifest["config"]["digest"].as_str().expect("config");
    assert!(blob_path(dir, config).exists());
    assert_eq!(
        reg.head(&format!("/v2/gc/repair/blobs/{layer_only}"))
            .await
            .status,
        404,
        "the forgotten layer is unknown, not a failure to read"
    );
}

/// `berth serve` collects by itself every `BERTH_GC_INTERVAL`, with its grace.
async fn serve_collects_on_its_interval(backend: Backend) {
    let app = app(backend).await;
    let reg = Registry::login(&app).await;
    app.create_repo("gc/served").await;
    let (_, digest) = reg.push_image("gc/served", "v1").await;
    let r = reg
        .delete(&format!("/v2/gc/served/manifests/{digest}"))
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(blob_files(app.data_dir.path()).1, 2);
    // Another server over the same store, collecting every 300 ms (with another grace:
    // the first one leaves the store's replicas first, as a stopped server would).
    app.running.leave_replicas().await.expect("leave");
    let TestApp {
        data_dir,
        database_url,
        ..
    } = app;
    let collecting = crate::helpers::spawn_app_on(backend, data_dir, database_url, |c| {
        c.jobs.gc_interval = Duration::from_millis(300);
        c.jobs.gc_grace = Duration::from_millis(1);
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while blob_files(collecting.data_dir.path()).1 > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not collect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An archived image keeps its references, so collection keeps its blobs: once
/// restored it pulls byte for byte.
async fn archived_images_keep_their_blobs(backend: Backend) {
    use aws_sdk_ecr::types::TargetStorageClass;
    let app = app(backend).await;
    let gc = app.service_with_grace(GRACE).await;
    let reg = Registry::login(&app).await;
    app.create_repo("gc/archived").await;
    let image = Image::new(Format::Oci, &[4096, 8192]);
    for blob in image.blobs() {
        reg.push_blob("gc/archived", blob).await;
    }
    let put = reg
        .put_manifest("gc/archived", "v1", OCI_MANIFEST, image.manifest.as_bytes())
        .await;
    assert_eq!(put.status, 201, "{}", put.text());
    let storage = |target| {
        app.ecr
            .update_image_storage_class()
            .repository_name("gc/archived")
            .image_id(crate::fixtures::by_tag("v1"))
            .target_storage_class(target)
            .send()
    };
    storage(TargetStorageClass::Archive).await.expect("archive");
    let on_disk = blob_files(app.data_dir.path());

    tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
    let report = gc
        .collect_garbage(false)
        .await
        .expect("collect")
        .expect("run");
    assert_eq!((report.links, report.blobs), (0, 0), "{report:?}");
    assert_eq!(blob_files(app.data_dir.path()), on_disk);
    storage(TargetStorageClass::Standard)
        .await
        .expect("restore");
    pull_exactly(&reg, "gc/archived", "v1", &image).await;
}
