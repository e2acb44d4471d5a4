//! Hostile input: every action of both JSON faces (ECR and ECR Public) gets wrong
//! types, nulls, huge and deeply nested values, broken encodings, random bytes and
//! random valid-looking bodies built from the face's api-spec file. Every answer must
//! be a typed 400 or a 200 (never a 5xx, never a dropped connection), and nothing may
//! change.
//!
//! How "nothing may change" stays a fair claim while random bodies can be valid:
//! a repository `hostile/keep` with two images and a resource tag is set up first in
//! each registry (the public one's also has catalog data and a policy), and
//! [`confine`] rewrites every body sent to an action outside the face's read-only
//! list so that it cannot legitimately mutate anything:
//! - `repositoryName` equal to `hostile/keep` becomes `ghost/keep`, and a
//!   `resourceArn` naming `hostile/keep` names `ghost/keep` instead. No `ghost/...`
//!   repository exists, and none can be created (next point), so such a call can
//!   only fail with RepositoryNotFoundException or an earlier validation error;
//! - for CreateRepository, any `repositoryName` that would parse as a repository
//!   name becomes `hostile/keep`, which exists: a valid create can only answer
//!   RepositoryAlreadyExistsException; invalid names stay as they are.
//!
//! Mutating here includes BatchGetImage (it records pulls) and anything not
//! read-only, so a newly added action is confined by default. Only those two
//! top-level members choose a repository in either model; `registryId` can only
//! name this registry or be refused. The one action that changes a registry rather
//! than a repository, ECR Public's PutRegistryCatalogData, cannot be confined and is
//! swept by the second test only. Snapshots of what each face describes (all
//! repositories, so a created one shows; images, tags, resource tags, catalog data,
//! policy) are compared before and after, and so are what no API shows: the row
//! count of every table and the files of the blob store.
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
use crate::fixtures::{Descriptor, Manifest, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::helpers::{
    sha256, sign_headers, TestApp, ACCESS_KEY, ACCOUNT, ALIAS, REGION, SECRET_KEY,
};

both_stores!(
    hostile_bodies_get_typed_answers_and_change_nothing,
    unconfined_random_bodies_on_a_scratch_repository_get_typed_answers,
);

const KEEP: &str = "hostile/keep";
const GHOST: &str = "ghost/keep";
const SEED: u64 = 0x6265_7274_6821;
const RANDOM_BODIES: usize = 40;
const HUGE: usize = 100 * 1024;
/// How serde_json writes `"\u{1}RAW\u{1}"`, the stand-in for a raw bad value.
const PLACEHOLDER: &str = "\"\\u0001RAW\\u0001\"";

/// One JSON face as the sweep sees it.
struct Face {
    prefix: &'static str,
    signing: &'static str,
    spec: Value,
    actions: Vec<&'static str>,
    /// Actions that change nothing, whatever they are sent.
    read_only: &'static [&'static str],
    /// Repository ARNs of this face, before the name.
    arn_prefix: String,
}

fn ecr() -> Face {
    Face {
        prefix: "AmazonEC2ContainerRegistry_V20150921",
        signing: "ecr",
        spec: serde_json::from_str(include_str!("../../api-spec/ecr.json")).expect("ecr.json"),
        actions: berth::api::ecr::ACTIONS.iter().map(|(a, _)| *a).collect(),
        read_only: &[
            "BatchCheckLayerAvailability",
            "DescribeImages",
            "DescribeRegistry",
            "DescribeRepositories",
            "GetAuthorizationToken",
            "GetDownloadUrlForLayer",
            "GetRepositoryPolicy",
            "ListImages",
            "ListTagsForResource",
        ],
        arn_prefix: format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/"),
    }
}

fn ecr_public() -> Face {
    Face {
        prefix: "SpencerFrontendService",
        signing: "ecr-public",
        spec: serde_json::from_str(include_str!("../../api-spec/ecr-public.json"))
            .expect("ecr-public.json"),
        actions: berth::api::ecr_public::ACTIONS
            .iter()
            .map(|(a, _)| *a)
            .collect(),
        read_only: &[
            "BatchCheckLayerAvailability",
            "DescribeImageTags",
            "DescribeImages",
            "DescribeRegistries",
            "DescribeRepositories",
            "GetAuthorizationToken",
            "GetRegistryCatalogData",
            "GetRepositoryCatalogData",
            "GetRepositoryPolicy",
            "ListTagsForResource",
        ],
        arn_prefix: format!("arn:aws:ecr-public::{ACCOUNT}:repository/"),
    }
}

impl Face {
    fn arn(&self, name: &str) -> String {
        format!("{}{name}", self.arn_prefix)
    }

