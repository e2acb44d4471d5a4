//! The bytes behind a digest never change: racing and slow requests cannot replace a
//! stored blob, what is committed is what was verified, failed requests leave no
//! bytes behind, and `berth check` proves every blob still hashes to its name.

use std::path::Path;
use std::time::Duration;

use aws_sdk_ecr::primitives::Blob;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_stores;
use crate::fixtures::{initiate_upload, random_bytes, upload_part};
use crate::helpers::{sha256, TestApp, ALIAS};
use crate::oci_client::{basic, login, Registry};

both_stores!(
    slow_patch_cannot_replace_a_stored_layer,
    racing_layer_parts_never_corrupt_blobs,
    failed_uploads_leave_nothing,
    out_of_order_last_chunk_keeps_the_session,
    check_finds_changed_and_missing_blobs,
    chunks_become_the_blob_without_a_copy,
);

/// Every blob file under the data dir whose bytes do not hash to its name (after
/// checking there are as many files as `at_least`).
fn blobs_not_matching_their_names(data_dir: &Path, at_least: usize) -> Vec<String> {
    let mut files = 0;
    let mut wrong = Vec::new();
    let root = data_dir.join("blobs").join("sha256");
    for prefix in std::fs::read_dir(&root).expect("blob dir").flatten() {
        for file in std::fs::read_dir(prefix.path())
            .expect("prefix dir")
            .flatten()
        {
            files += 1;
            let bytes = std::fs::read(file.path()).expect("blob file");
            let name = file.file_name().to_string_lossy().into_owned();
            if hex::encode(Sha256::digest(&bytes)) != name {
                wrong.push(name);
            }
        }
    }
    assert!(files >= at_least, "{files} blob files, expected {at_least}");
    wrong
}

/// Bytes held in an upload's area (`<data dir>/uploads/<id>/`).
fn upload_area(app: &TestApp, location: &str) -> u64 {
    let id = location.rsplit('/').next().expect("upload id");
    std::fs::read_dir(app.data_dir.path().join("uploads").join(id))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or_default()
}

/// A request whose head is sent and whose body is held back: the test writes the
/// body (or breaks it off) when it chooses.
struct HeldRequest(TcpStream);

impl HeldRequest {
    async fn send_head(url: &str, method: &str, path: &str, auth: &str, length: usize) -> Self {
        let host = url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).await.expect("connect");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("head");
        // Long enough for the server to be inside the handler, waiting for the body.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Self(stream)
    }

    /// Sends the body and returns the response's status.
    async fn finish(mut self, body: &[u8]) -> u16 {
        self.0.write_all(body).await.expect("body");
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = self.0.read(&mut buf).await.expect("response");
            assert!(n > 0, "the connection closed before a response");
            response.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&response);
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line: {text}"))
    }
}

/// A PATCH that sends its head and holds back its body cannot change what another
/// request wrote, whichever finishes first, and the layer stored in another
/// repository (private or public) keeps its bytes.
async fn slow_patch_cannot_replace_a_stored_layer(app: TestApp) {
    app.create_repo("slow/victim").await;
    app.create_repo("slow/attacker").await;
    app.create_public("victim").await;
    app.create_public("attacker").await;
    let private = login(&app).await;
    let public = basic("AWS", &app.public_password().await);
    let faces = [
        (app.url.clone(), private, "slow/victim", "slow/attacker"),
        (app.public_url.clone(), public, "victim", "attacker"),
    ];
    let mut layers = 0;
    for (url, auth, victim, attacker) in &faces {
        let reg = Registry::at(url, &app, Some(auth.clone()));
        let prefix = if url == &app.url {
            String::new()
        } else {
            format!("{ALIAS}/")
        };
        let layer = random_bytes(64 * 1024);
        let digest = reg.push_blob(&format!("{prefix}{victim}"), &layer).await;
        layers += 1;
        let evil = random_bytes(layer.len());
        for slow_first in [false, true] {
            let location = reg.start_upload(&format!("{prefix}{attacker}")).await;
            let slow = HeldRequest::send_head(url, "PATCH", &location, auth, evil.len()).await;
            let (fast, slow) = if slow_first {
                let slow = slow.finish(&evil).await;
                (reg.patch(&location, None, &layer).await.status, slow)
            } else {
                let fast = reg.patch(&location, None, &layer).await.status;
                (fast, slow.finish(&evil).await)
            };
            assert_eq!(
                (fast, slow),
                if slow_first { (202, 202) } else { (202, 416) },
                "slow first: {slow_first}"
            );
            let done = reg.put(&format!("{location}?digest={digest}"), b"").await;
            if slow_first {
                // The session holds the slow body then the layer: not the digest's bytes.
                done.assert_error(400, "DIGEST_INVALID");
            } else {
                assert_eq!(done.status, 201, "{}", done.text());
            }
            let served = reg
                .get(&format!("/v2/{prefix}{victim}/blobs/{digest}"))
                .await;
            assert_eq!(
                sha256(&served.body),
                digest,
                "the stored layer keeps its bytes"
            );
        }
    }
    let wrong = blobs_not_matching_their_names(app.data_dir.path(), layers);
    assert!(wrong.is_empty(), "blobs whose bytes changed: {wrong:?}");
}

