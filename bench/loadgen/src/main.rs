//! Load generator for berth's benchmark harness (`bench/run.sh`).
//!
//! One binary drives every system the same way: the ECR face (berth, moto) with
//! SigV4-signed AWS JSON 1.1 requests, and the registry face (berth `/v2/`,
//! distribution's `docker-registry`) with plain HTTP. `seed` prepares a repository once;
//! `run` measures one scenario at one concurrency for a fixed duration and prints one
//! JSON line: requests, errors, throughput and p50/p99 latency.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow_lite::{bail, Result};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use base64::Engine as _;
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// Minimal error plumbing (no extra dependency).
mod anyhow_lite {
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
    pub type Result<T> = std::result::Result<T, Error>;
    macro_rules! bail {
        ($($t:tt)*) => { return Err(format!($($t)*).into()) };
    }
    pub(crate) use bail;
}

const REGION: &str = "us-east-1";
const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum System {
    /// berth's ECR face (SigV4, strict mode)
    Berth,
    /// moto_server's ECR
    Moto,
    /// berth's registry face (/v2/, Basic auth with a GetAuthorizationToken password)
    BerthOci,
    /// distribution's docker-registry (/v2/, no auth)
    Registry,
}

impl System {
    fn is_ecr(self) -> bool {
        matches!(self, System::Berth | System::Moto)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// ECR PutImage, a distinct manifest under a distinct tag per request (fresh repository per run)
    PutImage,
    /// ECR BatchGetImage of one image by tag, random among the seeded images
    BatchGetTag,
    /// ECR BatchGetImage of one image by digest, random among the seeded images
    BatchGetDigest,
    /// ECR DescribeImages, first page (maxResults 100)
    DescribeImages,
    /// /v2/ manifest PUT, a distinct manifest under a distinct tag per request (fresh repository per run)
    OciPutManifest,
    /// /v2/ manifest GET by tag, random among the seeded images
    OciGetManifest,
    /// /v2/ blob upload, monolithic (POST then one PUT ?digest= with the whole blob)
    BlobUploadMono,
    /// /v2/ blob upload, chunked (POST, PATCH chunks, PUT ?digest=)
    BlobUploadChunked,
    /// /v2/ blob GET of the large blob
    BlobGet,
}

#[derive(Parser, Debug)]
#[command(about = "berth benchmark load generator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Debug, Clone)]
struct Target {
    /// base URL, e.g. http://127.0.0.1:5000
    #[arg(long)]
    url: String,
    #[arg(long, value_enum)]
    system: System,
    /// repository name
    #[arg(long)]
    repo: String,
    /// SigV4 access key (berth strict mode; moto accepts anything)
    #[arg(long, env = "BENCH_ACCESS_KEY_ID", default_value = "AKIDBENCH")]
    access_key: String,
    #[arg(long, env = "BENCH_SECRET_ACCESS_KEY", default_value = "bench-secret")]
    secret_key: String,
    /// images seeded in the repository (seed: how many to create; run: how many to pick from)
    #[arg(long, default_value_t = 0)]
    images: usize,
    /// size of the large blob in MiB (blob scenarios)
    #[arg(long, default_value_t = 256)]
    blob_mib: usize,
    /// chunk size in MiB for the chunked upload
    #[arg(long, default_value_t = 16)]
    chunk_mib: usize,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// create the repository, upload the small blobs, put --images images tagged img-<i>
    Seed {
        #[command(flatten)]
        t: Target,
        /// also upload the large blob (blob-get)
        #[arg(long)]
        large_blob: bool,
    },
    /// measure one scenario; prints one JSON line
    Run {
        #[command(flatten)]
        t: Target,
        #[arg(long, value_enum)]
        scenario: Scenario,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// seconds
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
}

struct Ctx {
    t: Target,
    http: reqwest::Client,
    host: String,
    /// Basic credentials for berth's /v2/
    basic: Option<String>,
    config: Bytes,
    layer: Bytes,
}

fn sha256_digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// The small config and layer every manifest references (fixed bytes: seeding is idempotent).
fn small_blobs() -> (Bytes, Bytes) {
    let config = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#,
    );
    let layer: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    (config, Bytes::from(layer))
}

/// A small OCI image manifest referencing the two blobs, made distinct by an annotation.
fn manifest(ctx: &Ctx, key: &str, value: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": sha256_digest(&ctx.config), "size": ctx.config.len()},
        "layers": [{"mediaType": LAYER_TYPE, "digest": sha256_digest(&ctx.layer), "size": ctx.layer.len()}],
        "annotations": {key: value},
    }))
    .expect("json")
}

