//! Hostile input: every implemented ECR action gets wrong types, nulls, huge and
//! deeply nested values, broken encodings, random bytes and random valid-looking
//! bodies built from api-spec/ecr.json. Every answer must be a typed 400 or a 200
//! (never a 5xx, never a dropped connection), and nothing may change.
//!
//! How "nothing may change" stays a fair claim while random bodies can be valid:
//! a repository `hostile/keep` with two images and a resource tag is set up first,
//! and [`confine`] rewrites every body sent to an action outside [`READ_ONLY`] so
//! that it cannot legitimately mutate anything:
//! - `repositoryName` equal to `hostile/keep` becomes `ghost/keep`, and a
//!   `resourceArn` naming `hostile/keep` names `ghost/keep` instead. No `ghost/...`
//!   repository exists, and none can be created (next point), so such a call can
//!   only fail with RepositoryNotFoundException or an earlier validation error;
//! - for CreateRepository, any `repositoryName` that would parse as a repository
//!   name becomes `hostile/keep`, which exists: a valid create can only answer
//!   RepositoryAlreadyExistsException; invalid names stay as they are.
//!
//! Mutating here includes BatchGetImage (it records pulls) and anything not in
//! READ_ONLY, so a newly added action is confined by default. Only those two
//! top-level members choose a repository in ECR's model; `registryId` can only
//! name this registry or be refused. Snapshots of DescribeRepositories (all
//! repositories, so a created one shows), DescribeImages, ListImages and
//! ListTagsForResource are compared before and after, and so are what no API
//! shows: the row count of every table and the files of the blob store.
//!
//! A second test sends the random bodies unconfined, plus extreme values (sizes
//! and byte ranges at i64::MAX, 2000 layers, U+0000 in stored media types, 51
//! tags), to a scratch repository where valid mutations may land: there only the
//! typing of every answer and the server's health are checked.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use crate::both_stores;
use crate::helpers::{sign_headers, TestApp, ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY};

both_stores!(
    hostile_bodies_get_typed_answers_and_change_nothing,
    unconfined_random_bodies_on_a_scratch_repository_get_typed_answers,
);

const PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921";
const KEEP: &str = "hostile/keep";
const GHOST: &str = "ghost/keep";
const SEED: u64 = 0x6265_7274_6821;
const RANDOM_BODIES: usize = 40;
const HUGE: usize = 100 * 1024;
/// How serde_json writes `"\u{1}RAW\u{1}"`, the stand-in for a raw bad value.
const PLACEHOLDER: &str = "\"\\u0001RAW\\u0001\"";

/// Actions that change nothing, whatever they are sent.
const READ_ONLY: &[&str] = &[
    "BatchCheckLayerAvailability",
    "DescribeImages",
    "DescribeRegistry",
    "DescribeRepositories",
    "GetAuthorizationToken",
    "GetDownloadUrlForLayer",
    "ListImages",
    "ListTagsForResource",
];

fn spec_json() -> Value {
    serde_json::from_str(include_str!("../../api-spec/ecr.json")).expect("api-spec/ecr.json")
}

fn arn(name: &str) -> String {
    format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}")
}

/// What the random bodies draw on: names and digests that exist, and some that don't.
struct Known {
    /// The repository the bodies aim at.
    repo: String,
    image_digest: String,
    untagged_digest: String,
    layer_digest: String,
    config_digest: String,
    manifest: String,
    page_token: String,
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn junk_string(rng: &mut StdRng) -> String {
    const CHARS: &[char] = &[
        'a', 'Z', '0', '9', '/', '.', '_', '-', ':', '*', ' ', '"', '\\', '\n', '\t', '\u{0}',
        '\u{7f}', 'é', '€', '😀', '\u{feff}', '%', '{', '}', '[', ']', '\'', ';',
    ];
    let len = match rng.gen_range(0..10) {
        0 => 0,
        1 => rng.gen_range(250..400),
        _ => rng.gen_range(1..24),
    };
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())])
        .collect()
}