/// Two UploadLayerPart calls racing for the same bytes (one with the layer, one with
/// other bytes of the same length), in private and public repositories, some of them
/// for layers another repository already holds: one part wins, and completing with
/// the layer's digest either stores exactly the layer or is refused.
async fn racing_layer_parts_never_corrupt_blobs(app: TestApp) {
    app.create_repo("race/victim").await;
    app.create_repo("race/attacker").await;
    app.create_public("victim").await;
    app.create_public("attacker").await;
    let mut stored = Vec::new();
    for round in 0..30 {
        let public = round % 2 == 1;
        let layer = random_bytes(32 * 1024);
        let evil = random_bytes(layer.len());
        let digest = sha256(&layer);
        if round % 4 < 2 {
            if public {
                app.push_public_blob("victim", &layer, None).await;
            } else {
                app.push_blob("race/victim", &layer).await;
            }
            stored.push((public, digest.clone(), layer.clone()));
        }
        let last = layer.len() as i64 - 1;
        // The two SDKs' clients have the same calls but different types.
        macro_rules! race {
            ($ecr:expr, $repo:literal) => {{
                let ecr = $ecr;
                let up = ecr
                    .initiate_layer_upload()
                    .repository_name($repo)
                    .send()
                    .await
                    .expect("initiate");
                let id = up.upload_id().expect("id");
                let part = |bytes: &[u8]| {
                    ecr.upload_layer_part()
                        .repository_name($repo)
                        .upload_id(id)
                        .part_first_byte(0)
                        .part_last_byte(last)
                        .layer_part_blob(Blob::new(bytes))
                        .send()
                };
                let (a, b) = tokio::join!(part(&layer), part(&evil));
                assert!(a.is_ok() != b.is_ok(), "exactly one part wins: {a:?} {b:?}");
                ecr.complete_layer_upload()
                    .repository_name($repo)
                    .upload_id(id)
                    .layer_digests(&digest)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{:?}", e.into_service_error()))
            }};
        }
        let completed = if public {
            race!(&app.ecr_public, "attacker")
        } else {
            race!(&app.ecr, "race/attacker")
        };
        match completed {
            Ok(()) => stored.push((public, digest, layer)),
            Err(e) => assert!(e.contains("InvalidLayerException"), "{e}"),
        }
    }
    let wrong = blobs_not_matching_their_names(app.data_dir.path(), stored.len() / 2);
    assert!(wrong.is_empty(), "blobs whose bytes changed: {wrong:?}");
    let private = Registry::at(&app.url, &app, Some(login(&app).await));
    let public = Registry::at(&app.public_url, &app, None);
    for (is_public, digest, layer) in stored {
        let served = if is_public {
            public
                .get(&format!("/v2/{ALIAS}/victim/blobs/{digest}"))
                .await
        } else {
            private
                .get(&format!("/v2/race/victim/blobs/{digest}"))
                .await
        };
        // Layers pushed only to the attacker's repository are checked by hash above.
        if served.status == 200 {
            assert_eq!(sha256(&served.body), digest);
            assert_eq!(served.body.len(), layer.len());
        }
    }
}

