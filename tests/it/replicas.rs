//! Two `berth` processes over one Postgres database and one blob store (a shared
//! directory, or an S3 bucket on moto) serve one registry: uploads begun on one finish on the other (the registry API's chunked
//! uploads and ECR's layer parts), one process killed mid-upload leaves the other to
//! finish it, skopeo and docker push to one and pull from the other, and background work
//! queued by a push (here, signing) is done once though both processes run the job.

use std::path::Path;
use std::time::Duration;

use regex::Regex;
use reqwest::Method;
use serde_json::Value;
use sqlx::Connection as _;

use crate::engines::docker::Docker;
use crate::engines::{files, unique};
use crate::fixtures::moto::Moto;
use crate::fixtures::{by_tag, complete_upload, initiate_upload, upload_part, Format, Image};
use crate::helpers::{fresh_postgres_database, sha256, ACCOUNT};
use crate::oci_client::{registry_token, Registry};
use crate::process::{Launch, ServerProcess, ServerState};
use crate::registry_clients::{assert_pulled, oci_layout, skopeo};
use crate::signing::make_key;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_shared_directory() {
    let other = tempfile::tempdir().expect("another blob directory");
    let other = format!("file://{}", other.path().display());
    two_processes_serve_one_registry(&[], &other, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3() {
    let moto = Moto::start().await;
    let bucket = moto.bucket().await;
    let url = format!("s3://{bucket}/registry");
    let other = format!("s3://{bucket}/another-registry");
    two_processes_serve_one_registry(&["--blob-store", &url], &other, &moto.settings()).await;
}

/// The case, with the blob store that `blob_args` (and the environment `env`) name;
/// `other` is another blob store there.
async fn two_processes_serve_one_registry(
    blob_args: &[&str],
    other: &str,
    env: &[(String, String)],
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = Some(fresh_postgres_database().await);
    let state = |name: &str| ServerState {
        data_dir: dir.path().join("data"),
        database_url: database_url.clone(),
        log: dir.path().join(format!("{name}.log")),
    };
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    make_key(&keys, "release", "ec");
    let keys_arg = keys.display().to_string();
    let mut args = vec![
        "--signing-dir",
        keys_arg.as_str(),
        "--signing-interval",
        "1s",
    ];
    args.extend(blob_args);
    let launch = || Launch {
        args: &args,
        env,
        ..Launch::default()
    };
    let a = ServerProcess::launch(&state("a"), launch()).await;
    let b = ServerProcess::launch(&state("b"), launch()).await;
    a.ecr
        .create_repository()
        .repository_name("shared/app")
        .send()
        .await
        .expect("create on A");

    // ECR's layer calls: begun on A, a part on B, completed on A; the image put on B
    // and read back on A.
    let image = Image::new(Format::Oci, &[300_000]);
    for blob in image.blobs() {
        let id = initiate_upload(&a.ecr, "shared/app").await;
        upload_part(&b.ecr, "shared/app", &id, 0, blob)
            .await
            .expect("part on B");
        complete_upload(&a.ecr, "shared/app", &id, &sha256(blob))
            .await
            .expect("complete on A");
    }
    b.ecr
        .put_image()
        .repository_name("shared/app")
        .image_manifest(&image.manifest)
        .image_tag("ecr")
        .send()
        .await
        .expect("put image on B");
    let got = a
        .ecr
        .batch_get_image()
        .repository_name("shared/app")
        .image_ids(by_tag("ecr"))
        .send()
        .await
        .expect("batch get on A");
    assert_eq!(
        got.images()[0].image_manifest(),
        Some(image.manifest.as_str())
    );

    // The registry API's chunked upload: opened on A, chunks on B then A, finished on B.
    let (reg_a, reg_b) = (registry(&a).await, registry(&b).await);
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let digest = sha256(&blob);
    let location = reg_a.start_upload("shared/app").await;
    let location = path_of(&location);
    let r = reg_b
        .patch(&location, Some("0-99999"), &blob[..100_000])
        .await;
    r.assert_status(202);
    let location = path_of(r.header("location").expect("location"));
    let r = reg_a
        .patch(&location, Some("100000-149999"), &blob[100_000..150_000])
        .await;
    r.assert_status(202);
    let location = path_of(r.header("location").expect("location"));
    let r = reg_b
        .patch(&location, Some("150000-199999"), &blob[150_000..])
        .await;
    r.assert_status(202);
    let location = path_of(r.header("location").expect("location"));
    let r = reg_b.put(&with_digest(&location, &digest), &[]).await;
    r.assert_status(201);
    let r = reg_a.get(&format!("/v2/shared/app/blobs/{digest}")).await;
    r.assert_status(200);
    assert_eq!(sha256(&r.body), digest);

    // A killed mid-upload: B takes the session up where A's last chunk left it.
    let blob: Vec<u8> = (0..120_000u32).map(|i| (i % 13) as u8).collect();
    let digest = sha256(&blob);
    let location = path_of(&reg_a.start_upload("shared/app").await);
    let r = reg_a
        .patch(&location, Some("0-59999"), &blob[..60_000])
        .await;
    r.assert_status(202);
    let location = path_of(r.header("location").expect("location"));
    a.sigkill().await;
    let status = reg_b.call(Method::GET, &location).await;
    status.assert_status(204);
    assert_eq!(status.header("range"), Some("0-59999"));
    let r = reg_b
        .patch(&location, Some("60000-119999"), &blob[60_000..])
        .await;
    r.assert_status(202);
    let location = path_of(r.header("location").expect("location"));
    reg_b
        .put(&with_digest(&location, &digest), &[])
        .await
        .assert_status(201);
    let a = ServerProcess::launch(&state("a"), launch()).await;
    let reg_a = registry(&a).await;
    let r = reg_a.get(&format!("/v2/shared/app/blobs/{digest}")).await;
    r.assert_status(200);
    assert_eq!(r.body, blob);

    // skopeo pushes to A and to B, and pulls from the other.
    let layouts = dir.path().join("layouts");
    let (one, two) = (layouts.join("one"), layouts.join("two"));
    let (digest_one, _) = oci_layout(&one, "v1", 3);
    let (digest_two, _) = oci_layout(&two, "v1", 4);
    for (server, source, tag) in [(&a, &one, "one"), (&b, &two, "two")] {
        copy(server, &format!("oci:{}:v1", source.display()), tag, true).await;
    }
    for (server, digest, tag) in [(&b, &digest_one, "one"), (&a, &digest_two, "two")] {
        let back = layouts.join(format!("back-{tag}"));
        copy(server, &format!("oci:{}:v1", back.display()), tag, false).await;
        let manifest = std::fs::read_to_string(
            back.join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .expect("pulled manifest");
        assert_pulled(&back, &manifest, digest);
    }

    // docker pushes to one and pulls from the other; pushing A's image again to B
    // sends no layer, since B sees what A stored.
    let docker = Docker::new().await;
    for server in [&a, &b] {
        let password = crate::helpers::token_password(&registry_token(&server.ecr).await);
        docker.login_with(&host(server), &password).await;
    }
    let one = files(&["a.txt", "b.txt"]);
    let local = unique("replicas/one");
    docker.build(&local, &one, None).await;
    let (on_a, on_b) = (
        format!("{}/shared/app:docker-one", host(&a)),
        format!("{}/shared/app:docker-one", host(&b)),
    );
    docker.ok(&["tag", &local, &on_a]).await;
    docker.ok(&["push", &on_a]).await;
    docker.ok(&["tag", &local, &on_b]).await;
    let again = docker.ok(&["push", &on_b]).await;
    assert_eq!(again.matches("Layer already exists").count(), 2, "{again}");
    docker.ok(&["rmi", &local, &on_a, &on_b]).await;
    docker.ok(&["pull", &on_b]).await;
    docker.assert_files(&on_b, None, &one).await;
    let two = files(&["c.txt"]);
    let (on_b, on_a) = (
        format!("{}/shared/app:docker-two", host(&b)),
        format!("{}/shared/app:docker-two", host(&a)),
    );
    docker.build(&on_b, &two, None).await;
    docker.ok(&["push", &on_b]).await;
    docker.ok(&["rmi", &on_b]).await;
    docker.ok(&["pull", &on_a]).await;
    docker.assert_files(&on_a, None, &two).await;

    // Signing queued by one push, with both processes running the job every second:
    // exactly one signature.
    let profile = format!("arn:aws:signer:us-east-1:{ACCOUNT}:/signing-profiles/release");
    let rule = aws_sdk_ecr::types::SigningRule::builder()
        .signing_profile_arn(&profile)
        .build()
        .expect("rule");
    b.ecr
        .put_signing_configuration()
        .signing_configuration(
            aws_sdk_ecr::types::SigningConfiguration::builder()
                .rules(rule)
                .build()
                .expect("configuration"),
        )
        .send()
        .await
        .expect("put signing configuration");
    let signed = Image::new(Format::Oci, &[1_000]);
    for blob in signed.blobs() {
        let id = initiate_upload(&a.ecr, "shared/app").await;
        upload_part(&a.ecr, "shared/app", &id, 0, blob)
            .await
            .expect("part");
        complete_upload(&a.ecr, "shared/app", &id, &sha256(blob))
            .await
            .expect("complete");
    }
    a.ecr
        .put_image()
        .repository_name("shared/app")
        .image_manifest(&signed.manifest)
        .image_tag("signed")
        .send()
        .await
        .expect("put signed image");
    // Up to the job lease's 60 s and more: the killed process may have held the
    // signing lease when it died, and the others take it over only when it runs out.
    let mut complete = false;
    for _ in 0..900 {
        let out = b
            .ecr
            .describe_image_signing_status()
            .repository_name("shared/app")
            .image_id(by_tag("signed"))
            .send()
            .await
            .expect("signing status");
        if out.signing_statuses()[0].status().map(|s| s.as_str()) == Some("COMPLETE") {
            complete = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(complete, "the image was not signed");
    // Both jobs have run a few more times since.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let referrers = reg_a
        .get(&format!("/v2/shared/app/referrers/{}", signed.digest))
        .await;
    referrers.assert_status(200);
    let listed: Value = referrers.json();
    let signatures: Vec<&Value> = listed["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter(|m| m["artifactType"] == "application/vnd.cncf.notary.signature")
        .collect();
    assert_eq!(signatures.len(), 1, "{listed}");

    // A third process whose settings differ from the live ones' is refused, saying
    // which; with the same settings it joins.
    let differing = ["--gc-grace", "1h", "--blob-store", other];
    let (code, stderr) = third(&state("c"), &differing, env, "another-secret").await;
    assert_eq!(code, Some(1), "{stderr}");
    let other_store =
        Regex::new(r"blob_store \(store [0-9a-f-]{36} here, store [0-9a-f-]{36} there\)")
            .expect("regex");
    assert!(
        stderr.contains("gc_grace (1h here, 1day there)")
            && stderr.contains("credentials (differs)")
            && other_store.is_match(&stderr)
            && !stderr.contains("another-secret"),
        "{stderr}"
    );
    // An older berth, which registers no blob store, is no disagreement: a rolling
    // upgrade joins it.
    let url = database_url.as_deref().expect("Postgres");
    let mut db = sqlx::PgConnection::connect(url).await.expect("database");
    let (settings,): (String,) = sqlx::query_as("SELECT settings FROM instances LIMIT 1")
        .fetch_one(&mut db)
        .await
        .expect("a live process");
    let mut older: serde_json::Map<String, Value> =
        serde_json::from_str(&settings).expect("settings");
    older
        .remove("blob_store")
        .expect("the blob store is registered");
    sqlx::query("INSERT INTO instances (id, settings, seen_at) VALUES ('older', $1, $2)")
        .bind(Value::Object(older).to_string())
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut db)
        .await
        .expect("an older process");
    let c = ServerProcess::launch(&state("c"), launch()).await;
    c.ecr
        .describe_repositories()
        .send()
        .await
        .expect("the third process serves");
    drop((a, b, c));
}

/// Starts `berth serve` over the shared state with `args` and the secret `secret`,
/// expecting it to stop by itself: its exit code and stderr.
async fn third(
    state: &ServerState,
    args: &[&str],
    env: &[(String, String)],
    secret: &str,
) -> (Option<i32>, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--public-listen",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(&state.data_dir)
    .args(["--account-id", ACCOUNT])
    .args(args)
    .env_remove("BERTH_CONFIG")
    .env_remove("BERTH_GC_GRACE")
    .env("BERTH_ACCESS_KEY_ID", crate::helpers::ACCESS_KEY)
    .env("BERTH_SECRET_ACCESS_KEY", secret)
    .env("RUST_LOG", "warn")
    .envs(env.iter().map(|(k, v)| (k, v)))
    .kill_on_drop(true);
    if let Some(url) = &state.database_url {
        cmd.arg("--database-url").arg(url);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the refused process stops by itself")
        .expect("run berth");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `/v2/` client of `server`, logged in with its registry token.
async fn registry(server: &ServerProcess) -> Registry {
    Registry {
        url: server.url.clone(),
        http: reqwest::Client::new(),
        auth: Some(format!("Basic {}", registry_token(&server.ecr).await)),
    }
}

/// `server`'s registry host, as docker names it.
fn host(server: &ServerProcess) -> String {
    format!("127.0.0.1:{}", server.port)
}

/// An upload's Location as a path, whichever process's address it names.
fn path_of(location: &str) -> String {
    match location.find("/v2/") {
        Some(at) => location[at..].to_owned(),
        None => location.to_owned(),
    }
}

fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// skopeo copies `layout` to `server`'s `shared/app:<tag>` (`push`), or the tag back
/// into `layout`.
async fn copy(server: &ServerProcess, layout: &str, tag: &str, push: bool) {
    let password = crate::helpers::token_password(&registry_token(&server.ecr).await);
    let creds = format!("AWS:{password}");
    let remote = format!("docker://127.0.0.1:{}/shared/app:{tag}", server.port);
    let (from, to, creds_flag, tls_flag) = if push {
        (
            layout.to_owned(),
            remote,
            "--dest-creds",
            "--dest-tls-verify=false",
        )
    } else {
        let dir = layout
            .strip_prefix("oci:")
            .and_then(|l| l.rsplit_once(':'))
            .map(|(path, _)| path)
            .expect("layout");
        std::fs::create_dir_all(Path::new(dir)).expect("layout dir");
        (
            remote,
            layout.to_owned(),
            "--src-creds",
            "--src-tls-verify=false",
        )
    };
    let (ok, err) = skopeo(&[
        "copy",
        "--preserve-digests",
        tls_flag,
        creds_flag,
        &creds,
        &from,
        &to,
    ])
    .await;
    assert!(ok, "skopeo copy {from} {to}: {err}");
}