fn name_like(rng: &mut StdRng) -> String {
    let parts = rng.gen_range(1..4);
    (0..parts)
        .map(|_| {
            let len = rng.gen_range(1..8);
            (0..len)
                .map(|_| char::from(b"abcxyz0189"[rng.gen_range(0..10)]))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(pick(rng, &["/", "-", "_", ".", "__", "/"]))
}

/// A string for `member`: mostly plausible, sometimes junk.
fn string_for(member: &str, shape: &Value, known: &Known, rng: &mut StdRng) -> String {
    if let Some(values) = shape["enum"].as_array() {
        if rng.gen_bool(0.85) {
            return values[rng.gen_range(0..values.len())]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
    }
    if rng.gen_bool(0.15) {
        return junk_string(rng);
    }
    let zeros = format!("sha256:{}", "0".repeat(64));
    match member {
        "repositoryName" | "repositoryNames" => match rng.gen_range(0..7) {
            0..=2 => known.repo.clone(),
            3 => GHOST.to_owned(),
            4 => name_like(rng),
            5 => "x".repeat(257),
            _ => pick(rng, &["Upper/Case", "a", "trailing/", "-lead"]).to_owned(),
        },
        "registryId" | "registryIds" => {
            pick(rng, &[ACCOUNT, ACCOUNT, ACCOUNT, "000000000000", "12345", ""]).to_owned()
        }
        "imageTag" => pick(rng, &["v1", "v1", "latest", "nope", "bad tag!", ".hidden"]).to_owned(),
        "imageDigest" | "layerDigest" | "layerDigests" => {
            let choices = [
                known.image_digest.as_str(),
                known.untagged_digest.as_str(),
                known.layer_digest.as_str(),
                known.config_digest.as_str(),
                zeros.as_str(),
                "sha256:abc",
                "md5:0123",
                "sha512:00",
                "sha256",
            ];
            pick(rng, &choices).to_owned()
        }
        "uploadId" => match rng.gen_range(0..3) {
            0 => uuid::Uuid::new_v4().to_string(),
            1 => "not-an-upload".to_owned(),
            _ => uuid::Uuid::nil().to_string(),
        },
        "resourceArn" => match rng.gen_range(0..5) {
            0 | 1 => arn(&known.repo),
            2 => arn(GHOST),
            3 => format!("arn:aws:ecr:{REGION}:000000000000:repository/{}", known.repo),
            _ => pick(rng, &["arn:aws:s3:::bucket", "garbage", "arn:aws:ecr:"]).to_owned(),
        },
        "imageManifest" => match rng.gen_range(0..6) {
            0 | 1 => known.manifest.clone(),
            2 => {
                let which = rng.gen_range(0..MANIFEST_VARIANTS);
                manifest_variant(&known.manifest, which, rng)
            }
            3 => json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": zeros, "size": 2},
                        "layers": []})
            .to_string(),
            4 => "{}".to_owned(),
            _ => "not a manifest".to_owned(),
        },
        "imageManifestMediaType" | "acceptedMediaTypes" | "mediaType" => pick(
            rng,
            &[
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.index.v1+json",
                "text/plain",
            ],
        )
        .to_owned(),
        "nextToken" => match rng.gen_range(0..3) {
            0 => known.page_token.clone(),
            1 => base64::engine::general_purpose::STANDARD.encode(junk_string(rng)),
            _ => "x".to_owned(),
        },
        "filter" => pick(rng, &["*", "v*", "release-*", "a*b*c"]).to_owned(),
        "Key" | "tagKeys" => pick(rng, &["team", "env", "aws:reserved", "", "k"]).to_owned(),
        "Value" => pick(rng, &["core", "prod", ""]).to_owned(),
        "kmsKey" => "arn:aws:kms:eu-west-1:123456789012:key/abc".to_owned(),
        "layerPartBlob" => base64::engine::general_purpose::STANDARD.encode(junk_string(rng)),
        _ => junk_string(rng),
    }
}

const MANIFEST_VARIANTS: usize = 9;

/// `manifest` (an OCI image manifest whose blobs exist) with one thing made extreme.
fn manifest_variant(manifest: &str, which: usize, rng: &mut StdRng) -> String {
    let mut m: Value = serde_json::from_str(manifest).expect("manifest");
    match which {
        0 => m["config"]["size"] = json!(i64::MAX),
        1 => {
            m["config"]["size"] = json!(i64::MAX);
            m["layers"][0]["size"] = json!(i64::MAX);
        }
        2 => m["layers"][0]["size"] = json!(-1),
        3 => m["config"]["mediaType"] = json!("application/x\u{0}y"),
        4 => m["artifactType"] = json!(junk_string(rng)),
        5 => m["annotations"] = json!({"\u{0}": "\u{0}", "k": "v".repeat(HUGE)}),
        6 => {
            m["subject"] = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                   "digest": m["config"]["digest"].clone(), "size": 1})
        }
        7 => {
            let layers = m["layers"].as_array().cloned().unwrap_or_default();
            m["layers"] = Value::Array(layers.iter().cycle().take(2000).cloned().collect());
        }
        _ => m["mediaType"] = json!(junk_string(rng)),
    }
    m.to_string()
}

