//! The registry face (`/v2/`, Docker Registry HTTP API V2 / OCI distribution 1.1):
//! raw HTTP against the real server, every endpoint and its errors.

use aws_sdk_ecr::types::ImageTagMutability;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha512};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixtures::{
    batch_get_image, by_digest, by_tag, describe_image, random_bytes, Descriptor, Manifest,
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER,
    OCI_MANIFEST,
};
use crate::helpers::{
    postgres_admin_url, sha256, spawn_app_on, spawn_app_with, sqlite_write_lock,
    test_database_name, Backend, TestApp, ACCESS_KEY, ALIAS, SECRET_KEY,
};
use crate::oci_client::{basic, login, password_of, Registry};
use crate::{both_stores, one_store};

// In front of the store: authentication and path parsing.
one_store!(base_endpoint_authentication, malformed_paths_and_methods);

both_stores!(
    expired_and_tampered_tokens,
    tokens_hold_only_while_their_credential_does,
    open_mode,
    monolithic_blob_upload_head_get,
    blob_ranges,
    blob_unknown_delete_and_isolation,
    sha512_blobs_and_manifests,
    chunked_upload_session,
    upload_session_errors,
    cross_repository_mount,
    mount_without_from,
    manifest_put_get_head,
    manifest_put_errors,
    manifest_put_idempotent_and_immutable_tags,
    index_manifests,
    manifest_delete,
    subject_and_referrers,
    pull_time_recorded_by_get_not_head,
    pulls_do_not_wait_for_their_pull_time,
    tags_list_paging,
    catalog_paging,
    listings_in_byte_order,
    cross_face_images,
);

// ---------------------------------------------------------------------------------
// Helpers local to this module.

fn sha512(bytes: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(bytes)))
}

/// The registry's signing key, read straight from its metadata store.
pub(crate) async fn signing_key(app: &TestApp) -> Vec<u8> {
    let value: String = app
        .store_scalar("SELECT value FROM settings WHERE key = 'signing_key'")
        .await;
    hex::decode(value).expect("hex key")
}

/// Seals a payload the way the registry's signer does.
pub(crate) fn seal(key: &[u8], purpose: &str, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(payload);
    let tag = mac.finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// A registry password that claims what the `genuine` one does, but expires at
/// `expires` (Unix seconds), sealed with `key`.
fn forged_password(key: &[u8], genuine: &str, expires: i64) -> String {
    let (payload, _) = genuine.split_once('.').expect("payload.tag");
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json");
    claims["e"] = json!(expires);
    seal(key, "registry-password", claims.to_string().as_bytes())
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Sends a request line verbatim (no URL normalisation), for paths with `..`.
async fn raw_request(app: &TestApp, method: &str, path: &str, auth: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
        app.port
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line in {text}"));
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    assert!(
        head.to_ascii_lowercase()
            .contains("docker-distribution-api-version: registry/2.0"),
        "API version header: {head}"
    );
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, body)
}

/// Follows `Link: <...>; rel="next"` from `first`, returning each page's items.
async fn walk(reg: &Registry, first: &str, key: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next.take() {
        let r = reg.get(&path).await;
        assert_eq!(r.status, 200, "page {path}: {}", r.text());
        let items: Vec<String> = r.json()[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {}", r.text()))
            .iter()
            .map(|v| v.as_str().expect("string").to_owned())
            .collect();
        if let Some(link) = r.header("link") {
            let target = link
                .strip_prefix('<')
                .and_then(|l| l.split_once('>'))
                .filter(|(_, rest)| rest.trim() == "; rel=\"next\"")
                .map(|(t, _)| t.to_owned())
                .unwrap_or_else(|| panic!("Link form: {link}"));
            next = Some(target);
        }
        pages.push(items);
        assert!(pages.len() < 50, "paging terminates");
    }
    pages
}

// ---------------------------------------------------------------------------------
// Authentication.

async fn base_endpoint_authentication(app: TestApp) {
    let anonymous = Registry::with_auth(&app, None);
    let r = anonymous.get("/v2/").await;
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"berth\""));
    let r = anonymous.get("/v2").await;
    r.assert_error(401, "UNAUTHORIZED");
    // Every endpoint asks for credentials before anything else.
    app.create_repo("auth/repo").await;
    for path in [
        "/v2/auth/repo/tags/list",
        "/v2/auth/repo/manifests/latest",
        "/v2/_catalog",
        "/v2/no/such/tags/list",
    ] {
        let r = anonymous.get(path).await;
        r.assert_error(401, "UNAUTHORIZED");
        assert!(r.header("www-authenticate").is_some(), "{path}");
    }
    let r = anonymous
        .send(anonymous.request(Method::POST, "/v2/auth/repo/blobs/uploads/"))
        .await;
    r.assert_error(401, "UNAUTHORIZED");

    let good = login(&app).await;
    let reg = Registry::with_auth(&app, Some(good.clone()));
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({}));
    assert_eq!(reg.head("/v2/").await.status, 200);
    assert_eq!(reg.get("/v2").await.status, 200);
    // The scheme's name is case-insensitive, as HTTP says.
    for scheme in ["basic", "BASIC", "bAsIc"] {
        let auth = good.replacen("Basic", scheme, 1);
        let r = Registry::with_auth(&app, Some(auth)).get("/v2/").await;
        assert_eq!(r.status, 200, "{scheme}: {}", r.text());
    }

    let password = password_of(&good);
    let bad = [
        basic("AWS", "not-a-token"),
        basic("AWS", &format!("{password}x")),
        basic("AWS", ""),
        basic("bob", &password),
        basic("aws", &password),
        format!("Basic {}", STANDARD.encode("AWS")),
        "Basic !!!not-base64!!!".to_owned(),
        "Basic".to_owned(),
        format!("Bearer {password}"),
        "garbage".to_owned(),
        good.replacen("Basic ", "Digest ", 1),
    ];
    for auth in bad {
        let r = Registry::with_auth(&app, Some(auth.clone()))
            .get("/v2/")
            .await;
        r.assert_error(401, "UNAUTHORIZED");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"berth\""),
            "{auth}"
        );
    }
}