fn seed_manifest(ctx: &Ctx, i: usize) -> Vec<u8> {
    manifest(ctx, "bench.seed", &i.to_string())
}

fn sign_headers(ctx: &Ctx, target: &str, body: &[u8]) -> Vec<(String, String)> {
    let base = vec![
        ("host".to_owned(), ctx.host.clone()),
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        ("x-amz-target".to_owned(), target.to_owned()),
    ];
    let identity =
        Credentials::new(&ctx.t.access_key, &ctx.t.secret_key, None, None, "bench").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("ecr")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let url = format!("http://{}/", ctx.host);
    let signable = SignableRequest::new(
        "POST",
        &url,
        base.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut headers: Vec<(String, String)> =
        base.into_iter().filter(|(k, _)| k != "host").collect();
    for (k, v) in instructions.headers() {
        headers.push((k.to_owned(), v.to_owned()));
    }
    headers
}

/// One signed ECR call; Ok(body) on 200, Err(status + body) otherwise.
async fn ecr(ctx: &Ctx, action: &str, body: Value) -> Result<Value> {
    let body = serde_json::to_vec(&body)?;
    let target = format!("{TARGET_PREFIX}{action}");
    let mut req = ctx.http.post(format!("{}/", ctx.t.url));
    for (k, v) in sign_headers(ctx, &target, &body) {
        req = req.header(k, v);
    }
    let resp = req.body(body).send().await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if !status.is_success() {
        bail!(
            "{action}: HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
    }
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn v2(ctx: &Ctx, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}{}", ctx.t.url, path)
    };
    let req = ctx.http.request(method, url);
    match &ctx.basic {
        Some(pw) => req.basic_auth("AWS", Some(pw)),
        None => req,
    }
}

async fn expect_ok(resp: reqwest::Response, what: &str) -> Result<reqwest::Response> {
    let status = resp.status();
    if !status.is_success() {
        let b = resp.bytes().await.unwrap_or_default();
        bail!(
            "{what}: HTTP {status}: {}",
            String::from_utf8_lossy(&b[..b.len().min(300)])
        );
    }
    Ok(resp)
}

fn location(ctx: &Ctx, resp: &reqwest::Response) -> Result<String> {
    let loc = resp
        .headers()
        .get("location")
        .ok_or("no Location")?
        .to_str()?
        .to_owned();
    Ok(if loc.starts_with('/') {
        format!("{}{}", ctx.t.url, loc)
    } else {
        loc
    })
}

fn with_digest(loc: &str, digest: &str) -> String {
    let sep = if loc.contains('?') { '&' } else { '?' };
    format!("{loc}{sep}digest={digest}")
}

/// Registry face: monolithic upload (POST, then PUT ?digest= with the body).
async fn v2_upload_mono(ctx: &Ctx, repo: &str, blob: Bytes, digest: &str) -> Result<()> {
    let r = v2(
        ctx,
        reqwest::Method::POST,
        &format!("/v2/{repo}/blobs/uploads/"),
    )
    .header("content-length", "0")
    .send()
    .await?;
    let r = expect_ok(r, "start upload").await?;
    let loc = location(ctx, &r)?;
    let r = v2(ctx, reqwest::Method::PUT, &with_digest(&loc, digest))
        .header("content-type", "application/octet-stream")
        .body(blob)
        .send()
        .await?;
    expect_ok(r, "finish upload").await?;
    Ok(())
}

/// Registry face: chunked upload (POST, PATCH per chunk with Content-Range, PUT ?digest=).
async fn v2_upload_chunked(
    ctx: &Ctx,
    repo: &str,
    blob: Bytes,
    digest: &str,
    chunk: usize,
) -> Result<()> {
    let r = v2(
        ctx,
        reqwest::Method::POST,
        &format!("/v2/{repo}/blobs/uploads/"),
    )
    .header("content-length", "0")
    .send()
    .await?;
    let r = expect_ok(r, "start upload").await?;
    let mut loc = location(ctx, &r)?;
    let mut off = 0;
    while off < blob.len() {
        let end = (off + chunk).min(blob.len());
        let r = v2(ctx, reqwest::Method::PATCH, &loc)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{}-{}", off, end - 1))
            .body(blob.slice(off..end))
            .send()
            .await?;
        let r = expect_ok(r, "patch").await?;
        loc = location(ctx, &r)?;
        off = end;
    }
    let r = v2(ctx, reqwest::Method::PUT, &with_digest(&loc, digest))
        .header("content-length", "0")
        .send()
        .await?;
    expect_ok(r, "finish chunked upload").await?;
    Ok(())
}

/// ECR face: InitiateLayerUpload / UploadLayerPart / CompleteLayerUpload (small blobs: one part).
async fn ecr_upload(ctx: &Ctx, repo: &str, blob: &[u8]) -> Result<()> {
    let digest = sha256_digest(blob);
    let avail = ecr(
        ctx,
        "BatchCheckLayerAvailability",
        json!({"repositoryName": repo, "layerDigests": [digest]}),
    )
    .await?;
    if avail["layers"][0]["layerAvailability"] == "AVAILABLE" {
        return Ok(());
    }
    let init = ecr(ctx, "InitiateLayerUpload", json!({"repositoryName": repo})).await?;
    let id = init["uploadId"].as_str().ok_or("no uploadId")?.to_owned();
    ecr(
        ctx,
        "UploadLayerPart",
        json!({"repositoryName": repo, "uploadId": id, "partFirstByte": 0, "partLastByte": blob.len() - 1,
               "layerPartBlob": base64::engine::general_purpose::STANDARD.encode(blob)}),
    )
    .await?;
    ecr(
        ctx,
        "CompleteLayerUpload",
        json!({"repositoryName": repo, "uploadId": id, "layerDigests": [digest]}),
    )
    .await?;
    Ok(())
}

/// Creates the repository (ECR face; berth's registry face needs it too) and puts the blobs.
async fn prepare_repo(ctx: &Ctx, repo: &str) -> Result<()> {
    if ctx.t.system != System::Registry {
        if let Err(e) = ecr(ctx, "CreateRepository", json!({"repositoryName": repo})).await {
            if !e.to_string().contains("RepositoryAlreadyExists") {
                return Err(e);
            }
        }
    }
    match ctx.t.system {
        // moto does not implement the layer-upload actions (NotImplementedError) and does
        // not check referenced blobs, so there is nothing to upload.
        System::Moto => {}
        System::Berth => {
            ecr_upload(ctx, repo, &ctx.config).await?;
            ecr_upload(ctx, repo, &ctx.layer).await?;
        }
        System::BerthOci | System::Registry => {
            v2_upload_mono(ctx, repo, ctx.config.clone(), &sha256_digest(&ctx.config)).await?;
            v2_upload_mono(ctx, repo, ctx.layer.clone(), &sha256_digest(&ctx.layer)).await?;
        }
    }
    Ok(())
}

async fn put_image(ctx: &Ctx, repo: &str, tag: &str, m: Vec<u8>) -> Result<()> {
    if ctx.t.system.is_ecr() {
        let digest = sha256_digest(&m);
        ecr(
            ctx,
            "PutImage",
            json!({"repositoryName": repo, "imageTag": tag, "imageDigest": digest,
                   "imageManifest": String::from_utf8(m)?, "imageManifestMediaType": MANIFEST_TYPE}),
        )
        .await?;
    } else {
        let r = v2(
            ctx,
            reqwest::Method::PUT,
            &format!("/v2/{repo}/manifests/{tag}"),
        )
        .header("content-type", MANIFEST_TYPE)
        .body(m)
        .send()
        .await?;
        expect_ok(r, "manifest PUT").await?;
    }
    Ok(())
}

/// Deterministic large blob (xorshift bytes) of `mib` MiB.
fn large_blob(mib: usize) -> (Bytes, String) {
    let mut v = vec![0u8; mib << 20];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for c in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
    }
    let d = sha256_digest(&v);
    (Bytes::from(v), d)
}