/// A random value of `shape_name` that mostly looks like what a client would send.
fn plausible(
    spec: &Value,
    shape_name: &str,
    member: &str,
    known: &Known,
    rng: &mut StdRng,
    depth: usize,
) -> Value {
    let shapes = &spec["shapes"];
    let shape = &shapes[shape_name];
    match shape["type"].as_str().unwrap_or_default() {
        "structure" => {
            let required: BTreeSet<&str> = shape["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = Map::new();
            for (name, r) in shape["members"].as_object().into_iter().flatten() {
                let p = if required.contains(name.as_str()) {
                    0.95
                } else {
                    0.4
                };
                if rng.gen_bool(p) && depth < 8 {
                    let child = r["shape"].as_str().unwrap_or_default();
                    out.insert(
                        name.clone(),
                        plausible(spec, child, name, known, rng, depth + 1),
                    );
                }
            }
            Value::Object(out)
        }
        "list" => {
            let child = shape["member"]["shape"].as_str().unwrap_or_default();
            let len = match rng.gen_range(0..12) {
                0 => 0,
                1 => rng.gen_range(6..120),
                _ => rng.gen_range(1..4),
            };
            Value::Array(
                (0..len)
                    .map(|_| plausible(spec, child, member, known, rng, depth + 1))
                    .collect(),
            )
        }
        "map" => {
            let value = shape["value"]["shape"].as_str().unwrap_or_default();
            let mut out = Map::new();
            for _ in 0..rng.gen_range(0..3) {
                out.insert(
                    name_like(rng),
                    plausible(spec, value, member, known, rng, depth + 1),
                );
            }
            Value::Object(out)
        }
        "string" => Value::String(string_for(member, shape, known, rng)),
        "integer" | "long" => {
            let n: i64 = match rng.gen_range(0..10) {
                0 => 0,
                1 => -1,
                2 => 1001,
                3 => i64::from(i32::MAX) + 1,
                4 => i64::MAX,
                5 => i64::MIN,
                _ => rng.gen_range(1..=1000),
            };
            json!(n)
        }
        "boolean" => json!(rng.gen_bool(0.5)),
        "blob" => {
            let bytes: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
            json!(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        "float" | "double" | "timestamp" => json!(rng.gen_range(-1.0e3..1.0e10)),
        other => panic!("shape {shape_name}: unexpected type {other}"),
    }
}

/// Rewrites a body for a mutating action so that it cannot change the state the
/// test compares (see the module comment).
fn confine(action: &str, body: &mut Value) {
    if READ_ONLY.contains(&action) {
        return;
    }
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    if action == "CreateRepository" {
        if let Some(Value::String(name)) = obj.get_mut("repositoryName") {
            if berth::domain::RepositoryName::parse(name).is_ok() {
                *name = KEEP.to_owned();
            }
        }
        return;
    }
    if let Some(Value::String(name)) = obj.get_mut("repositoryName") {
        if name == KEEP {
            *name = GHOST.to_owned();
        }
    }
    if let Some(Value::String(arn)) = obj.get_mut("resourceArn") {
        if arn.contains(KEEP) {
            *arn = arn.replace(KEEP, GHOST);
        }
    }
}

/// Raw JSON texts put in place of one member.
fn bad_values() -> Vec<(&'static str, String)> {
    vec![
        ("number", "12345".into()),
        ("negative", "-1".into()),
        ("float", "1.5".into()),
        ("huge number", "1e400".into()),
        ("big integer", "18446744073709551616".into()),
        ("short string", "\"x\"".into()),
        ("boolean", "true".into()),
        ("empty list", "[]".into()),
        ("list of null", "[null]".into()),
        ("list of mixed", "[1, \"a\", {}, [], null, true]".into()),
        ("empty object", "{}".into()),
        (
            "nested object",
            "{\"a\": [1, {\"b\": null}], \"imageTag\": 5}".into(),
        ),
        ("null", "null".into()),
        ("huge string", format!("\"{}\"", "a".repeat(HUGE))),
        (
            "huge multibyte string",
            format!("\"{}\"", "é€".repeat(HUGE / 5)),
        ),
        (
            "huge list",
            format!("[{}]", vec!["\"ab\""; HUGE / 5].join(",")),
        ),
        ("nul character", "\"ab\\u0000cd\"".into()),
        ("lone surrogate", "\"\\ud800\"".into()),
        ("control characters", "\"\\u0001\\u001f\\n\"".into()),
        (
            "nested 100",
            format!("{}{}", "[".repeat(100), "]".repeat(100)),
        ),
        (
            "nested 100k",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ),
        (
            "nested objects 1000",
            format!("{}1{}", "{\"a\":".repeat(1000), "}".repeat(1000)),
        ),
    ]
}

/// Whole bodies that are broken as a whole.
fn broken_bodies(base: &str, rng: &mut StdRng) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("open brace".into(), b"{".to_vec()),
        ("top-level array".into(), b"[{}]".to_vec()),
        ("top-level string".into(), b"\"{}\"".to_vec()),
        ("top-level null".into(), b"null".to_vec()),
        ("byte order mark".into(), b"\xef\xbb\xbf{}".to_vec()),
        (
            "invalid utf-8".into(),
            b"{\"repositoryName\": \"\xff\xfe\xc3\x28\"}".to_vec(),
        ),
        ("invalid utf-8 key".into(), b"{\"\xff\": 1}".to_vec()),
        (
            "trailing garbage".into(),
            format!("{base} trailing").into_bytes(),
        ),
        ("two objects".into(), format!("{base}{base}").into_bytes()),
        (
            "nested 100k".into(),
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        ),
        (
            "duplicate keys".into(),
            b"{\"repositoryName\": \"ghost/a\", \"repositoryName\": 5}".to_vec(),
        ),
    ];
    let mut unknown = Map::new();
    for i in 0..200 {
        unknown.insert(format!("unknownMember{i}"), json!({"x": [i, null, "y"]}));
    }
    out.push((
        "unknown members".into(),
        Value::Object(unknown).to_string().into_bytes(),
    ));
    // `base` is at least `{}`, so every cut leaves a proper, non-empty prefix.
    for i in 0..4 {
        let cut = rng.gen_range(1..base.len());
        out.push((format!("truncated {i}"), base.as_bytes()[..cut].to_vec()));
    }
    for i in 0..4 {
        let len = rng.gen_range(1..2048);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        out.push((format!("random bytes {i}"), bytes));
    }
    out
}

/// Tallies of what came back, for the report and a sanity check.
#[derive(Default)]
struct Tally {
    ok: BTreeMap<String, usize>,
    errors: BTreeMap<String, usize>,
    sent: usize,
}

/// Sends one body and checks the answer is a typed 400 or a 200.
async fn send(app: &TestApp, action: &str, what: &str, body: &[u8], tally: &mut Tally) {
    let target = format!("{PREFIX}.{action}");
    let headers = sign_headers(
        &app.url, app.port, &target, body, ACCESS_KEY, SECRET_KEY, "ecr",
    );
    let mut req = app.http.post(format!("{}/", app.url)).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{action} / {what}: connection failed: {e}; body {shown}"));
    let status = resp.status().as_u16();
    let error_header = resp
        .headers()
        .get("x-amzn-ErrorType")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = resp
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{action} / {what}: body not read: {e}; body {shown}"));
    let reply: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{action} / {what}: {status} with a non-JSON answer {:?}; body {shown}",
            String::from_utf8_lossy(&bytes)
        )
    });
    tally.sent += 1;
    match status {
        200 => {
            assert!(reply.is_object(), "{action} / {what}: 200 with {reply}");
            *tally.ok.entry(action.to_owned()).or_default() += 1;
        }
        400 => {
            let kind = reply["__type"].as_str().unwrap_or_default();
            assert!(
                !kind.is_empty() && error_header.as_deref() == Some(kind),
                "{action} / {what}: untyped 400 {reply} (header {error_header:?}); body {shown}"
            );
            *tally.errors.entry(kind.to_owned()).or_default() += 1;
        }
        _ => panic!("{action} / {what}: status {status} {reply}; body {shown}"),
    }
}