async fn expired_and_tampered_tokens(app: TestApp) {
    let key = signing_key(&app).await;
    let account = crate::helpers::ACCOUNT;
    let good = password_of(&login(&app).await);

    // The forging is right: a password sealed with the key and a future expiry works.
    let fresh = forged_password(&key, &good, unix_now() + 3600);
    let r = Registry::with_auth(&app, Some(basic("AWS", &fresh)))
        .get("/v2/")
        .await;
    assert_eq!(r.status, 200, "a correctly sealed password: {}", r.text());

    let expired = forged_password(&key, &good, unix_now() - 60);
    let reg = Registry::with_auth(&app, Some(basic("AWS", &expired)));
    reg.get("/v2/").await.assert_error(403, "DENIED");
    app.create_repo("expired/repo").await;
    reg.get("/v2/expired/repo/tags/list")
        .await
        .assert_error(403, "DENIED");

    // A signature altered by one character.
    let (payload, tag) = good.split_once('.').expect("payload.tag");
    let mut tag: Vec<char> = tag.chars().collect();
    tag[0] = if tag[0] == 'A' { 'B' } else { 'A' };
    let altered = format!("{payload}.{}", tag.into_iter().collect::<String>());
    Registry::with_auth(&app, Some(basic("AWS", &altered)))
        .get("/v2/")
        .await
        .assert_error(401, "UNAUTHORIZED");

    // An extended expiry without re-signing.
    let extended =
        URL_SAFE_NO_PAD.encode(json!({"a": account, "e": unix_now() + 999_999}).to_string());
    let (_, signature) = good.split_once('.').expect("payload.tag");
    Registry::with_auth(&app, Some(basic("AWS", &format!("{extended}.{signature}"))))
        .get("/v2/")
        .await
        .assert_error(401, "UNAUTHORIZED");

    // The right key for another purpose, or another key.
    let payload = json!({"a": account, "e": unix_now() + 3600}).to_string();
    let other_purpose = seal(&key, "download", payload.as_bytes());
    Registry::with_auth(&app, Some(basic("AWS", &other_purpose)))
        .get("/v2/")
        .await
        .assert_error(401, "UNAUTHORIZED");
    let other_key = forged_password(&[7u8; 32], &good, unix_now() + 3600);
    Registry::with_auth(&app, Some(basic("AWS", &other_key)))
        .get("/v2/")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

/// Serves the same store again with other settings, as after a restart.
pub(crate) async fn restart(
    app: TestApp,
    adjust: impl FnOnce(&mut berth::config::Config),
) -> TestApp {
    // The old server keeps running in the test process; it leaves the store's
    // replicas as a stopped one would, so the new one may differ in its settings.
    app.running.leave_replicas().await.expect("leave");
    spawn_app_on(app.backend, app.data_dir, app.database_url, adjust).await
}

/// A `GET /v2/` with a registry token, on the private listener and the public one.
async fn base_status(app: &TestApp, private: &str, public: &str) -> (u16, u16) {
    let private = Registry::with_auth(app, Some(basic("AWS", private)))
        .get("/v2/")
        .await;
    let public = app
        .http
        .get(format!("{}/v2/", app.public_url))
        .basic_auth("AWS", Some(public))
        .send()
        .await
        .expect("public /v2/");
    (private.status, public.status().as_u16())
}

/// Both registries' passwords, minted with the app's SDK clients' credentials.
async fn mint(app: &TestApp) -> (String, String) {
    (app.registry_password().await, app.public_password().await)
}

/// A token is bound to the access key that minted it and that key's secret: it is
/// refused once berth runs without that key or with another secret for it, and a
/// token minted in open mode is refused once credentials are configured.
async fn tokens_hold_only_while_their_credential_does(app: TestApp) {
    let (private, public) = mint(&app).await;
    assert_eq!(base_status(&app, &private, &public).await, (200, 200));

    // Only another key is configured now.
    let app = restart(app, |c| {
        c.access_key_id = Some("AKIDSOMEONEELSE".into());
        c.secret_access_key = Some("another-secret".into());
    })
    .await;
    assert_eq!(base_status(&app, &private, &public).await, (401, 401));
    let r = Registry::with_auth(&app, Some(basic("AWS", &private)))
        .get("/v2/")
        .await;
    r.assert_error(401, "UNAUTHORIZED");
    assert!(r.text().contains("no longer configured"), "{}", r.text());

    // The same key with a new secret.
    let app = restart(app, |c| {
        c.secret_access_key = Some("rotated-secret".into());
    })
    .await;
    assert_eq!(base_status(&app, &private, &public).await, (401, 401));

    // The key as it was: its tokens hold again.
    let app = restart(app, |_| {}).await;
    assert_eq!(base_status(&app, &private, &public).await, (200, 200));

    // Open mode lets every caller in, so it takes every token it minted; a token
    // minted there names no key...
    let app = restart(app, |c| {
        c.access_key_id = None;
        c.secret_access_key = None;
    })
    .await;
    assert_eq!(base_status(&app, &private, &public).await, (200, 200));
    let (open_private, open_public) = mint(&app).await;
    assert_eq!(
        base_status(&app, &open_private, &open_public).await,
        (200, 200)
    );
    // ...and is refused once credentials are configured.
    let app = restart(app, |c| {
        c.access_key_id = Some(ACCESS_KEY.into());
        c.secret_access_key = Some(SECRET_KEY.into());
    })
    .await;
    assert_eq!(
        base_status(&app, &open_private, &open_public).await,
        (401, 401)
    );
    assert_eq!(base_status(&app, &private, &public).await, (200, 200));
}

async fn open_mode(app: TestApp) {
    let open = spawn_app_with(app.backend, |c| {
        c.access_key_id = None;
        c.secret_access_key = None;
    })
    .await;
    let anonymous = Registry::with_auth(&open, None);
    let r = anonymous.get("/v2/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("www-authenticate").is_none());

    open.create_repo("open/repo").await;
    let (manifest, digest) = anonymous.push_image("open/repo", "v1").await;
    let r = anonymous.get("/v2/open/repo/manifests/v1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, manifest.as_bytes());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let r = anonymous.get("/v2/_catalog").await;
    assert_eq!(r.json()["repositories"], json!(["open/repo"]));

    // A credential that is presented must still be valid.
    for auth in [
        basic("AWS", "wrong"),
        basic("bob", "x"),
        "garbage".to_owned(),
    ] {
        let r = Registry::with_auth(&open, Some(auth)).get("/v2/").await;
        r.assert_error(401, "UNAUTHORIZED");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"berth\""));
    }
    let reg = Registry::login(&open).await;
    assert_eq!(reg.get("/v2/open/repo/manifests/v1").await.status, 200);

    // The strict app next to it still refuses anonymous callers.
    Registry::with_auth(&app, None)
        .get("/v2/")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

// ---------------------------------------------------------------------------------
// Blobs.

async fn monolithic_blob_upload_head_get(app: TestApp) {
    app.create_repo("blobs/mono").await;
    let reg = Registry::login(&app).await;
    let bytes = random_bytes(3000);
    let digest = sha256(&bytes);
    let r = reg.post_blob("blobs/mono", &digest, &bytes).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let location = r.header("location").expect("location").to_owned();
    assert_eq!(location, format!("/v2/blobs/mono/blobs/{digest}"));

    let r = reg.head(&location).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("3000"));
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

    let r = reg.get(&location).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, bytes);
    assert_eq!(r.header("content-length"), Some("3000"));
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

    // An empty blob is a blob too.
    let empty = reg.push_blob("blobs/mono", b"").await;
    let r = reg.get(&format!("/v2/blobs/mono/blobs/{empty}")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("0"));

    // A monolithic upload whose bytes do not match the digest stores nothing.
    let other = random_bytes(100);
    let claimed = sha256(b"something else");
    reg.post_blob("blobs/mono", &claimed, &other)
        .await
        .assert_error(400, "DIGEST_INVALID");
    assert_eq!(
        reg.head(&format!("/v2/blobs/mono/blobs/{claimed}"))
            .await
            .status,
        404
    );
    assert_eq!(
        reg.head(&format!("/v2/blobs/mono/blobs/{}", sha256(&other)))
            .await
            .status,
        404
    );
}

async fn blob_ranges(app: TestApp) {
    app.create_repo("blobs/range").await;
    let reg = Registry::login(&app).await;
    let bytes: Vec<u8> = (0..100u8).collect();
    let digest = reg.push_blob("blobs/range", &bytes).await;
    let path = format!("/v2/blobs/range/blobs/{digest}");

    for (range, start, end) in [
        ("bytes=0-9", 0usize, 9usize),
        ("bytes=10-10", 10, 10),
        ("bytes=-10", 90, 99),
        ("bytes=5-", 5, 99),
        ("bytes=90-200", 90, 99),
        ("bytes=0-99", 0, 99),
        ("bytes=-1000", 0, 99),
    ] {
        let r = reg.get_with(&path, ("range", range)).await;
        assert_eq!(r.status, 206, "{range}: {}", r.text());
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-{end}/100").as_str()),
            "{range}"
        );
        assert_eq!(r.body, &bytes[start..=end], "{range}");
        assert_eq!(
            r.header("content-length"),
            Some((end - start + 1).to_string().as_str())
        );
    }

    for range in [
        "bytes=500-0",
        "bytes=20-10",
        "bytes=100-",
        "bytes=100-200",
        "bytes=150-160",
        "bytes=abc",
        "bytes=a-b",
        "bytes=0-1,5-6",
        "bytes=-0",
        "bytes=-",
        "items=0-1",
        "0-1",
    ] {
        let r = reg.get_with(&path, ("range", range)).await;
        assert_eq!(
            r.status,
            416,
            "{range} is refused, not truncated: {}",
            r.text()
        );
        assert_eq!(r.header("content-range"), Some("bytes */100"), "{range}");
        r.assert_error_shape();
    }
}