/// A chunk that breaks off, a chunk whose length disagrees with its Content-Range,
/// and a monolithic upload with the wrong digest leave no bytes on disk and do not
/// move the session.
async fn failed_uploads_leave_nothing(app: TestApp) {
    app.create_repo("leftovers").await;
    let auth = login(&app).await;
    let reg = Registry::at(&app.url, &app, Some(auth.clone()));

    // Broken off after 100 KiB of 1 MiB.
    let location = reg.start_upload("leftovers").await;
    let mut held = HeldRequest::send_head(&app.url, "PATCH", &location, &auth, 1 << 20).await;
    held.0
        .write_all(&random_bytes(100 * 1024))
        .await
        .expect("part of the body");
    drop(held);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while upload_area(&app, &location) != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the broken chunk's bytes stay: {}",
            upload_area(&app, &location)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = reg.get(&location).await;
    assert_eq!((status.status, status.header("range")), (204, Some("0-0")));

    // Lengths that disagree with Content-Range: refused, nothing kept.
    for body in [random_bytes(50), random_bytes(150)] {
        reg.patch(&location, Some("0-99"), &body)
            .await
            .assert_error(416, "RANGE_INVALID");
        assert_eq!(upload_area(&app, &location), 0);
    }
    let data = random_bytes(100);
    assert_eq!(reg.patch(&location, Some("0-99"), &data).await.status, 202);
    let done = reg
        .put(&format!("{location}?digest={}", sha256(&data)), b"")
        .await;
    assert_eq!(done.status, 201, "{}", done.text());

    // A monolithic upload with the wrong digest: no session, no bytes.
    let before: Vec<_> = std::fs::read_dir(app.data_dir.path().join("uploads"))
        .expect("uploads")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    reg.post_blob("leftovers", &sha256(b"other"), &random_bytes(4096))
        .await
        .assert_error(400, "DIGEST_INVALID");
    let after: Vec<_> = std::fs::read_dir(app.data_dir.path().join("uploads"))
        .expect("uploads")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after, "the failed upload left its area behind");
    let wrong = blobs_not_matching_their_names(app.data_dir.path(), 1);
    assert!(wrong.is_empty(), "{wrong:?}");
}

/// A session's chunks extend one file, which becomes the blob as it is: the blob's file
/// is the session's (the same inode), its bytes written once and never copied.
async fn chunks_become_the_blob_without_a_copy(app: TestApp) {
    use std::os::unix::fs::MetadataExt as _;
    app.create_repo("once").await;
    let reg = Registry::login(&app).await;
    let data = random_bytes(3 * 64 * 1024 + 5);
    let location = reg.start_upload("once").await;
    let id = location.rsplit('/').next().expect("upload id");
    let session_file = app.data_dir.path().join("uploads").join(id).join("data");
    for (i, chunk) in data.chunks(64 * 1024).enumerate() {
        let first = i * 64 * 1024;
        let range = format!("{first}-{}", first + chunk.len() - 1);
        let r = reg.patch(&location, Some(&range), chunk).await;
        assert_eq!(r.status, 202, "{}", r.text());
    }
    let inode = std::fs::metadata(&session_file)
        .expect("the session's file")
        .ino();
    let digest = sha256(&data);
    let done = reg.put(&format!("{location}?digest={digest}"), b"").await;
    assert_eq!(done.status, 201, "{}", done.text());
    let hex = digest.trim_start_matches("sha256:");
    let blob = app
        .data_dir
        .path()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    assert_eq!(std::fs::metadata(&blob).expect("the blob").ino(), inode);
    assert_eq!(std::fs::read(&blob).expect("read"), data);
    assert!(!session_file.exists(), "the session's file went with it");
}

/// The OCI spec: "If the final chunk is uploaded out of order, the registry MUST
/// respond with a 416", and the session stays as it was.
async fn out_of_order_last_chunk_keeps_the_session(app: TestApp) {
    app.create_repo("order").await;
    let reg = Registry::login(&app).await;
    let data = random_bytes(20);
    let digest = sha256(&data);
    let location = reg.start_upload("order").await;
    assert_eq!(
        reg.patch(&location, Some("0-9"), &data[..10]).await.status,
        202
    );
    let put = |range: &'static str, bytes: Vec<u8>| {
        let reg = &reg;
        let path = format!("{location}?digest={digest}");
        async move {
            reg.send(
                reg.request(reqwest::Method::PUT, &path)
                    .header("content-type", "application/octet-stream")
                    .header("content-range", range)
                    .body(bytes),
            )
            .await
        }
    };
    put("20-29", data[10..].to_vec())
        .await
        .assert_error(416, "RANGE_INVALID");
    let status = reg.get(&location).await;
    assert_eq!((status.status, status.header("range")), (204, Some("0-9")));
    let done = put("10-19", data[10..].to_vec()).await;
    assert_eq!(done.status, 201, "{}", done.text());
    assert_eq!(
        reg.get(&format!("/v2/order/blobs/{digest}")).await.body,
        data
    );
}