async fn call(app: &TestApp, action: &str, body: Value) -> Value {
    let r = app
        .call(&format!("{PREFIX}.{action}"), body.to_string().as_bytes())
        .await;
    assert_eq!(r.status, 200, "{action}: {}", r.body);
    r.body
}

/// Everything a client could observe about the registry's state.
async fn snapshot(app: &TestApp) -> Vec<Value> {
    vec![
        call(app, "DescribeRepositories", json!({})).await,
        call(app, "DescribeImages", json!({"repositoryName": KEEP})).await,
        call(app, "ListImages", json!({"repositoryName": KEEP})).await,
        call(
            app,
            "ListTagsForResource",
            json!({"resourceArn": arn(KEEP)}),
        )
        .await,
    ]
}

const TABLES: [&str; 8] = [
    "repositories",
    "resource_tags",
    "blobs",
    "repository_blobs",
    "manifests",
    "manifest_references",
    "tags",
    "uploads",
];

/// Row counts of every table, read straight from the store's database.
async fn row_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    use sqlx::Connection as _;
    let mut out = Vec::new();
    match &app.database_url {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("postgres");
            for table in TABLES {
                let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
                out.push((table, n));
            }
        }
        None => {
            let path = app.data_dir.path().join("berth.db");
            let url = format!("sqlite://{}?mode=ro", path.display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
            for table in TABLES {
                let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
                out.push((table, n));
            }
        }
    }
    out
}

