//! The download listener (`--download-listen`): GetDownloadUrlForLayer's URLs and, with
//! `--blob-redirect`, the registry API's blob GETs are served there, a blob file's bytes
//! sent by sendfile.

use std::io::{Read as _, Write as _};

use crate::both_stores;
use crate::fixtures::{
    layer_download_url, put_image, random_bytes, Descriptor, Manifest, OCI_CONFIG, OCI_LAYER,
    OCI_MANIFEST,
};
use crate::helpers::{sha256, spawn_app_with, Backend, TestApp};
use crate::registry_clients::{assert_pulled, oci_layout, skopeo_copy};

both_stores!(with super::downloading: downloads_are_served_by_the_download_listener);

/// A berth with the download listener on a free port, blob GETs redirected to it.
async fn downloading(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.download_listen = Some("127.0.0.1:0".into());
        c.blob_redirect = true;
    })
    .await
}

/// A client that shows redirects instead of following them.
fn unfollowing() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn downloads_are_served_by_the_download_listener(app: TestApp) {
    app.create_repo("dl").await;
    // Larger than one sendfile call moves (4 MiB), and not a multiple of a page.
    let layer = random_bytes(9 * 1024 * 1024 + 123);
    let digest = app.push_blob("dl", &layer).await;
    let config = app.push_blob("dl", b"{}").await;
    let manifest = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_CONFIG, &config, 2),
        [Descriptor::new(OCI_LAYER, &digest, layer.len())],
    )
    .to_string();
    put_image(&app.ecr, "dl", &manifest, Some("v1"))
        .await
        .expect("put image");

    // GetDownloadUrlForLayer's URL is on the download listener.
    let url = layer_download_url(&app.ecr, "dl", &digest).await;
    assert!(!url.starts_with(&app.url), "{url} is not the main listener");
    let base = url
        .split("/_berth/download/")
        .next()
        .expect("a download path")
        .to_owned();
    let got = reqwest::get(&url).await.expect("download");
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.headers()["content-length"],
        layer.len().to_string().as_str()
    );
    let body = got.bytes().await.expect("body");
    assert_eq!(sha256(&body), digest, "the bytes behind the digest");

    // The registry API's blob GET redirects there; a ranged GET berth answers itself.
    let v2 = format!("{}/v2/dl/blobs/{digest}", app.url);
    let password = app.registry_password().await;
    let redirected = unfollowing()
        .get(&v2)
        .basic_auth("AWS", Some(&password))
        .send()
        .await
        .expect("blob GET");
    assert_eq!(redirected.status(), 307);
    let location = redirected.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with(&format!("{base}/_berth/download/")),
        "{location}"
    );
    let ranged = unfollowing()
        .get(&v2)
        .basic_auth("AWS", Some(&password))
        .header("Range", "bytes=10-19")
        .send()
        .await
        .expect("ranged GET");
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.expect("body")[..], layer[10..20]);

    // One connection carries several requests: a HEAD (no body), then a GET.
    let path = location.strip_prefix(&base).expect("on the listener");
    let host = base.strip_prefix("http://").expect("http");
    let mut socket = std::net::TcpStream::connect(host).expect("connect");
    write!(socket, "HEAD {path} HTTP/1.1\r\nhost: {host}\r\n\r\n").expect("HEAD");
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )
    .expect("GET");
    let mut both = Vec::new();
    socket.read_to_end(&mut both).expect("answers");
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n",
        layer.len()
    );
    assert!(
        both.starts_with(head.as_bytes()),
        "{}",
        String::from_utf8_lossy(&both[..200])
    );
    let second = head.clone() + "connection: close\r\n\r\n";
    let at = both
        .windows(second.len())
        .position(|w| w == second.as_bytes())
        .expect("a second answer");
    assert_eq!(at, head.len() + 2, "the HEAD had no body");
    assert!(both[at + second.len()..] == layer[..], "the GET's body");

    // Anything else is refused without a byte of a blob.
    let (prefix, token) = url.rsplit_once('/').expect("token");
    let mut flipped = token.as_bytes().to_vec();
    let last = flipped.len() - 3;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{prefix}/{}", String::from_utf8(flipped).expect("ascii"));
    let client = reqwest::Client::new();
    for (request, status) in [
        (client.get(&flipped), 403),
        (client.get(format!("{base}/v2/dl/blobs/{digest}")), 404),
        (client.get(format!("{base}/_berth/download/")), 404),
        (client.delete(&url), 405),
        (client.post(&url).body("x"), 400),
    ] {
        let answer = request.send().await.expect("request");
        assert_eq!(answer.status(), status);
        assert!(answer.bytes().await.expect("body").len() < 100);
    }
    let mut socket = std::net::TcpStream::connect(host).expect("connect");
    socket.write_all(b"not http at all\r\n\r\n").expect("write");
    let mut answer = String::new();
    socket
        .read_to_string(&mut answer)
        .expect("answer, then close");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");

    // The URL stops working once the blob leaves the repository.
    app.ecr
        .batch_delete_image()
        .repository_name("dl")
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag("v1")
                .build(),
        )
        .send()
        .await
        .expect("delete");
    let resp = unfollowing()
        .delete(format!("{}/v2/dl/blobs/{digest}", app.url))
        .basic_auth("AWS", Some(&password))
        .send()
        .await
        .expect("blob DELETE");
    assert_eq!(resp.status(), 202);
    assert_eq!(reqwest::get(&url).await.expect("download").status(), 403);
}

/// skopeo follows the registry's redirects to the download listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pulls_through_the_download_listener() {
    let app = downloading(Backend::Sqlite).await;
    app.create_repo("clients/redirected").await;
    let creds = format!("AWS:{}", app.registry_password().await);
    let dir = tempfile::tempdir().expect("temp dir");
    let (src, back) = (dir.path().join("src"), dir.path().join("back"));
    let (digest, _) = oci_layout(&src, "v1", 7);
    let image = format!("docker://127.0.0.1:{}/clients/redirected:v1", app.port);
    let (src_ref, back_ref) = (
        format!("oci:{}:v1", src.display()),
        format!("oci:{}:v1", back.display()),
    );
    let (ok, err) = skopeo_copy(&creds, &src_ref, &image).await;
    assert!(ok, "skopeo push failed: {err}");
    let (ok, err) = skopeo_copy(&creds, &image, &back_ref).await;
    assert!(ok, "skopeo pull failed: {err}");
    let manifest = std::fs::read_to_string(
        src.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .expect("manifest");
    assert_pulled(&back, &manifest, &digest);
    let served = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let downloads = served
        .lines()
        .find(|l| {
            l.starts_with("berth_requests_total")
                && l.contains("operation=\"download\"")
                && l.contains("method=\"GET\"")
        })
        .unwrap_or_else(|| panic!("downloads counted:\n{served}"));
    assert!(!downloads.ends_with(" 0"), "{downloads}");
}