async fn blob_unknown_delete_and_isolation(app: TestApp) {
    app.create_repo("iso/a").await;
    app.create_repo("iso/b").await;
    let reg = Registry::login(&app).await;
    let unknown = sha256(b"never uploaded");
    reg.get(&format!("/v2/iso/a/blobs/{unknown}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    assert_eq!(
        reg.head(&format!("/v2/iso/a/blobs/{unknown}")).await.status,
        404
    );
    reg.delete(&format!("/v2/iso/a/blobs/{unknown}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");

    let bytes = random_bytes(64);
    let digest = reg.push_blob("iso/a", &bytes).await;
    assert_eq!(
        reg.get(&format!("/v2/iso/a/blobs/{digest}")).await.body,
        bytes
    );
    // Another repository cannot see it.
    reg.get(&format!("/v2/iso/b/blobs/{digest}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    assert_eq!(
        reg.head(&format!("/v2/iso/b/blobs/{digest}")).await.status,
        404
    );
    reg.delete(&format!("/v2/iso/b/blobs/{digest}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    reg.get(&format!("/v2/iso/none/blobs/{digest}"))
        .await
        .assert_error(404, "NAME_UNKNOWN");

    let r = reg.delete(&format!("/v2/iso/a/blobs/{digest}")).await;
    assert_eq!(r.status, 202, "{}", r.text());
    reg.get(&format!("/v2/iso/a/blobs/{digest}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    assert_eq!(
        reg.head(&format!("/v2/iso/a/blobs/{digest}")).await.status,
        404
    );
    reg.delete(&format!("/v2/iso/a/blobs/{digest}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");

    // Uploading it again brings it back.
    reg.push_blob("iso/a", &bytes).await;
    assert_eq!(
        reg.get(&format!("/v2/iso/a/blobs/{digest}")).await.body,
        bytes
    );
}

async fn sha512_blobs_and_manifests(app: TestApp) {
    app.create_repo("sha/five12").await;
    let reg = Registry::login(&app).await;

    // Monolithic.
    let layer = random_bytes(2048);
    let layer_digest = sha512(&layer);
    let r = reg.post_blob("sha/five12", &layer_digest, &layer).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(layer_digest.as_str())
    );
    let r = reg
        .get(&format!("/v2/sha/five12/blobs/{layer_digest}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, layer);
    assert_eq!(
        r.header("docker-content-digest"),
        Some(layer_digest.as_str())
    );
    // The sha256 name of the same bytes was never uploaded.
    assert_eq!(
        reg.head(&format!("/v2/sha/five12/blobs/{}", sha256(&layer)))
            .await
            .status,
        404
    );

    // Chunked, finished with a sha512 digest; a wrong one is refused.
    let config = json!({"architecture": "arm64", "os": "linux"}).to_string();
    let config_digest = sha512(config.as_bytes());
    let location = reg.start_upload("sha/five12").await;
    let (first, rest) = config.as_bytes().split_at(10);
    assert_eq!(reg.patch(&location, None, first).await.status, 202);
    let wrong = sha512(b"other");
    reg.put(&format!("{location}?digest={wrong}"), rest)
        .await
        .assert_error(400, "DIGEST_INVALID");
    let location = reg.start_upload("sha/five12").await;
    assert_eq!(reg.patch(&location, None, first).await.status, 202);
    let r = reg
        .put(&format!("{location}?digest={config_digest}"), rest)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        reg.get(&format!("/v2/sha/five12/blobs/{config_digest}"))
            .await
            .body,
        config.as_bytes()
    );

    // A manifest naming sha512 blobs, put under its sha512 digest.
    let manifest = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_CONFIG, &config_digest, config.len()),
        [Descriptor::new(OCI_LAYER, &layer_digest, layer.len())],
    )
    .to_string();
    let digest = sha512(manifest.as_bytes());
    let r = reg
        .put_manifest("sha/five12", &digest, OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/sha/five12/manifests/{digest}").as_str())
    );
    let r = reg.get(&format!("/v2/sha/five12/manifests/{digest}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, manifest.as_bytes());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
    let r = reg
        .head(&format!("/v2/sha/five12/manifests/{digest}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

    // A sha512 name that does not match the bytes.
    let other = sha512(b"not the manifest");
    reg.put_manifest("sha/five12", &other, OCI_MANIFEST, manifest.as_bytes())
        .await
        .assert_error(400, "DIGEST_INVALID");
}

// ---------------------------------------------------------------------------------
// Upload sessions.

async fn chunked_upload_session(app: TestApp) {
    app.create_repo("up/chunks").await;
    let reg = Registry::login(&app).await;
    let r = reg.call(Method::POST, "/v2/up/chunks/blobs/uploads/").await;
    assert_eq!(r.status, 202, "{}", r.text());
    let location = r.header("location").expect("location").to_owned();
    let uuid = r.header("docker-upload-uuid").expect("uuid").to_owned();
    assert!(
        location.starts_with("/v2/up/chunks/blobs/uploads/") && location.contains(&uuid),
        "{location}"
    );
    assert_eq!(r.header("range"), Some("0-0"));
    assert_eq!(r.header("content-length"), Some("0"));
    // Without the trailing slash too.
    assert_eq!(
        reg.call(Method::POST, "/v2/up/chunks/blobs/uploads")
            .await
            .status,
        202
    );

    let r = reg.get(&location).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-0"));
    assert_eq!(r.header("docker-upload-uuid"), Some(uuid.as_str()));
    assert!(r.header("location").is_some());

    let data = random_bytes(45);
    let r = reg.patch(&location, Some("0-9"), &data[..10]).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-9"));
    assert_eq!(r.header("docker-upload-uuid"), Some(uuid.as_str()));
    let location = r.header("location").expect("location").to_owned();

    let r = reg.patch(&location, None, &data[10..20]).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-19"));

    let r = reg.get(&location).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("range"), Some("0-19"));

    // Out of order: a gap, and an overlap. The session keeps what it had.
    for range in ["25-29", "10-19", "0-4", "20-10", "abc", "20"] {
        let r = reg.patch(&location, Some(range), &data[20..25]).await;
        assert_eq!(r.status, 416, "{range}: {}", r.text());
        r.assert_error_shape();
    }
    let r = reg.get(&location).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("range"), Some("0-19"));

    let r = reg.patch(&location, Some("20-29"), &data[20..30]).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-29"));

    // The last chunk travels with the PUT.
    let digest = sha256(&data);
    let r = reg
        .put(&format!("{location}?digest={digest}"), &data[30..])
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/up/chunks/blobs/{digest}").as_str())
    );
    let r = reg.get(&format!("/v2/up/chunks/blobs/{digest}")).await;
    assert_eq!(r.body, data);

    // The session is closed.
    reg.get(&location)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");

    // docker's flow: PATCH everything, then an empty PUT.
    let data = random_bytes(7000);
    let location = reg.start_upload("up/chunks").await;
    let r = reg.patch(&location, None, &data).await;
    assert_eq!(r.header("range"), Some("0-6999"));
    let digest = sha256(&data);
    let r = reg.put(&format!("{location}?digest={digest}"), b"").await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        reg.get(&format!("/v2/up/chunks/blobs/{digest}")).await.body,
        data
    );

    // Or everything in the PUT.
    let data = random_bytes(300);
    let location = reg.start_upload("up/chunks").await;
    let digest = sha256(&data);
    let r = reg.put(&format!("{location}?digest={digest}"), &data).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        reg.get(&format!("/v2/up/chunks/blobs/{digest}")).await.body,
        data
    );
}

async fn upload_session_errors(app: TestApp) {
    app.create_repo("up/errors").await;
    app.create_repo("up/other").await;
    let reg = Registry::login(&app).await;
    let data = random_bytes(100);
    let digest = sha256(&data);

    // Wrong digest.
    let location = reg.start_upload("up/errors").await;
    reg.patch(&location, None, &data).await;
    let wrong = sha256(b"wrong");
    reg.put(&format!("{location}?digest={wrong}"), b"")
        .await
        .assert_error(400, "DIGEST_INVALID");
    // The mismatched session is abandoned, bytes and all.
    reg.get(&location)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    for d in [&wrong, &digest] {
        assert_eq!(
            reg.head(&format!("/v2/up/errors/blobs/{d}")).await.status,
            404
        );
    }

    // No digest, or a malformed one.
    let location = reg.start_upload("up/errors").await;
    reg.patch(&location, None, &data).await;
    reg.put(&location, b"")
        .await
        .assert_error(400, "DIGEST_INVALID");
    reg.put(&format!("{location}?digest=sha256:xyz"), b"")
        .await
        .assert_error(400, "DIGEST_INVALID");
    assert_eq!(
        reg.head(&format!("/v2/up/errors/blobs/{digest}"))
            .await
            .status,
        404
    );

    // Cancelled.
    let location = reg.start_upload("up/errors").await;
    reg.patch(&location, None, &data).await;
    let r = reg.delete(&location).await;
    assert_eq!(r.status, 204, "{}", r.text());
    reg.get(&location)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.patch(&location, None, &data)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.put(&format!("{location}?digest={digest}"), b"")
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.delete(&location)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(
        reg.head(&format!("/v2/up/errors/blobs/{digest}"))
            .await
            .status,
        404
    );

    // Unknown and garbage ids.
    for id in [
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".to_owned(),
        "0".to_owned(),
        uuid::Uuid::new_v4().simple().to_string(),
        uuid::Uuid::new_v4().to_string().to_uppercase(),
    ] {
        let location = format!("/v2/up/errors/blobs/uploads/{id}");
        reg.get(&location)
            .await
            .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
        reg.patch(&location, None, b"abc")
            .await
            .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
        reg.put(&format!("{location}?digest={digest}"), b"")
            .await
            .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
        reg.delete(&location)
            .await
            .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    }

    // A session belongs to its repository.
    let location = reg.start_upload("up/errors").await;
    let elsewhere = location.replace("/v2/up/errors/", "/v2/up/other/");
    reg.get(&elsewhere)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.patch(&elsewhere, None, &data)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.put(&format!("{elsewhere}?digest={digest}"), &data)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.delete(&elsewhere)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    let r = reg.get(&location).await;
    assert_eq!(r.status, 204, "still open in its own repository");
    assert_eq!(r.header("range"), Some("0-0"));

    // A repository that does not exist is refused at the first request.
    reg.call(Method::POST, "/v2/up/missing/blobs/uploads/")
        .await
        .assert_error(404, "NAME_UNKNOWN");
    reg.post_blob("up/missing", &digest, &data)
        .await
        .assert_error(404, "NAME_UNKNOWN");
    reg.call(
        Method::POST,
        &format!("/v2/up/missing/blobs/uploads/?mount={digest}&from=up/errors"),
    )
    .await
    .assert_error(404, "NAME_UNKNOWN");
}

async fn cross_repository_mount(app: TestApp) {
    app.create_repo("mount/source").await;
    app.create_repo("mount/target").await;
    app.create_repo("mount/empty").await;
    app.enable_blob_mounting().await;
    let reg = Registry::login(&app).await;
    let bytes = random_bytes(512);
    let digest = reg.push_blob("mount/source", &bytes).await;

    reg.get(&format!("/v2/mount/target/blobs/{digest}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    let r = reg
        .call(
            Method::POST,
            &format!("/v2/mount/target/blobs/uploads/?mount={digest}&from=mount/source"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/mount/target/blobs/{digest}").as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let r = reg.get(&format!("/v2/mount/target/blobs/{digest}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, bytes);

    // The source lacks it, does not exist, or is not a name: an ordinary session.
    for from in ["mount/empty", "mount/nowhere", "Not..Valid"] {
        let r = reg
            .call(
                Method::POST,
                &format!("/v2/mount/empty/blobs/uploads/?mount={digest}&from={from}"),
            )
            .await;
        assert_eq!(r.status, 202, "from {from}: {}", r.text());
        let location = r.header("location").expect("location").to_owned();
        assert!(r.header("docker-upload-uuid").is_some());
        assert_eq!(r.header("range"), Some("0-0"));
        let s = reg.get(&location).await;
        assert_eq!(s.status, 204, "the session exists");
    }
    reg.get(&format!("/v2/mount/empty/blobs/{digest}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");

    // The session a failed mount opened takes the upload.
    let r = reg
        .call(
            Method::POST,
            &format!("/v2/mount/empty/blobs/uploads/?mount={digest}&from=mount/empty"),
        )
        .await;
    let location = r.header("location").expect("location").to_owned();
    let r = reg
        .put(&format!("{location}?digest={digest}"), &bytes)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        reg.get(&format!("/v2/mount/empty/blobs/{digest}"))
            .await
            .body,
        bytes
    );

    // Mounting what the target already has is still a success.
    let r = reg
        .call(
            Method::POST,
            &format!("/v2/mount/target/blobs/uploads/?mount={digest}&from=mount/source"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
}

/// `?mount=` without `from` (the OCI spec's anonymous mount): any repository of the
/// caller's registry that holds the blob will do; when none does, not even one of the
/// account's other registry, it is an ordinary upload session.
async fn mount_without_from(app: TestApp) {
    app.create_repo("anymount/source").await;
    app.create_repo("anymount/target").await;
    app.create_public("anymount/public").await;
    app.enable_blob_mounting().await;
    let reg = Registry::login(&app).await;
    let bytes = random_bytes(700);
    let digest = reg.push_blob("anymount/source", &bytes).await;
    let mount = |repo: &str, digest: &str| format!("/v2/{repo}/blobs/uploads/?mount={digest}");

    let r = reg
        .call(Method::POST, &mount("anymount/target", &digest))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/anymount/target/blobs/{digest}").as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let r = reg
        .get(&format!("/v2/anymount/target/blobs/{digest}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, bytes);
    // Mounting what the target already has is still a success.
    let r = reg
        .call(Method::POST, &mount("anymount/target", &digest))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // Held by no repository, or only by the public registry's: a session.
    let public_only = app
        .push_public_blob("anymount/public", &random_bytes(300), None)
        .await;
    let nowhere = sha256(b"held by no repository");
    for digest in [&public_only, &nowhere] {
        let r = reg
            .call(Method::POST, &mount("anymount/target", digest))
            .await;
        assert_eq!(r.status, 202, "{digest}: {}", r.text());
        let location = r.header("location").expect("location").to_owned();
        assert_eq!(reg.get(&location).await.status, 204, "the session exists");
        reg.get(&format!("/v2/anymount/target/blobs/{digest}"))
            .await
            .assert_error(404, "BLOB_UNKNOWN");
    }
    // Nor does the public registry mount the private registry's blobs.
    let public = Registry::at(
        &app.public_url,
        &app,
        Some(basic("AWS", &app.public_password().await)),
    );
    let r = public
        .call(
            Method::POST,
            &mount(&format!("{ALIAS}/anymount/public"), &digest),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let r = public
        .call(
            Method::POST,
            &mount(&format!("{ALIAS}/anymount/public"), &public_only),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());

    reg.call(Method::POST, &mount("anymount/target", "sha256:nothex"))
        .await
        .assert_error(400, "DIGEST_INVALID");
}

// ---------------------------------------------------------------------------------
// Manifests.

async fn manifest_put_get_head(app: TestApp) {
    app.create_repo("man/basic").await;
    let reg = Registry::login(&app).await;
    let (manifest, _) = reg.image_manifest("man/basic", 2).await;
    // Unusual formatting: the bytes, not a re-serialisation, are what is stored.
    let value: Value = serde_json::from_str(&manifest).expect("json");
    let pretty = format!(
        "{}\n\n",
        serde_json::to_string_pretty(&value).expect("pretty")
    );
    let digest = sha256(pretty.as_bytes());

    let r = reg
        .put_manifest("man/basic", "v1", OCI_MANIFEST, pretty.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/man/basic/manifests/{digest}").as_str())
    );
    assert!(r.header("oci-subject").is_none());

    for reference in ["v1", digest.as_str()] {
        let path = format!("/v2/man/basic/manifests/{reference}");
        let r = reg.get(&path).await;
        assert_eq!(r.status, 200, "{reference}: {}", r.text());
        assert_eq!(r.body, pretty.as_bytes(), "{reference}");
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        let h = reg.head(&path).await;
        assert_eq!(h.status, 200);
        assert_eq!(h.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(h.header("docker-content-digest"), Some(digest.as_str()));
        assert_eq!(
            h.header("content-length"),
            Some(pretty.len().to_string().as_str())
        );
    }

    // A Docker schema 2 manifest keeps its media type, which the body need not repeat.
    let config = b"{\"os\":\"linux\",\"architecture\":\"amd64\"}";
    let config_digest = reg.push_blob("man/basic", config).await;
    let layer = random_bytes(800);
    let layer_digest = reg.push_blob("man/basic", &layer).await;
    let docker = Manifest::image(
        DOCKER_MANIFEST,
        Descriptor::new(DOCKER_CONFIG, &config_digest, config.len()),
        [Descriptor::new(DOCKER_LAYER, &layer_digest, layer.len())],
    )
    .to_string();
    let r = reg
        .put_manifest("man/basic", "docker", DOCKER_MANIFEST, docker.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = reg.get("/v2/man/basic/manifests/docker").await;
    assert_eq!(r.header("content-type"), Some(DOCKER_MANIFEST));
    assert_eq!(r.body, docker.as_bytes());

    let bare = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new(OCI_CONFIG, &config_digest, config.len()),
        [Descriptor::new(OCI_LAYER, &layer_digest, layer.len())],
    )
    .without_media_type()
    .to_string();
    let r = reg
        .put_manifest("man/basic", "bare", OCI_MANIFEST, bare.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = reg.get("/v2/man/basic/manifests/bare").await;
    assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));

    // Without a Content-Type the body's mediaType decides; with neither it is refused.
    let r = reg
        .send(
            reg.request(Method::PUT, "/v2/man/basic/manifests/untyped")
                .body(docker.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = reg.get("/v2/man/basic/manifests/untyped").await;
    assert_eq!(r.header("content-type"), Some(DOCKER_MANIFEST));
    reg.send(
        reg.request(Method::PUT, "/v2/man/basic/manifests/untyped2")
            .body(bare.clone()),
    )
    .await
    .assert_error(400, "MANIFEST_INVALID");

    // Unknown references.
    reg.get("/v2/man/basic/manifests/nope")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(reg.head("/v2/man/basic/manifests/nope").await.status, 404);
    reg.get(&format!("/v2/man/basic/manifests/{}", sha256(b"x")))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    reg.get("/v2/man/missing/manifests/v1")
        .await
        .assert_error(404, "NAME_UNKNOWN");
}

async fn manifest_put_errors(app: TestApp) {
    app.create_repo("man/errors").await;
    let reg = Registry::login(&app).await;
    let (manifest, _) = reg.image_manifest("man/errors", 1).await;
    let mut value: Value = serde_json::from_str(&manifest).expect("json");

    // A layer the repository does not hold.
    let mut missing = value.clone();
    missing["layers"][0]["digest"] = json!(sha256(b"absent layer"));
    reg.put_manifest(
        "man/errors",
        "v1",
        OCI_MANIFEST,
        missing.to_string().as_bytes(),
    )
    .await
    .assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    let mut missing_config = value.clone();
    missing_config["config"]["digest"] = json!(sha256(b"absent config"));
    reg.put_manifest(
        "man/errors",
        "v1",
        OCI_MANIFEST,
        missing_config.to_string().as_bytes(),
    )
    .await
    .assert_error(400, "MANIFEST_BLOB_UNKNOWN");

    // Not a manifest.
    let mut wrong_version = value.clone();
    wrong_version["schemaVersion"] = json!(1);
    let mut no_config = value.clone();
    no_config.as_object_mut().expect("object").remove("config");
    let mut bad_digest = value.clone();
    bad_digest["layers"][0]["digest"] = json!("sha256:xyz");
    let mut layers_not_list = value.clone();
    layers_not_list["layers"] = json!("nope");
    for (what, body, media_type) in [
        ("not JSON", b"{not json".to_vec(), OCI_MANIFEST),
        ("empty", Vec::new(), OCI_MANIFEST),
        ("a JSON string", b"\"manifest\"".to_vec(), OCI_MANIFEST),
        (
            "schemaVersion 1",
            wrong_version.to_string().into_bytes(),
            OCI_MANIFEST,
        ),
        (
            "no config",
            no_config.to_string().into_bytes(),
            OCI_MANIFEST,
        ),
        (
            "a bad layer digest",
            bad_digest.to_string().into_bytes(),
            OCI_MANIFEST,
        ),
        (
            "layers not a list",
            layers_not_list.to_string().into_bytes(),
            OCI_MANIFEST,
        ),
        (
            "a media type unlike the body's",
            manifest.clone().into_bytes(),
            DOCKER_MANIFEST,
        ),
        (
            "an unknown media type",
            manifest.clone().into_bytes(),
            "text/plain",
        ),
    ] {
        let r = reg
            .put_manifest("man/errors", "v1", media_type, &body)
            .await;
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        r.assert_error(400, "MANIFEST_INVALID");
    }

    // Larger than 4 MiB.
    value["annotations"] = json!({"padding": "x".repeat(4 * 1024 * 1024)});
    let big = value.to_string();
    assert!(big.len() > 4 * 1024 * 1024);
    reg.put_manifest("man/errors", "big", OCI_MANIFEST, big.as_bytes())
        .await
        .assert_error(413, "SIZE_INVALID");

    // A digest reference that does not match the bytes.
    let other = sha256(b"another manifest");
    reg.put_manifest("man/errors", &other, OCI_MANIFEST, manifest.as_bytes())
        .await
        .assert_error(400, "DIGEST_INVALID");

    // A repository that does not exist, and a tag that cannot be one.
    reg.put_manifest("man/nowhere", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await
        .assert_error(404, "NAME_UNKNOWN");
    reg.put_manifest("man/errors", "-dash", OCI_MANIFEST, manifest.as_bytes())
        .await
        .assert_error(400, "TAG_INVALID");

    // Nothing of the above was stored.
    let r = reg.get("/v2/man/errors/tags/list").await;
    assert_eq!(r.json()["tags"], json!([]));
    reg.get(&format!(
        "/v2/man/errors/manifests/{}",
        sha256(manifest.as_bytes())
    ))
    .await
    .assert_error(404, "MANIFEST_UNKNOWN");

    // The good manifest still goes in afterwards, and the pushed 4 MiB was not kept.
    let r = reg
        .put_manifest("man/errors", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    reg.get("/v2/man/errors/manifests/big")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
}

async fn manifest_put_idempotent_and_immutable_tags(app: TestApp) {
    app.create_repo("tags/mutable").await;
    app.create_repo_with("tags/immutable", ImageTagMutability::Immutable, &[])
        .await;
    let reg = Registry::login(&app).await;

    for repo in ["tags/mutable", "tags/immutable"] {
        let immutable = repo == "tags/immutable";
        let (first, _) = reg.image_manifest(repo, 1).await;
        let digest = sha256(first.as_bytes());
        let r = reg
            .put_manifest(repo, "v1", OCI_MANIFEST, first.as_bytes())
            .await;
        assert_eq!(r.status, 201, "{repo}: {}", r.text());
        // The same manifest under the same tag again: idempotent where the tag is
        // mutable; an immutable tag may not be pushed at all once it exists (ECR).
        let r = reg
            .put_manifest(repo, "v1", OCI_MANIFEST, first.as_bytes())
            .await;
        if immutable {
            r.assert_error(400, "TAG_INVALID");
        } else {
            assert_eq!(r.status, 201, "{repo}: re-put is idempotent: {}", r.text());
            assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
            assert_eq!(
                r.header("location"),
                Some(format!("/v2/{repo}/manifests/{digest}").as_str())
            );
        }
        // By digest, twice, is fine everywhere.
        for _ in 0..2 {
            let r = reg
                .put_manifest(repo, &digest, OCI_MANIFEST, first.as_bytes())
                .await;
            assert_eq!(r.status, 201, "{repo}: {}", r.text());
            assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        }

        let (second, _) = reg.image_manifest(repo, 1).await;
        let second_digest = sha256(second.as_bytes());
        let r = reg
            .put_manifest(repo, "v1", OCI_MANIFEST, second.as_bytes())
            .await;
        let now_at = if immutable {
            r.assert_error(400, "TAG_INVALID");
            &digest
        } else {
            assert_eq!(r.status, 201, "{}", r.text());
            &second_digest
        };
        let r = reg.get(&format!("/v2/{repo}/manifests/v1")).await;
        assert_eq!(
            r.header("docker-content-digest"),
            Some(now_at.as_str()),
            "{repo}"
        );
        // A new tag is always possible.
        let r = reg
            .put_manifest(repo, "v2", OCI_MANIFEST, second.as_bytes())
            .await;
        assert_eq!(r.status, 201, "{repo}: {}", r.text());
    }
}

async fn index_manifests(app: TestApp) {
    app.create_repo("man/index").await;
    let reg = Registry::login(&app).await;
    let (child, child_digest) = reg.push_image("man/index", "amd64").await;
    let index = |children: Vec<(String, usize)>| {
        let entries = children
            .into_iter()
            .map(|(d, size)| Descriptor::new(OCI_MANIFEST, &d, size).linux_amd64());
        Manifest::index(OCI_INDEX, entries).to_string()
    };
    let absent = sha256(b"absent child");
    let bad = index(vec![(child_digest.clone(), child.len()), (absent, 10)]);
    reg.put_manifest("man/index", "multi", OCI_INDEX, bad.as_bytes())
        .await
        .assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    reg.get("/v2/man/index/manifests/multi")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");

    let good = index(vec![(child_digest.clone(), child.len())]);
    let r = reg
        .put_manifest("man/index", "multi", OCI_INDEX, good.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = reg.get("/v2/man/index/manifests/multi").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, good.as_bytes());
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    let index_digest = sha256(good.as_bytes());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(index_digest.as_str())
    );

    // A child an index names cannot be deleted from under it (a conflict, not an
    // invalid manifest); the index can.
    let r = reg
        .delete(&format!("/v2/man/index/manifests/{child_digest}"))
        .await;
    r.assert_error(409, "DENIED");
    assert_eq!(
        reg.get(&format!("/v2/man/index/manifests/{child_digest}"))
            .await
            .status,
        200
    );
    let r = reg
        .delete(&format!("/v2/man/index/manifests/{index_digest}"))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let r = reg
        .delete(&format!("/v2/man/index/manifests/{child_digest}"))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    reg.get("/v2/man/index/manifests/amd64")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
}

async fn manifest_delete(app: TestApp) {
    app.create_repo("man/delete").await;
    let reg = Registry::login(&app).await;
    let (manifest, digest) = reg.push_image("man/delete", "v1").await;
    let r = reg
        .put_manifest("man/delete", "v2", OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(r.status, 201);

    let r = reg.delete("/v2/man/delete/manifests/v1").await;
    assert_eq!(r.status, 202, "{}", r.text());
    reg.get("/v2/man/delete/manifests/v1")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    let r = reg.get(&format!("/v2/man/delete/manifests/{digest}")).await;
    assert_eq!(r.status, 200, "the image stays");
    assert_eq!(r.body, manifest.as_bytes());
    assert_eq!(reg.get("/v2/man/delete/manifests/v2").await.status, 200);
    assert_eq!(
        reg.get("/v2/man/delete/tags/list").await.json()["tags"],
        json!(["v2"])
    );
    reg.delete("/v2/man/delete/manifests/v1")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");

    let r = reg
        .delete(&format!("/v2/man/delete/manifests/{digest}"))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    reg.get(&format!("/v2/man/delete/manifests/{digest}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(
        reg.head(&format!("/v2/man/delete/manifests/{digest}"))
            .await
            .status,
        404
    );
    reg.get("/v2/man/delete/manifests/v2")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(
        reg.get("/v2/man/delete/tags/list").await.json()["tags"],
        json!([])
    );
    reg.delete(&format!("/v2/man/delete/manifests/{digest}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    reg.delete("/v2/man/nowhere/manifests/v1")
        .await
        .assert_error(404, "NAME_UNKNOWN");
}

// ---------------------------------------------------------------------------------
// Referrers.

async fn subject_and_referrers(app: TestApp) {
    app.create_repo("ref/repo").await;
    let reg = Registry::login(&app).await;
    let (subject, subject_digest) = reg.push_image("ref/repo", "v1").await;
    let empty = reg.push_blob("ref/repo", b"{}").await;
    let payload = b"signature bytes".to_vec();
    let payload_digest = reg.push_blob("ref/repo", &payload).await;

    let artifact = |artifact_type: Option<&str>, config_type: &str, annotations: Value| {
        let mut m = Manifest::image(
            OCI_MANIFEST,
            Descriptor::new(config_type, &empty, 2),
            [Descriptor::new(
                "application/octet-stream",
                &payload_digest,
                payload.len(),
            )],
        )
        .subject(Descriptor::new(
            OCI_MANIFEST,
            &subject_digest,
            subject.len(),
        ));
        if let Some(t) = artifact_type {
            m = m.artifact_type(t);
        }
        if !annotations.is_null() {
            m = m.annotations(annotations);
        }
        m.to_string()
    };
    let sbom = artifact(
        Some("application/vnd.example.sbom"),
        OCI_EMPTY,
        json!({"org.example.kind": "sbom", "org.opencontainers.image.created": "2024-01-01T00:00:00Z"}),
    );
    let sig = artifact(None, "application/vnd.example.sig.v1", Value::Null);

    let mut pushed = Vec::new();
    for body in [&sbom, &sig] {
        let digest = sha256(body.as_bytes());
        let r = reg
            .put_manifest("ref/repo", &digest, OCI_MANIFEST, body.as_bytes())
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.header("oci-subject"), Some(subject_digest.as_str()));
        pushed.push(digest);
    }
    // A re-push says the same.
    let r = reg
        .put_manifest("ref/repo", &pushed[0], OCI_MANIFEST, sbom.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("oci-subject"), Some(subject_digest.as_str()));

    let r = reg
        .get(&format!("/v2/ref/repo/referrers/{subject_digest}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    assert!(r.header("oci-filters-applied").is_none());
    let index = r.json();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let mut manifests = index["manifests"].as_array().expect("manifests").clone();
    manifests.sort_by_key(|m| {
        pushed
            .iter()
            .position(|d| m["digest"] == d.as_str())
            .expect("a pushed referrer")
    });
    assert_eq!(manifests.len(), 2, "{index}");
    assert_eq!(
        manifests[0],
        json!({
            "mediaType": OCI_MANIFEST,
            "digest": pushed[0],
            "size": sbom.len(),
            "artifactType": "application/vnd.example.sbom",
            "annotations": {"org.example.kind": "sbom", "org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        })
    );
    // Without artifactType, the config's media type stands in.
    assert_eq!(
        manifests[1],
        json!({
            "mediaType": OCI_MANIFEST,
            "digest": pushed[1],
            "size": sig.len(),
            "artifactType": "application/vnd.example.sig.v1",
        })
    );

    let r = reg
        .get(&format!(
            "/v2/ref/repo/referrers/{subject_digest}?artifactType=application/vnd.example.sbom"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let listed: Vec<Value> = r.json()["manifests"].as_array().expect("list").clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["digest"], pushed[0].as_str());
    let r = reg
        .get(&format!(
            "/v2/ref/repo/referrers/{subject_digest}?artifactType=application/vnd.none"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    assert_eq!(r.json()["manifests"], json!([]));

    // An index can refer too.
    let index = Manifest::index(
        OCI_INDEX,
        [Descriptor::new(
            OCI_MANIFEST,
            &subject_digest,
            subject.len(),
        )],
    )
    .artifact_type("application/vnd.example.bundle")
    .subject(Descriptor::new(OCI_MANIFEST, &pushed[1], sig.len()))
    .annotations(json!({"k": "v"}))
    .to_string();
    let r = reg
        .put_manifest("ref/repo", "bundle", OCI_INDEX, index.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("oci-subject"), Some(pushed[1].as_str()));
    let r = reg
        .get(&format!("/v2/ref/repo/referrers/{}", pushed[1]))
        .await;
    assert_eq!(
        r.json()["manifests"],
        json!([{
            "mediaType": OCI_INDEX,
            "digest": sha256(index.as_bytes()),
            "size": index.len(),
            "artifactType": "application/vnd.example.bundle",
            "annotations": {"k": "v"},
        }])
    );

    // Nothing refers to these.
    for digest in [pushed[0].clone(), sha256(b"unknown subject")] {
        let r = reg.get(&format!("/v2/ref/repo/referrers/{digest}")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some(OCI_INDEX));
        assert_eq!(
            r.json(),
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        );
    }

    // A referrer may arrive before its subject.
    let later = sha256(b"a subject pushed later");
    let mut early: Value = serde_json::from_str(&sig).expect("json");
    early["subject"]["digest"] = json!(later);
    let early = early.to_string();
    let r = reg
        .put_manifest("ref/repo", "early", OCI_MANIFEST, early.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("oci-subject"), Some(later.as_str()));
    let r = reg.get(&format!("/v2/ref/repo/referrers/{later}")).await;
    assert_eq!(
        r.json()["manifests"][0]["digest"],
        sha256(early.as_bytes()).as_str()
    );

    for bad in [
        "sha256:xyz",
        "latest",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    ] {
        reg.get(&format!("/v2/ref/repo/referrers/{bad}"))
            .await
            .assert_error(400, "DIGEST_INVALID");
    }
    reg.get(&format!("/v2/ref/none/referrers/{subject_digest}"))
        .await
        .assert_error(404, "NAME_UNKNOWN");
    // GET on the subject shows its own bytes, no OCI-Subject.
    let r = reg.get("/v2/ref/repo/manifests/v1").await;
    assert!(r.header("oci-subject").is_none());
}

async fn pulled_at(app: &TestApp, digest: &str) -> Option<aws_smithy_types::DateTime> {
    let detail = describe_image(&app.ecr, "pull/time", by_digest(digest)).await;
    detail.last_recorded_pull_time().cloned()
}

async fn pull_time_recorded_by_get_not_head(app: TestApp) {
    app.create_repo("pull/time").await;
    let reg = Registry::login(&app).await;
    let (_, digest) = reg.push_image("pull/time", "v1").await;
    assert_eq!(pulled_at(&app, &digest).await, None);
    assert_eq!(reg.head("/v2/pull/time/manifests/v1").await.status, 200);
    assert_eq!(
        reg.head(&format!("/v2/pull/time/manifests/{digest}"))
            .await
            .status,
        200
    );
    assert_eq!(pulled_at(&app, &digest).await, None, "a HEAD is not a pull");
    assert_eq!(reg.get("/v2/pull/time/manifests/v1").await.status, 200);
    let first = pulled_at(&app, &digest).await.expect("a GET is a pull");
    let age = unix_now() as f64 - first.as_secs_f64();
    assert!((-5.0..60.0).contains(&age), "recent: {age}");
    // Kept to the minute: pulling again right away is a read, not a write.
    assert_eq!(reg.get("/v2/pull/time/manifests/v1").await.status, 200);
    assert_eq!(pulled_at(&app, &digest).await, Some(first));
}

/// A pull is answered while the write recording it cannot run (SQLite's write lock or
/// Postgres's lock on the image's row is held elsewhere); DescribeImages waits for that
/// write, and shows the pull once it is made.
async fn pulls_do_not_wait_for_their_pull_time(app: TestApp) {
    app.create_repo("pull/time").await;
    let reg = Registry::login(&app).await;
    let (_, digest) = reg.push_image("pull/time", "v1").await;
    let lock = hold_pull_times(&app, &digest).await;

    let pull = reg.get("/v2/pull/time/manifests/v1");
    let pulled = tokio::time::timeout(std::time::Duration::from_secs(5), pull)
        .await
        .expect("the pull is answered while its pull time cannot be written");
    assert_eq!(pulled.status, 200);
    let described = tokio::spawn({
        let ecr = app.ecr.clone();
        async move { describe_image(&ecr, "pull/time", by_digest(&digest)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !described.is_finished(),
        "DescribeImages waits for the pull time"
    );
    lock.release().await;
    let detail = described.await.expect("describe");
    let at = detail
        .last_recorded_pull_time()
        .expect("the pull is recorded once the lock is released");
    let age = unix_now() as f64 - at.as_secs_f64();
    assert!((-5.0..60.0).contains(&age), "recent: {age}");
}

/// A lock that keeps a pull time from being written until released.
enum PullTimeLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

async fn hold_pull_times(app: &TestApp, digest: &str) -> PullTimeLock {
    match &app.database_url {
        None => PullTimeLock::Sqlite(sqlite_write_lock(app).await),
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query("BEGIN")
                .execute(&mut conn)
                .await
                .expect("begin");
            let locked = sqlx::query("SELECT id FROM manifests WHERE digest = $1 FOR UPDATE")
                .bind(digest)
                .fetch_all(&mut conn)
                .await
                .expect("lock the image's row");
            assert_eq!(locked.len(), 1);
            PullTimeLock::Postgres(conn)
        }
    }
}

impl PullTimeLock {
    async fn release(self) {
        use sqlx::Executor as _;
        let committed = match self {
            PullTimeLock::Sqlite(mut conn) => conn.execute("COMMIT").await.map(drop),
            PullTimeLock::Postgres(mut conn) => conn.execute("COMMIT").await.map(drop),
        };
        committed.expect("commit");
    }
}

// ---------------------------------------------------------------------------------
// Listings.

async fn tags_list_paging(app: TestApp) {
    app.create_repo("list/tags").await;
    let reg = Registry::login(&app).await;
    let (manifest, _) = reg.push_image("list/tags", "v1.0").await;
    let mut tags = vec!["v1.0", "latest", "B", "a", "v1.10", "v1.2", "0", "_x"];
    for tag in &tags[1..] {
        let r = reg
            .put_manifest("list/tags", tag, OCI_MANIFEST, manifest.as_bytes())
            .await;
        assert_eq!(r.status, 201, "{tag}: {}", r.text());
    }
    tags.sort_unstable(); // byte order
    let r = reg.get("/v2/list/tags/tags/list").await;
    assert_eq!(r.status, 200);
    assert!(r.header("link").is_none());
    assert_eq!(r.json(), json!({"name": "list/tags", "tags": tags}));

    for n in [1usize, 3, 7, 8] {
        let pages = walk(&reg, &format!("/v2/list/tags/tags/list?n={n}"), "tags").await;
        assert_eq!(pages.len(), tags.len().div_ceil(n), "n={n}: {pages:?}");
        for page in &pages {
            assert!(page.len() <= n && !page.is_empty(), "n={n}: {pages:?}");
        }
        let all: Vec<String> = pages.concat();
        assert_eq!(all, tags, "n={n}: every tag once, in order");
    }
    // The Link keeps n and points past the page's last tag.
    let r = reg.get("/v2/list/tags/tags/list?n=2").await;
    assert_eq!(
        r.header("link"),
        Some(
            format!(
                "</v2/list/tags/tags/list?n=2&last={}>; rel=\"next\"",
                tags[1]
            )
            .as_str()
        )
    );
    let r = reg
        .get(&format!("/v2/list/tags/tags/list?last={}", tags[5]))
        .await;
    assert_eq!(r.json()["tags"], json!(tags[6..]));
    let r = reg.get("/v2/list/tags/tags/list?last=zzz").await;
    assert_eq!(r.json()["tags"], json!([]));
    assert!(r.header("link").is_none());

    reg.get("/v2/list/none/tags/list")
        .await
        .assert_error(404, "NAME_UNKNOWN");
    reg.get("/v2/list/tags/tags/list?n=abc")
        .await
        .assert_error_shape();
    reg.get("/v2/list/tags/tags/list?n=-1")
        .await
        .assert_error_shape();
}

async fn catalog_paging(app: TestApp) {
    let reg = Registry::login(&app).await;
    let r = reg.get("/v2/_catalog").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"repositories": []}));

    let mut names = vec!["zeta", "alpha/one", "alpha/two", "beta", "alpha", "m-n/o_p"];
    for name in &names {
        app.create_repo(name).await;
    }
    names.sort_unstable();
    let r = reg.get("/v2/_catalog").await;
    assert_eq!(r.status, 200);
    assert!(r.header("link").is_none());
    assert_eq!(r.json(), json!({"repositories": names}));

    for n in [1usize, 2, 4, 6] {
        let pages = walk(&reg, &format!("/v2/_catalog?n={n}"), "repositories").await;
        assert_eq!(pages.len(), names.len().div_ceil(n), "n={n}: {pages:?}");
        assert_eq!(
            pages.concat(),
            names,
            "n={n}: every repository once, in order"
        );
    }
    let r = reg.get("/v2/_catalog?n=2").await;
    assert_eq!(
        r.header("link"),
        Some(format!("</v2/_catalog?n=2&last={}>; rel=\"next\"", names[1]).as_str())
    );
    let r = reg.get(&format!("/v2/_catalog?last={}", names[3])).await;
    assert_eq!(r.json()["repositories"], json!(names[4..]));
}

/// A Postgres database whose default collation is not byte order (ICU English, as
/// many installations have), for the ordering of listings.
async fn icu_database() -> String {
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("postgres");
    let name = test_database_name();
    sqlx::query(&format!(
        "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'"
    ))
    .execute(&mut conn)
    .await
    .expect("create an ICU-collated database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

async fn listings_in_byte_order(app: TestApp) {
    let app = match app.backend {
        Backend::Sqlite => app,
        Backend::Postgres => {
            let url = icu_database().await;
            spawn_app_with(Backend::Postgres, move |c| c.store.database_url = Some(url)).await
        }
    };
    let mut names = vec!["zz", "a-b", "a.b", "a_b", "a/b", "ab"];
    for name in &names {
        app.create_repo(name).await;
    }
    names.sort_unstable();
    let reg = Registry::login(&app).await;
    let r = reg.get("/v2/_catalog").await;
    assert_eq!(r.json()["repositories"], json!(names), "byte order");
    let pages = walk(&reg, "/v2/_catalog?n=2", "repositories").await;
    assert_eq!(pages.concat(), names, "byte order, page by page");

    let (manifest, _) = reg.push_image("ab", "v1.x").await;
    let mut tags = vec!["v1.x", "B", "Z", "_x", "a", "b10", "b9", "v1-x", "v1_x"];
    for tag in &tags[1..] {
        let r = reg
            .put_manifest("ab", tag, OCI_MANIFEST, manifest.as_bytes())
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    tags.sort_unstable();
    let r = reg.get("/v2/ab/tags/list").await;
    assert_eq!(r.json()["tags"], json!(tags), "byte order");
    let pages = walk(&reg, "/v2/ab/tags/list?n=2", "tags").await;
    assert_eq!(pages.concat(), tags, "byte order, page by page");
}

// ---------------------------------------------------------------------------------
// Malformed requests.

async fn malformed_paths_and_methods(app: TestApp) {
    app.create_repo("bad/repo").await;
    let reg = Registry::login(&app).await;
    let (_, digest) = reg.push_image("bad/repo", "v1").await;
    let auth = login(&app).await;

    // Repository names.
    for name in [
        "Upper/case",
        "a//b",
        "bad/repo/",
        "-lead",
        "a",
        "x_-y",
        "a/./b",
    ] {
        for path in [
            format!("/v2/{name}/tags/list"),
            format!("/v2/{name}/manifests/v1"),
            format!("/v2/{name}/blobs/{digest}"),
        ] {
            let r = reg.get(&path).await;
            assert!(
                r.status == 400 || r.status == 404,
                "{path}: {} {}",
                r.status,
                r.text()
            );
            let errors = r.assert_error_shape();
            if r.status == 400 {
                assert_eq!(errors[0]["code"], "NAME_INVALID", "{path}");
            }
        }
    }
    for path in ["/v2/Upper/tags/list", "/v2/a//b/manifests/v1"] {
        reg.get(path).await.assert_error(400, "NAME_INVALID");
    }
    for path in [
        "/v2/bad/../repo/tags/list",
        "/v2/../bad/repo/manifests/v1",
        "/v2/bad/repo/../repo/manifests/v1",
        "/v2/bad/%2e%2e/repo/tags/list",
    ] {
        let (status, body) = raw_request(&app, "GET", path, &auth).await;
        assert!(status == 400 || status == 404, "{path}: {status} {body}");
        assert!(body["errors"][0]["code"].is_string(), "{path}: {body}");
        if status == 400 {
            assert_eq!(body["errors"][0]["code"], "NAME_INVALID", "{path}");
        }
    }

    // References.
    let long = "t".repeat(129);
    for tag in ["-dash", ".dot", long.as_str(), "a+b", "a%20b"] {
        reg.get(&format!("/v2/bad/repo/manifests/{tag}"))
            .await
            .assert_error(400, "TAG_INVALID");
    }
    assert_eq!(
        reg.get(&format!("/v2/bad/repo/manifests/{}", "t".repeat(128)))
            .await
            .status,
        404,
        "128 characters is a valid tag"
    );

    // Digests, wherever one goes.
    let bad_digests = [
        "sha256:xyz".to_owned(),
        format!("md5:{}", "a".repeat(32)),
        format!("sha256:{}", "a".repeat(63)),
        format!("sha256:{}", "a".repeat(65)),
        format!("sha256:{}", "A".repeat(64)),
        format!("sha512:{}", "a".repeat(64)),
        format!(":{}", "a".repeat(64)),
        "sha256:".to_owned(),
    ];
    for bad in &bad_digests {
        reg.get(&format!("/v2/bad/repo/manifests/{bad}"))
            .await
            .assert_error(400, "DIGEST_INVALID");
        reg.put_manifest("bad/repo", bad, OCI_MANIFEST, b"{}")
            .await
            .assert_error(400, "DIGEST_INVALID");
        reg.delete(&format!("/v2/bad/repo/manifests/{bad}"))
            .await
            .assert_error(400, "DIGEST_INVALID");
        reg.get(&format!("/v2/bad/repo/blobs/{bad}"))
            .await
            .assert_error(400, "DIGEST_INVALID");
        assert_eq!(
            reg.head(&format!("/v2/bad/repo/blobs/{bad}")).await.status,
            400
        );
        reg.delete(&format!("/v2/bad/repo/blobs/{bad}"))
            .await
            .assert_error(400, "DIGEST_INVALID");
        reg.get(&format!("/v2/bad/repo/referrers/{bad}"))
            .await
            .assert_error(400, "DIGEST_INVALID");
        reg.post_blob("bad/repo", bad, b"data")
            .await
            .assert_error(400, "DIGEST_INVALID");
        let location = reg.start_upload("bad/repo").await;
        reg.put(&format!("{location}?digest={bad}"), b"data")
            .await
            .assert_error(400, "DIGEST_INVALID");
    }
    reg.get("/v2/bad/repo/blobs/latest")
        .await
        .assert_error(400, "DIGEST_INVALID");

    // Methods the spec does not define here.
    let blob = format!("/v2/bad/repo/blobs/{digest}");
    let upload = reg.start_upload("bad/repo").await;
    for (method, path) in [
        (Method::POST, "/v2/".to_owned()),
        (Method::DELETE, "/v2/".to_owned()),
        (Method::POST, "/v2/bad/repo/manifests/v1".to_owned()),
        (Method::PATCH, "/v2/bad/repo/manifests/v1".to_owned()),
        (Method::PATCH, blob.clone()),
        (Method::PUT, blob.clone()),
        (Method::POST, blob.clone()),
        (Method::DELETE, "/v2/_catalog".to_owned()),
        (Method::POST, "/v2/_catalog".to_owned()),
        (Method::PUT, "/v2/bad/repo/tags/list".to_owned()),
        (Method::DELETE, "/v2/bad/repo/tags/list".to_owned()),
        (Method::POST, format!("/v2/bad/repo/referrers/{digest}")),
        (Method::PUT, "/v2/bad/repo/blobs/uploads/".to_owned()),
        (Method::GET, "/v2/bad/repo/blobs/uploads/".to_owned()),
        (Method::POST, upload.clone()),
    ] {
        let r = reg.call(method.clone(), &path).await;
        assert_eq!(r.status, 405, "{method} {path}: {}", r.text());
        r.assert_error(405, "UNSUPPORTED");
    }

    // Query strings and paths that cannot be decoded.
    for (method, path) in [
        (
            Method::POST,
            format!("/v2/bad/repo/blobs/uploads/?digest={digest}&digest={digest}"),
        ),
        (
            Method::POST,
            "/v2/bad/repo/blobs/uploads/?digest=%ff".to_owned(),
        ),
        (
            Method::PUT,
            format!("{upload}?digest={digest}&digest={digest}"),
        ),
        (Method::GET, "/v2/bad/repo/tags/list?n=1&n=2".to_owned()),
        (Method::GET, "/v2/_catalog?last=a&last=b".to_owned()),
        (
            Method::GET,
            format!("/v2/bad/repo/referrers/{digest}?artifactType=a&artifactType=b"),
        ),
        (Method::GET, "/v2/bad%ffrepo/tags/list".to_owned()),
        (Method::GET, "/v2/bad/repo/manifests/v%ff".to_owned()),
        (Method::GET, "/v2/bad/repo/blobs/sha256%ff".to_owned()),
    ] {
        let r = reg.call(method.clone(), &path).await;
        assert!(
            r.status == 400 || r.status == 404,
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
        r.assert_error_shape();
    }

    // Paths that are no endpoint at all.
    for path in [
        "/v2/bad/repo",
        "/v2/bad/repo/nothing",
        "/v2/bad/repo/manifests/",
    ] {
        let r = reg.get(path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        r.assert_error_shape();
    }
}

// ---------------------------------------------------------------------------------
// Both faces on the same images.

async fn cross_face_images(app: TestApp) {
    app.create_repo("faces/repo").await;
    let reg = Registry::login(&app).await;

    // ECR's PutImage in, /v2 out.
    let (manifest, digest) = app.push_image("faces/repo", Some("sdk"), 2).await;
    let r = reg.get("/v2/faces/repo/manifests/sdk").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, manifest.as_bytes());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
    let value: Value = serde_json::from_str(&manifest).expect("json");
    let layers = value["layers"].as_array().expect("layers");
    for descriptor in layers.iter().chain([&value["config"]]) {
        let d = descriptor["digest"].as_str().expect("digest");
        let r = reg.get(&format!("/v2/faces/repo/blobs/{d}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(sha256(&r.body), d);
        assert_eq!(
            r.body.len() as u64,
            descriptor["size"].as_u64().expect("size")
        );
    }
    assert_eq!(
        reg.get("/v2/faces/repo/tags/list").await.json()["tags"],
        json!(["sdk"])
    );

    // /v2 in, ECR's DescribeImages and BatchGetImage out.
    let (manifest, size) = reg.image_manifest("faces/repo", 3).await;
    let r = reg
        .put_manifest("faces/repo", "v2-tag", OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let digest = sha256(manifest.as_bytes());
    let detail = describe_image(&app.ecr, "faces/repo", by_tag("v2-tag")).await;
    assert_eq!(detail.image_digest(), Some(digest.as_str()));
    assert_eq!(detail.image_tags(), ["v2-tag"]);
    assert_eq!(detail.image_size_in_bytes(), Some(size));
    assert_eq!(detail.image_manifest_media_type(), Some(OCI_MANIFEST));
    let out = batch_get_image(&app.ecr, "faces/repo", by_digest(&digest)).await;
    assert_eq!(
        out.images()[0].image_manifest(),
        Some(manifest.as_str()),
        "the same bytes on both faces"
    );

    // The raw JSON 1.1 wire agrees.
    let reply = app
        .call_json(
            "DescribeImages",
            json!({"repositoryName": "faces/repo", "imageIds": [{"imageTag": "v2-tag"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(reply.body["imageDetails"][0]["imageSizeInBytes"], size);
    assert_eq!(
        reply.body["imageDetails"][0]["imageDigest"],
        digest.as_str()
    );

    // A registry password is no AWS credential.
    let auth = reg.auth.clone().expect("logged in");
    let reply = app
        .call_unsigned(
            &[
                ("content-type", "application/x-amz-json-1.1"),
                (
                    "x-amz-target",
                    "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
                ),
                ("authorization", auth.as_str()),
            ],
            b"{}",
        )
        .await;
    assert!(
        (400..500).contains(&reply.status),
        "refused: {} {}",
        reply.status,
        reply.body
    );
    assert!(!reply.error_type().is_empty(), "{}", reply.body);
    assert!(reply.body.get("repositories").is_none());

    // A tag removed over /v2 is gone for ECR too.
    assert_eq!(
        reg.delete("/v2/faces/repo/manifests/v2-tag").await.status,
        202
    );
    let detail = describe_image(&app.ecr, "faces/repo", by_digest(&digest)).await;
    assert!(detail.image_tags().is_empty());
}