/// Every file under the blob store's `blobs/` and `uploads/`, with its size.
fn blob_files(app: &TestApp) -> Vec<(String, u64)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let size = entry.metadata().map(|m| m.len()).unwrap_or_default();
                out.push((path.display().to_string(), size));
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["blobs", "uploads"] {
        walk(&app.data_dir.path().join(dir), &mut out);
    }
    out.sort();
    out
}

/// A repository with a tagged and an untagged image and a resource tag, and what
/// random bodies need to know about it.
async fn set_up(app: &TestApp, repo: &str) -> Known {
    app.ecr
        .create_repository()
        .repository_name(repo)
        .tags(
            aws_sdk_ecr::types::Tag::builder()
                .key("team")
                .value("core")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("create");
    let (manifest, image_digest) = app.push_image(repo, Some("v1"), 1).await;
    let (_, untagged_digest) = app.push_image(repo, None, 0).await;
    let parsed: Value = serde_json::from_str(&manifest).expect("manifest");
    let listed = call(
        app,
        "ListImages",
        json!({"repositoryName": repo, "maxResults": 1}),
    )
    .await;
    Known {
        repo: repo.to_owned(),
        image_digest,
        untagged_digest,
        layer_digest: parsed["layers"][0]["digest"]
            .as_str()
            .expect("layer")
            .to_owned(),
        config_digest: parsed["config"]["digest"]
            .as_str()
            .expect("config")
            .to_owned(),
        manifest,
        page_token: listed["nextToken"]
            .as_str()
            .expect("a second page")
            .to_owned(),
    }
}

async fn healthy(app: &TestApp) {
    let health = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    call(app, "DescribeRepositories", json!({})).await;
}

async fn hostile_bodies_get_typed_answers_and_change_nothing(app: TestApp) {
    let known = set_up(&app, KEEP).await;
    let before = snapshot(&app).await;
    assert_eq!(before[1]["imageDetails"].as_array().map(Vec::len), Some(2));
    let (rows_before, files_before) = (row_counts(&app).await, blob_files(&app));
    assert_eq!(
        files_before.len(),
        3,
        "two configs and a layer: {files_before:?}"
    );

    let spec = spec_json();
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut tally = Tally::default();
    let actions: Vec<&str> = berth::api::ecr::ACTIONS.iter().map(|(a, _)| *a).collect();
    assert!(actions.len() >= 20, "{actions:?}");
    for action in &actions {
        let input = spec["operations"][action]["input"]
            .as_str()
            .unwrap_or_else(|| panic!("{action} has no input shape in the spec"));
        let members: Vec<String> = spec["shapes"][input]["members"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();

        // Random valid-looking bodies.
        for i in 0..RANDOM_BODIES {
            let mut body = plausible(&spec, input, "", &known, &mut rng, 0);
            confine(action, &mut body);
            send(
                &app,
                action,
                &format!("random {i}"),
                body.to_string().as_bytes(),
                &mut tally,
            )
            .await;
        }

        // Each member in turn gets each bad value, inside an otherwise plausible body.
        for member in members.iter().map(String::as_str).chain(["unknownMember"]) {
            for (what, raw) in bad_values() {
                let mut body = plausible(&spec, input, "", &known, &mut rng, 0);
                body[member] = json!("\u{1}RAW\u{1}");
                confine(action, &mut body);
                let text = body.to_string().replace(PLACEHOLDER, &raw);
                assert!(!text.contains("RAW\\u0001"), "placeholder left in {text}");
                let what = format!("{member} = {what}");
                send(&app, action, &what, text.as_bytes(), &mut tally).await;
            }
        }

        // Broken as a whole.
        let mut base = plausible(&spec, input, "", &known, &mut rng, 0);
        confine(action, &mut base);
        for (what, body) in broken_bodies(&base.to_string(), &mut rng) {
            send(&app, action, &what, &body, &mut tally).await;
        }
    }

    eprintln!(
        "hostile ({:?}): {} requests; 200s by action {:?}; errors {:?}",
        app.backend, tally.sent, tally.ok, tally.errors
    );
    // The bodies reached the actions, not only the validator.
    for kind in [
        "SerializationException",
        "InvalidParameterException",
        "RepositoryNotFoundException",
        "RepositoryAlreadyExistsException",
    ] {
        assert!(
            tally.errors.contains_key(kind),
            "no {kind}: {:?}",
            tally.errors
        );
    }
    for action in READ_ONLY {
        assert!(
            tally.ok.contains_key(*action),
            "{action} never answered 200: {:?}",
            tally.ok
        );
    }

    let after = snapshot(&app).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "state changed");
    }
    assert_eq!(row_counts(&app).await, rows_before, "rows changed");
    assert_eq!(blob_files(&app), files_before, "blob store changed");
    healthy(&app).await;
}