/// `berth check` re-reads every blob: a sound store passes; a blob whose bytes
/// changed on disk, or whose file is gone, fails it by name.
async fn check_finds_changed_and_missing_blobs(app: TestApp) {
    app.create_repo("checked").await;
    let mut digests = Vec::new();
    for size in [10, 4096, 3 << 20] {
        digests.push(app.push_blob("checked", &random_bytes(size)).await);
    }
    let run =
        || crate::process::run_berth(app.data_dir.path(), app.database_url.as_deref(), &["check"]);
    let (code, out) = run();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("3 blobs verified, 0 corrupt, 0 missing"),
        "{out}"
    );

    let path = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        app.data_dir
            .path()
            .join("blobs/sha256")
            .join(&hex[..2])
            .join(hex)
    };
    let mut bytes = std::fs::read(path(&digests[1])).expect("blob");
    bytes[100] ^= 0xff;
    std::fs::write(path(&digests[1]), bytes).expect("corrupt");
    std::fs::remove_file(path(&digests[2])).expect("remove");
    let (code, out) = run();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("CORRUPT {}", digests[1])), "{out}");
    assert!(out.contains(&format!("MISSING {}", digests[2])), "{out}");
    assert!(
        out.contains("1 blobs verified, 1 corrupt, 1 missing"),
        "{out}"
    );
}

/// A full disk under the blob store (metadata on Postgres, which has room): every
/// upload path answers 507 with nothing stored, no part of it left behind and the
/// session where it was; once space is free the same uploads succeed, and every
/// stored blob hashes to its name. (The defect: a 201 for a blob stored as zeros.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_stores_nothing_and_recovers() {
    let Some(disk) = crate::small_disk::SmallDisk::mount(16 * 1024 * 1024) else {
        return;
    };
    let data_dir = tempfile::tempdir_in(disk.path()).expect("data dir");
    let database = crate::helpers::fresh_postgres_database().await;
    let app = crate::helpers::spawn_app_on(
        crate::helpers::Backend::Postgres,
        data_dir,
        Some(database),
        |_| {},
    )
    .await;
    app.create_repo("full").await;
    let reg = Registry::login(&app).await;
    let layer = random_bytes(64 * 1024);
    let digest = sha256(&layer);
    let session = reg.start_upload("full").await;

    disk.fill(4096);
    reg.post_blob("full", &digest, &layer)
        .await
        .assert_error(507, "UNAVAILABLE");
    reg.patch(&session, None, &layer)
        .await
        .assert_error(507, "UNAVAILABLE");
    let status = reg.get(&session).await;
    assert_eq!((status.status, status.header("range")), (204, Some("0-0")));
    assert_eq!(upload_area(&app, &session), 0, "a part's bytes remain");
    let id = initiate_upload(&app.ecr, "full").await;
    let err = upload_part(&app.ecr, "full", &id, 0, &layer)
        .await
        .expect_err("no room for the part");
    let raw = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw, Some(507), "{err:?}");
    assert_eq!(
        reg.head(&format!("/v2/full/blobs/{digest}")).await.status,
        404,
        "nothing became visible"
    );

    disk.free();
    assert_eq!(reg.patch(&session, None, &layer).await.status, 202);
    let done = reg.put(&format!("{session}?digest={digest}"), b"").await;
    assert_eq!(done.status, 201, "{}", done.text());
    assert_eq!(
        reg.push_blob("full", b"after the fault").await,
        sha256(b"after the fault")
    );
    assert_eq!(
        sha256(&reg.get(&format!("/v2/full/blobs/{digest}")).await.body),
        digest
    );
    let wrong = blobs_not_matching_their_names(app.data_dir.path(), 2);
    assert!(wrong.is_empty(), "{wrong:?}");
}