    /// The action's input members.
    fn input(&self, action: &str) -> &str {
        self.spec["operations"][action]["input"]
            .as_str()
            .unwrap_or_else(|| panic!("{action} has no input shape in the spec"))
    }
}

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr-public:BatchCheckLayerAvailability"}]}"#;

/// What the random bodies draw on: names and digests that exist, and some that don't.
struct Known {
    /// The repository the bodies aim at.
    repo: String,
    arn_prefix: String,
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
        "registryId" | "registryIds" => pick(
            rng,
            &[
                ACCOUNT,
                ACCOUNT,
                ACCOUNT,
                ALIAS,
                "000000000000",
                "12345",
                "",
                "other-alias",
            ],
        )
        .to_owned(),
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
        "resourceArn" => match rng.gen_range(0..6) {
            0 | 1 => format!("{}{}", known.arn_prefix, known.repo),
            2 => format!("{}{GHOST}", known.arn_prefix),
            3 => format!("{}{}", known.arn_prefix, known.repo).replace(ACCOUNT, "000000000000"),
            4 => format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{}", known.repo),
            _ => pick(rng, &["arn:aws:s3:::bucket", "garbage", "arn:aws:ecr:"]).to_owned(),
        },
        "imageManifest" => match rng.gen_range(0..6) {
            0 | 1 => known.manifest.clone(),
            2 => {
                let which = rng.gen_range(0..MANIFEST_VARIANTS);
                manifest_variant(&known.manifest, which, rng)
            }
            3 => Manifest::image(OCI_MANIFEST, Descriptor::new(OCI_CONFIG, &zeros, 2), [])
                .to_string(),
            4 => "{}".to_owned(),
            _ => "not a manifest".to_owned(),
        },
        "imageManifestMediaType" | "acceptedMediaTypes" | "mediaType" => pick(
            rng,
            &[OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, "text/plain"],
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
        "policyText" => match rng.gen_range(0..4) {
            0 | 1 => POLICY.to_owned(),
            2 => "{}".to_owned(),
            _ => junk_string(rng),
        },
        "description" | "aboutText" | "usageText" | "displayName" => {
            pick(rng, &["A tool", "", "# Usage\n`run`"]).to_owned()
        }
        "architectures" | "operatingSystems" => {
            pick(rng, &["ARM 64", "x86-64", "Linux"]).to_owned()
        }
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
            m["subject"] = json!({"mediaType": OCI_MANIFEST,
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
fn confine(face: &Face, action: &str, body: &mut Value) {
    if face.read_only.contains(&action) {
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
async fn send(
    app: &TestApp,
    face: &Face,
    action: &str,
    what: &str,
    body: &[u8],
    tally: &mut Tally,
) {
    let target = format!("{}.{action}", face.prefix);
    let headers = sign_headers(
        &app.url,
        app.port,
        &target,
        body,
        ACCESS_KEY,
        SECRET_KEY,
        face.signing,
    );
    let action = &format!("{}.{action}", face.prefix);
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

async fn call(app: &TestApp, face: &Face, action: &str, body: Value) -> Value {
    let r = app
        .call_signed(
            &format!("{}.{action}", face.prefix),
            body.to_string().as_bytes(),
            ACCESS_KEY,
            SECRET_KEY,
            face.signing,
        )
        .await;
    assert_eq!(r.status, 200, "{action}: {}", r.body);
    r.body
}

/// Everything a client could observe about both registries' state.
async fn snapshot(app: &TestApp, faces: &[Face]) -> Vec<Value> {
    let mut out = Vec::new();
    for face in faces {
        let keep = json!({"repositoryName": KEEP});
        out.push(call(app, face, "DescribeRepositories", json!({})).await);
        out.push(call(app, face, "DescribeImages", keep.clone()).await);
        out.push(
            call(
                app,
                face,
                "ListTagsForResource",
                json!({"resourceArn": face.arn(KEEP)}),
            )
            .await,
        );
        out.push(call(app, face, "GetRepositoryPolicy", keep.clone()).await);
        if face.signing == "ecr" {
            out.push(call(app, face, "ListImages", keep).await);
        } else {
            for action in ["DescribeImageTags", "GetRepositoryCatalogData"] {
                out.push(call(app, face, action, keep.clone()).await);
            }
            out.push(call(app, face, "GetRegistryCatalogData", json!({})).await);
        }
    }
    out
}

const TABLES: [&str; 9] = [
    "repositories",
    "resource_tags",
    "blobs",
    "repository_blobs",
    "manifests",
    "manifest_references",
    "tags",
    "uploads",
    "upload_parts",
];

/// Row counts of every table, read straight from the store's database.
async fn row_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in TABLES {
        let n: i64 = app
            .store_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .await;
        out.push((table, n));
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

/// A repository with a tagged and an untagged image and a resource tag (and, in the
/// public registry, catalog data and a policy), and what random bodies need to know.
async fn set_up(app: &TestApp, face: &Face, repo: &str) -> Known {
    let tag = json!([{"Key": "team", "Value": "core"}]);
    let manifest = if face.signing == "ecr" {
        call(
            app,
            face,
            "CreateRepository",
            json!({"repositoryName": repo, "tags": tag}),
        )
        .await;
        call(
            app,
            face,
            "SetRepositoryPolicy",
            json!({"repositoryName": repo, "policyText": POLICY}),
        )
        .await;
        let (manifest, _) = app.push_image(repo, Some("v1"), 1).await;
        app.push_image(repo, None, 0).await;
        manifest
    } else {
        call(
            app,
            face,
            "CreateRepository",
            json!({"repositoryName": repo, "tags": tag, "catalogData": {"description": "kept"}}),
        )
        .await;
        call(
            app,
            face,
            "SetRepositoryPolicy",
            json!({"repositoryName": repo, "policyText": POLICY}),
        )
        .await;
        call(
            app,
            face,
            "PutRegistryCatalogData",
            json!({"displayName": "Hostile Org"}),
        )
        .await;
        let (manifest, _) = app.push_public_image(repo, "v1").await;
        let untagged = app.public_manifest(repo).await;
        call(
            app,
            face,
            "PutImage",
            json!({"repositoryName": repo, "imageManifest": untagged}),
        )
        .await;
        manifest
    };
    let parsed: Value = serde_json::from_str(&manifest).expect("manifest");
    let listed = call(
        app,
        face,
        "DescribeImages",
        json!({"repositoryName": repo, "maxResults": 1}),
    )
    .await;
    let digests: Vec<String> = call(app, face, "DescribeImages", json!({"repositoryName": repo}))
        .await["imageDetails"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["imageDigest"].as_str().expect("digest").to_owned())
        .collect();
    let image_digest = sha256(manifest.as_bytes());
    Known {
        repo: repo.to_owned(),
        arn_prefix: face.arn_prefix.clone(),
        untagged_digest: digests
            .iter()
            .find(|d| **d != image_digest)
            .expect("an untagged image")
            .clone(),
        image_digest,
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
    assert_eq!(app.healthz().await.0, 200);
    call(app, &ecr(), "DescribeRepositories", json!({})).await;
}

async fn hostile_bodies_get_typed_answers_and_change_nothing(app: TestApp) {
    let faces = [ecr(), ecr_public()];
    let mut knowns = Vec::new();
    for face in &faces {
        knowns.push(set_up(&app, face, KEEP).await);
    }
    let before = snapshot(&app, &faces).await;
    assert_eq!(before[1]["imageDetails"].as_array().map(Vec::len), Some(2));
    let (rows_before, files_before) = (row_counts(&app).await, blob_files(&app));
    assert_eq!(
        files_before.len(),
        7,
        "private: two configs and a layer; public: two configs and two layers: {files_before:?}"
    );

    let mut rng = StdRng::seed_from_u64(SEED);
    let mut tally = Tally::default();
    for (face, known) in faces.iter().zip(&knowns) {
        assert!(face.actions.len() >= 20, "{:?}", face.actions);
        // It changes the registry itself; the unconfined test sweeps it.
        for action in face
            .actions
            .iter()
            .filter(|a| **a != "PutRegistryCatalogData")
        {
            sweep_action(&app, face, action, known, &mut rng, &mut tally).await;
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
        "RegistryNotFoundException",
    ] {
        assert!(
            tally.errors.contains_key(kind),
            "no {kind}: {:?}",
            tally.errors
        );
    }
    for face in &faces {
        for action in face.read_only {
            let key = format!("{}.{action}", face.prefix);
            assert!(
                tally.ok.contains_key(&key),
                "{key} never answered 200: {:?}",
                tally.ok
            );
        }
    }

    let after = snapshot(&app, &faces).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "state changed");
    }
    assert_eq!(row_counts(&app).await, rows_before, "rows changed");
    assert_eq!(blob_files(&app), files_before, "blob store changed");
    healthy(&app).await;
}

/// Random bodies, each member with each bad value, and bodies broken as a whole,
/// all confined, to one action.
async fn sweep_action(
    app: &TestApp,
    face: &Face,
    action: &str,
    known: &Known,
    rng: &mut StdRng,
    tally: &mut Tally,
) {
    let spec = &face.spec;
    let input = face.input(action);
    let members: Vec<String> = spec["shapes"][input]["members"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();

    // Random valid-looking bodies.
    for i in 0..RANDOM_BODIES {
        let mut body = plausible(spec, input, "", known, rng, 0);
        confine(face, action, &mut body);
        let what = format!("random {i}");
        send(app, face, action, &what, body.to_string().as_bytes(), tally).await;
    }

    // Each member in turn gets each bad value, inside an otherwise plausible body.
    for member in members.iter().map(String::as_str).chain(["unknownMember"]) {
        for (what, raw) in bad_values() {
            let mut body = plausible(spec, input, "", known, rng, 0);
            body[member] = json!("\u{1}RAW\u{1}");
            confine(face, action, &mut body);
            let text = body.to_string().replace(PLACEHOLDER, &raw);
            assert!(!text.contains("RAW\\u0001"), "placeholder left in {text}");
            let what = format!("{member} = {what}");
            send(app, face, action, &what, text.as_bytes(), tally).await;
        }
    }

    // Broken as a whole.
    let mut base = plausible(spec, input, "", known, rng, 0);
    confine(face, action, &mut base);
    for (what, body) in broken_bodies(&base.to_string(), rng) {
        send(app, face, action, &what, &body, tally).await;
    }
}

/// The same random bodies, now free to mutate a scratch repository (valid PutImage,
/// UploadLayerPart, TagResource, ... with extreme values reach the store): every
/// answer is still a typed 400 or a 200, and the server stays up. DeleteRepository
/// goes last so the repository is there for the others.
async fn unconfined_random_bodies_on_a_scratch_repository_get_typed_answers(app: TestApp) {
    let (face, public) = (ecr(), ecr_public());
    let known = set_up(&app, &face, "hostile/scratch").await;
    let mut rng = StdRng::seed_from_u64(SEED + 1);
    let mut tally = Tally::default();
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
    let upload = call(
        &app,
        &face,
        "InitiateLayerUpload",
        json!({"repositoryName": repo}),
    )
    .await;
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
        json!({"resourceArn": face.arn(repo), "tags": tags[..50]}),
    ));
    extreme.push((
        "TagResource",
        json!({"resourceArn": face.arn(repo), "tags": tags}),
    ));
    let ids: Vec<Value> = (0..100).map(|_| json!({"imageTag": "v1"})).collect();
    extreme.push((
        "BatchGetImage",
        json!({"repositoryName": repo, "imageIds": ids}),
    ));
    for (action, body) in extreme {
        send(
            &app,
            &face,
            action,
            "extreme",
            body.to_string().as_bytes(),
            &mut tally,
        )
        .await;
    }

    random_bodies(&app, &face, &known, &mut rng, &mut tally).await;
    let known = set_up(&app, &public, "hostile/scratch").await;
    // A stream of its own, so actions implemented on one face do not reshuffle the
    // other's bodies.
    let mut rng = StdRng::seed_from_u64(SEED + 2);
    random_bodies(&app, &public, &known, &mut rng, &mut tally).await;

    eprintln!(
        "unconfined ({:?}): {} requests; 200s by action {:?}; errors {:?}",
        app.backend, tally.sent, tally.ok, tally.errors
    );
    // The bodies reached the service, not only the validator.
    for action in [
        "AmazonEC2ContainerRegistry_V20150921.PutImage",
        "AmazonEC2ContainerRegistry_V20150921.UploadLayerPart",
        "AmazonEC2ContainerRegistry_V20150921.TagResource",
        "AmazonEC2ContainerRegistry_V20150921.BatchGetImage",
        "SpencerFrontendService.PutImage",
        "SpencerFrontendService.TagResource",
        "SpencerFrontendService.SetRepositoryPolicy",
        "SpencerFrontendService.PutRepositoryCatalogData",
        "SpencerFrontendService.PutRegistryCatalogData",
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

/// Random bodies for every action of `face`, free to mutate the scratch repository
/// (DeleteRepository goes last so the repository is there for the others).
async fn random_bodies(
    app: &TestApp,
    face: &Face,
    known: &Known,
    rng: &mut StdRng,
    tally: &mut Tally,
) {
    let mut actions = face.actions.clone();
    actions.sort_by_key(|a| *a == "DeleteRepository");
    for action in &actions {
        let input = face.input(action);
        // An upload in progress, so UploadLayerPart and CompleteLayerUpload bodies
        // can name a live upload.
        let upload = app
            .call_signed(
                &format!("{}.InitiateLayerUpload", face.prefix),
                json!({"repositoryName": known.repo}).to_string().as_bytes(),
                ACCESS_KEY,
                SECRET_KEY,
                face.signing,
            )
            .await;
        let upload = upload.body["uploadId"].as_str().map(str::to_owned);
        for i in 0..RANDOM_BODIES {
            let mut body = plausible(&face.spec, input, "", known, rng, 0);
            if let (Some(id), Some(obj)) = (&upload, body.as_object_mut()) {
                if obj.contains_key("uploadId") && rng.gen_bool(0.7) {
                    obj.insert("uploadId".into(), json!(id));
                }
            }
            let what = format!("random {i}");
            send(app, face, action, &what, body.to_string().as_bytes(), tally).await;
        }
    }
}