/// The same random bodies, now free to mutate a scratch repository (valid PutImage,
/// UploadLayerPart, TagResource, ... with extreme values reach the store): every
/// answer is still a typed 400 or a 200, and the server stays up. DeleteRepository
/// goes last so the repository is there for the others.
async fn unconfined_random_bodies_on_a_scratch_repository_get_typed_answers(app: TestApp) {
    let known = set_up(&app, "hostile/scratch").await;
    let spec = spec_json();
    let mut rng = StdRng::seed_from_u64(SEED + 1);
    let mut tally = Tally::default();
    let mut actions: Vec<&str> = berth::api::ecr::ACTIONS.iter().map(|(a, _)| *a).collect();
    actions.sort_by_key(|a| *a == "DeleteRepository");
    // First, extreme values that random bodies reach too rarely, on the live repository.
    let repo = known.repo.as_str();
    let mut extreme: Vec<(&str, Value)> = Vec::new();
    for which in 0..MANIFEST_VARIANTS {
        let manifest = manifest_variant(&known.manifest, which, &mut rng);
        extreme.push((
            "PutImage",
            json!({"repositoryName": repo, "imageManifest": manifest, "imageTag": format!("x{which}")}),
        ));
    }
    extreme.push((
        "PutImage",
        json!({"repositoryName": repo, "imageManifest": known.manifest, "imageTag": "plain"}),
    ));
    let upload = call(&app, "InitiateLayerUpload", json!({"repositoryName": repo})).await;
    let upload = upload["uploadId"].as_str().expect("uploadId");
    for (first, last, blob) in [
        (0, i64::MAX, "AAAA"),
        (i64::MAX, i64::MAX, "AA=="),
        (0, 0, ""),
        (1, 0, "AA=="),
        (0, 2, "AAAA"),
        (3, i64::MAX, "AAAA"),
    ] {
        extreme.push((
            "UploadLayerPart",
            json!({"repositoryName": repo, "uploadId": upload, "partFirstByte": first,
                   "partLastByte": last, "layerPartBlob": blob}),
        ));
    }
    let many: Vec<String> = (0..1000).map(|i| format!("sha256:{i:064x}")).collect();
    extreme.push((
        "CompleteLayerUpload",
        json!({"repositoryName": repo, "uploadId": upload, "layerDigests": many}),
    ));
    let tags: Vec<Value> = (0..51)
        .map(|i| json!({"Key": format!("{i:0>128}"), "Value": "v".repeat(256)}))
        .collect();
    extreme.push((
        "TagResource",
        json!({"resourceArn": arn(repo), "tags": tags[..50]}),
    ));
    extreme.push((
        "TagResource",
        json!({"resourceArn": arn(repo), "tags": tags}),
    ));
    let ids: Vec<Value> = (0..100).map(|_| json!({"imageTag": "v1"})).collect();
    extreme.push((
        "BatchGetImage",
        json!({"repositoryName": repo, "imageIds": ids}),
    ));
    for (action, body) in extreme {
        send(
            &app,
            action,
            "extreme",
            body.to_string().as_bytes(),
            &mut tally,
        )
        .await;
    }

    for action in &actions {
        let input = spec["operations"][action]["input"]
            .as_str()
            .unwrap_or_else(|| panic!("{action} has no input shape in the spec"));
        // An upload in progress, so UploadLayerPart and CompleteLayerUpload bodies
        // can name a live upload.
        let upload = app
            .call(
                &format!("{PREFIX}.InitiateLayerUpload"),
                json!({"repositoryName": known.repo}).to_string().as_bytes(),
            )
            .await;
        let upload = upload.body["uploadId"].as_str().map(str::to_owned);
        for i in 0..RANDOM_BODIES {
            let mut body = plausible(&spec, input, "", &known, &mut rng, 0);
            if let (Some(id), Some(obj)) = (&upload, body.as_object_mut()) {
                if obj.contains_key("uploadId") && rng.gen_bool(0.7) {
                    obj.insert("uploadId".into(), json!(id));
                }
            }
            send(
                &app,
                action,
                &format!("random {i}"),
                body.to_string().as_bytes(),
                &mut tally,
            )
            .await;
        }
    }

    eprintln!(
        "unconfined ({:?}): {} requests; 200s by action {:?}; errors {:?}",
        app.backend, tally.sent, tally.ok, tally.errors
    );
    // The bodies reached the service, not only the validator.
    for action in [
        "PutImage",
        "UploadLayerPart",
        "TagResource",
        "BatchGetImage",
    ] {
        assert!(
            tally.ok.contains_key(action),
            "{action} never answered 200: {:?}",
            tally.ok
        );
    }
    assert!(
        tally.errors.contains_key("InvalidLayerPartException"),
        "{:?}",
        tally.errors
    );
    healthy(&app).await;
}