async fn seed(ctx: Arc<Ctx>, large: bool) -> Result<()> {
    let repo = ctx.t.repo.clone();
    prepare_repo(&ctx, &repo).await?;
    let next = Arc::new(AtomicU64::new(0));
    let n = ctx.t.images as u64;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (ctx, next, repo) = (ctx.clone(), next.clone(), repo.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), anyhow_lite::Error>(());
                }
                let m = seed_manifest(&ctx, i as usize);
                if let Err(e) = put_image(&ctx, &repo, &format!("img-{i}"), m).await {
                    // re-seeding an existing repository: the image is already there
                    if !e.to_string().contains("ImageAlreadyExists") {
                        return Err(e);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    if large {
        let (blob, digest) = large_blob(ctx.t.blob_mib);
        v2_upload_mono(&ctx, &repo, blob, &digest).await?;
    }
    eprintln!("seeded {} with {} images", repo, n);
    Ok(())
}

/// Per-run state shared by the workers.
struct RunState {
    repo: String,
    run_id: String,
    counter: AtomicU64,
    digests: Vec<String>,
    blob: Option<(Bytes, String)>,
}

async fn one_request(ctx: &Ctx, st: &RunState, sc: Scenario) -> Result<u64> {
    let repo = &st.repo;
    match sc {
        Scenario::PutImage | Scenario::OciPutManifest => {
            let n = st.counter.fetch_add(1, Ordering::Relaxed);
            let m = manifest(ctx, "bench.put", &format!("{}-{n}", st.run_id));
            put_image(ctx, repo, &format!("p{}-{n}", st.run_id), m).await?;
            Ok(0)
        }
        Scenario::BatchGetTag | Scenario::BatchGetDigest => {
            let i = rand::thread_rng().gen_range(0..st.digests.len());
            let id = if sc == Scenario::BatchGetTag {
                json!({"imageTag": format!("img-{i}")})
            } else {
                json!({"imageDigest": st.digests[i]})
            };
            let r = ecr(
                ctx,
                "BatchGetImage",
                json!({"repositoryName": repo, "imageIds": [id]}),
            )
            .await?;
            if r["images"].as_array().map_or(0, |a| a.len()) != 1 {
                bail!("BatchGetImage returned no image: {}", r);
            }
            Ok(0)
        }
        Scenario::DescribeImages => {
            let r = ecr(
                ctx,
                "DescribeImages",
                json!({"repositoryName": repo, "maxResults": 100}),
            )
            .await?;
            if r["imageDetails"].as_array().map_or(0, |a| a.len()) == 0 {
                bail!("DescribeImages returned nothing");
            }
            Ok(0)
        }
        Scenario::OciGetManifest => {
            let i = rand::thread_rng().gen_range(0..st.digests.len());
            let r = v2(
                ctx,
                reqwest::Method::GET,
                &format!("/v2/{repo}/manifests/img-{i}"),
            )
            .header("accept", MANIFEST_TYPE)
            .send()
            .await?;
            let r = expect_ok(r, "manifest GET").await?;
            let b = r.bytes().await?;
            if sha256_digest(&b) != st.digests[i] {
                bail!("manifest GET returned other bytes");
            }
            Ok(0)
        }
        Scenario::BlobUploadMono | Scenario::BlobUploadChunked => {
            let (blob, digest) = st.blob.as_ref().expect("blob");
            if sc == Scenario::BlobUploadMono {
                v2_upload_mono(ctx, repo, blob.clone(), digest).await?;
            } else {
                v2_upload_chunked(ctx, repo, blob.clone(), digest, ctx.t.chunk_mib << 20).await?;
            }
            Ok(blob.len() as u64)
        }
        Scenario::BlobGet => {
            let (blob, digest) = st.blob.as_ref().expect("blob");
            let r = v2(
                ctx,
                reqwest::Method::GET,
                &format!("/v2/{repo}/blobs/{digest}"),
            )
            .send()
            .await?;
            let mut r = expect_ok(r, "blob GET").await?;
            let mut n = 0u64;
            while let Some(c) = r.chunk().await? {
                n += c.len() as u64;
            }
            if n != blob.len() as u64 {
                bail!("blob GET: {n} bytes, expected {}", blob.len());
            }
            Ok(n)
        }
    }
}

async fn run(ctx: Arc<Ctx>, sc: Scenario, conc: usize, secs: f64) -> Result<Value> {
    let run_id = format!(
        "{:x}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_micros()
    );
    let mut repo = ctx.t.repo.clone();
    // Writes go to a fresh repository per run, so every run starts from the same state.
    if matches!(sc, Scenario::PutImage | Scenario::OciPutManifest) {
        repo = format!("{}-{run_id}", ctx.t.repo);
        prepare_repo(&ctx, &repo).await?;
    }
    let digests = (0..ctx.t.images)
        .map(|i| sha256_digest(&seed_manifest(&ctx, i)))
        .collect::<Vec<_>>();
    if matches!(
        sc,
        Scenario::BatchGetTag | Scenario::BatchGetDigest | Scenario::OciGetManifest
    ) && digests.is_empty()
    {
        bail!("--images must name how many images were seeded");
    }
    let blob = if matches!(
        sc,
        Scenario::BlobUploadMono | Scenario::BlobUploadChunked | Scenario::BlobGet
    ) {
        Some(large_blob(ctx.t.blob_mib))
    } else {
        None
    };
    let st = Arc::new(RunState {
        repo,
        run_id,
        counter: AtomicU64::new(0),
        digests,
        blob,
    });
    // one unmeasured request per worker as warm-up (connections, caches)
    for _ in 0..conc.min(2) {
        if !matches!(
            sc,
            Scenario::BlobUploadMono | Scenario::BlobUploadChunked | Scenario::BlobGet
        ) {
            one_request(&ctx, &st, sc).await?;
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (ctx, st, stop) = (ctx.clone(), st.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
            let (mut ok, mut err, mut bytes) = (0u64, 0u64, 0u64);
            let mut first_err: Option<String> = None;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let t0 = Instant::now();
                match one_request(&ctx, &st, sc).await {
                    Ok(b) => {
                        h.saturating_record(t0.elapsed().as_micros() as u64);
                        ok += 1;
                        bytes += b;
                    }
                    Err(e) => {
                        err += 1;
                        if first_err.is_none() {
                            first_err = Some(e.to_string());
                        }
                        if err > 1000 && ok == 0 {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            (h, ok, err, bytes, first_err, Instant::now())
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
    let (mut ok, mut err, mut bytes) = (0u64, 0u64, 0u64);
    let mut first_err = None;
    let mut end = start;
    for t in tasks {
        let (h, o, e, b, fe, fin) = t.await.map_err(|e| e.to_string())?;
        hist.add(&h).expect("hist add");
        ok += o;
        err += e;
        bytes += b;
        end = end.max(fin);
        if first_err.is_none() {
            first_err = fe;
        }
    }
    // Elapsed runs to the last completion: a request in flight at the deadline is counted.
    let elapsed = (end - start).as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    if let Some(e) = &first_err {
        eprintln!("loadgen: {err} errors, first: {e}");
    }
    Ok(json!({
        "scenario": format!("{sc:?}"),
        "system": format!("{:?}", ctx.t.system),
        "concurrency": conc,
        "duration_s": elapsed,
        "requests": ok,
        "errors": err,
        "rps": ok as f64 / elapsed,
        "mb_per_s": bytes as f64 / elapsed / 1_048_576.0,
        "p50_ms": hist.value_at_quantile(0.50) as f64 / 1000.0,
        "p99_ms": hist.value_at_quantile(0.99) as f64 / 1000.0,
        "first_error": first_err,
        // the load generator's own CPU use: on a small machine it competes with the target
        "loadgen_cpu_share": cpu / elapsed,
    }))
}

/// User + system CPU time of this process (Linux /proc; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

async fn make_ctx(t: Target) -> Result<Arc<Ctx>> {
    let host = t
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(600))
        .build()?;
    let (config, layer) = small_blobs();
    let mut ctx = Ctx {
        t,
        http,
        host,
        basic: None,
        config,
        layer,
    };
    if ctx.t.system == System::BerthOci {
        // the password the registry face takes: base64-decoded token minus "AWS:"
        let tok = ecr(&ctx, "GetAuthorizationToken", json!({})).await?;
        let b64 = tok["authorizationData"][0]["authorizationToken"]
            .as_str()
            .ok_or("no token")?;
        let dec = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64)?)?;
        ctx.basic = Some(
            dec.strip_prefix("AWS:")
                .ok_or("token without AWS:")?
                .to_owned(),
        );
    }
    Ok(Arc::new(ctx))
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let res: Result<()> = async {
        match cli.cmd {
            Cmd::Seed { t, large_blob } => seed(make_ctx(t).await?, large_blob).await,
            Cmd::Run {
                t,
                scenario,
                concurrency,
                duration,
            } => {
                let v = run(make_ctx(t).await?, scenario, concurrency, duration).await?;
                println!("{v}");
                Ok(())
            }
        }
    }
    .await;
    if let Err(e) = res {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}
