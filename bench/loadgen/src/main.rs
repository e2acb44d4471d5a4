//! Load generator for berth's benchmark harness (`bench/run.sh`).
//!
//! One binary drives every system the same way: the ECR face (berth, moto) with
//! SigV4-signed AWS JSON 1.1 requests, and the registry face (berth `/v2/`,
//! distribution's `docker-registry`) with plain HTTP. `seed` prepares a repository once;
//! `run` measures one scenario at one concurrency for a fixed duration and prints one
//! JSON line: requests, errors, throughput, p50/p99 latency and, with `--watch-pid`, the
//! server's resident memory before, during (peak) and after. `calibrate` measures the
//! machine's limits in the same run: SHA-256 on one core and loopback TCP throughput;
//! `fsync` the rate of small durable writes in a directory. `serve-file` is the plain
//! loopback sender blob GET is set against; `seed-repos` creates many repositories.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow_lite::{bail, Result};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
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
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

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
    /// `berth-loadgen serve-file`: any GET answers with one file's bytes (blob-get only)
    Plain,
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
    /// ECR ListImages, first page (maxResults 100)
    ListImages,
    /// /v2/ manifest PUT, a distinct manifest under a distinct tag per request (fresh repository per run)
    OciPutManifest,
    /// /v2/ manifest GET by tag, random among the seeded images
    OciGetManifest,
    /// /v2/ blob upload, monolithic (POST then one PUT ?digest= with the whole blob)
    BlobUploadMono,
    /// /v2/ blob upload, chunked (POST, PATCH chunks with Content-Range, PUT ?digest=)
    BlobUploadChunked,
    /// /v2/ blob upload, streamed as `docker push` does (POST, one PATCH whose body is
    /// sent with chunked transfer encoding, no length known up front, PUT ?digest=)
    BlobUploadStream,
    /// /v2/ blob GET of the large blob
    BlobGet,
    /// ECR DescribeRepositories, first page (maxResults 100)
    DescribeRepositories,
    /// /v2/_catalog, first page (n=100)
    OciCatalog,
    /// PutImage (ECR) or manifest PUT (/v2/) of a distinct manifest with --wide layers
    /// (fresh repository per run, its layers uploaded first)
    PutImageLayers,
    /// PutImage (ECR) or manifest PUT (/v2/) of a distinct image index with --wide
    /// children (fresh repository per run, its children put first, untagged)
    PutImageIndex,
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
    /// layers of the put-image-layers manifest, children of the put-image-index index
    #[arg(long, default_value_t = 1000)]
    wide: usize,
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
        /// requests in flight while seeding
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
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
        /// the server's process id: report its resident memory (VmRSS before and after,
        /// peak from VmHWM after resetting it, and sampled)
        #[arg(long)]
        watch_pid: Option<u32>,
        /// the server's process id: report the CPU time it used while measured
        #[arg(long)]
        cpu_pid: Option<u32>,
        /// a command name (as in /proc/<pid>/comm, e.g. postgres): report the CPU time
        /// every process of that name used while measured (the server's database)
        #[arg(long)]
        db_comm: Option<String>,
    },
    /// measure the machine's limits; prints one JSON line
    Calibrate {
        /// MiB hashed with SHA-256 (the sha2 crate berth uses), on one core
        #[arg(long, default_value_t = 1024)]
        sha_mib: usize,
        /// parallel loopback TCP streams, one measurement per value
        #[arg(long, value_delimiter = ',', default_value = "1")]
        streams: Vec<usize>,
        /// seconds per loopback measurement
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
    },
    /// the time of a loopback TCP round trip with nothing done at either end: one thread
    /// sends 64 bytes, another answers them, one at a time; prints one JSON line
    RoundTrip {
        /// seconds
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
    },
    /// the rate of small write + fdatasync calls on a file in --dir; prints one JSON line
    Fsync {
        /// a directory on the file system to measure (the file is removed afterwards)
        #[arg(long)]
        dir: std::path::PathBuf,
        /// seconds per measurement (overwrite, then append)
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
        /// bytes per write
        #[arg(long, default_value_t = 4096)]
        block: usize,
    },
    /// a plain HTTP/1.1 sender: GET /healthz answers 200, any other GET the file's bytes
    /// with Content-Length, copied file to socket by the kernel (sendfile on Linux)
    ServeFile {
        #[arg(long)]
        file: std::path::PathBuf,
        /// address to listen on, e.g. 127.0.0.1:8080
        #[arg(long)]
        listen: String,
    },
    /// prints the digest of the large blob of --blob-mib MiB (to find a stored copy)
    BlobDigest {
        #[arg(long, default_value_t = 256)]
        blob_mib: usize,
    },
    /// creates repositories <repo>-000000 .. through CreateRepository (ECR face)
    SeedRepos {
        #[command(flatten)]
        t: Target,
        /// how many repositories
        #[arg(long)]
        count: usize,
        /// requests in flight
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
}

struct Ctx {
    t: Target,
    /// the blob flows' client
    http: reqwest::Client,
    /// idle connections of the small requests (`Ctx::call`)
    lanes: Mutex<Vec<Lane>>,
    host: String,
    host_header: HeaderValue,
    identity: Identity,
    /// the Authorization header of berth's /v2/ (Basic, the GetAuthorizationToken password)
    basic: Option<HeaderValue>,
    config: Bytes,
    config_digest: String,
    layer: Bytes,
    layer_digest: String,
}

/// A keep-alive HTTP/1.1 connection for the small requests (ECR calls, manifests,
/// listings). On a 2-core machine the load generator's CPU is taken from the server it
/// measures; through reqwest (its URL parsing, pool and per-request timer) a small
/// request cost it 17-27 µs more (BENCHMARKS.md). The blob flows, where a request's own
/// cost is nothing beside its bytes, stay on reqwest.
type Lane = SendRequest<Full<Bytes>>;

/// How long a small request may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(600);

impl Ctx {
    /// Sends one small request on an idle connection (or a new one); its status and body.
    async fn call(&self, mut req: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes)> {
        req.headers_mut().insert(HOST, self.host_header.clone());
        let mut lane = self.lane().await?;
        let (status, body) = tokio::time::timeout(CALL_TIMEOUT, async {
            let resp = lane.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow_lite::Error>((status, body))
        })
        .await
        .map_err(|_| "request timed out")??;
        self.lanes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(lane);
        Ok((status, body))
    }

    /// An idle connection ready for a request, or a new one (a server may have closed
    /// an idle one: nothing has been sent on it yet, so another is as good).
    async fn lane(&self) -> Result<Lane> {
        loop {
            let idle = self.lanes.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(mut lane) = idle else { break };
            if lane.ready().await.is_ok() {
                return Ok(lane);
            }
        }
        let tcp = tokio::net::TcpStream::connect(&self.host).await?;
        tcp.set_nodelay(true)?;
        let (mut lane, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        lane.ready().await?;
        Ok(lane)
    }
}

/// The body of a successful response, or `refused`.
fn success(what: &str, (status, body): (StatusCode, Bytes)) -> Result<Bytes> {
    if !status.is_success() {
        return Err(refused(what, status, &body));
    }
    Ok(body)
}

/// An error naming `what`, with the response's status and the start of its body.
fn refused(what: &str, status: StatusCode, body: &[u8]) -> anyhow_lite::Error {
    format!(
        "{what}: HTTP {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    )
    .into()
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
        "config": {"mediaType": CONFIG_TYPE, "digest": ctx.config_digest, "size": ctx.config.len()},
        "layers": [{"mediaType": LAYER_TYPE, "digest": ctx.layer_digest, "size": ctx.layer.len()}],
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
    let params = SigningParams::builder()
        .identity(&ctx.identity)
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
    let mut req = Request::post("/");
    for (k, v) in sign_headers(ctx, &target, &body) {
        req = req.header(k, v);
    }
    let bytes = success(action, ctx.call(req.body(Full::from(body))?).await?)?;
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
        Some(auth) => req.header(AUTHORIZATION, auth.clone()),
        None => req,
    }
}

/// A small /v2/ request, with berth's credentials.
fn v2_call(ctx: &Ctx, method: Method, path: &str) -> http::request::Builder {
    let req = Request::builder().method(method).uri(path);
    match &ctx.basic {
        Some(auth) => req.header(AUTHORIZATION, auth.clone()),
        None => req,
    }
}

async fn expect_ok(resp: reqwest::Response, what: &str) -> Result<reqwest::Response> {
    let status = resp.status();
    if !status.is_success() {
        return Err(refused(
            what,
            status,
            &resp.bytes().await.unwrap_or_default(),
        ));
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

/// Registry face: streamed upload (POST, one PATCH sent with chunked transfer encoding,
/// PUT ?digest=), the way `docker push` sends a layer.
async fn v2_upload_stream(ctx: &Ctx, repo: &str, blob: Bytes, digest: &str) -> Result<()> {
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
    // 1 MiB pieces handed over one by one: the client never states the length
    const PIECE: usize = 1 << 20;
    let pieces = (0..blob.len().div_ceil(PIECE)).map(move |i| {
        Ok::<Bytes, std::io::Error>(blob.slice(i * PIECE..((i + 1) * PIECE).min(blob.len())))
    });
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(pieces));
    let r = v2(ctx, reqwest::Method::PATCH, &loc)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await?;
    let r = expect_ok(r, "streamed patch").await?;
    let loc = location(ctx, &r)?;
    let r = v2(ctx, reqwest::Method::PUT, &with_digest(&loc, digest))
        .header("content-length", "0")
        .send()
        .await?;
    expect_ok(r, "finish streamed upload").await?;
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
        // not check referenced blobs, so there is nothing to upload; the plain sender
        // has no repositories.
        System::Moto | System::Plain => {}
        System::Berth => {
            ecr_upload(ctx, repo, &ctx.config).await?;
            ecr_upload(ctx, repo, &ctx.layer).await?;
        }
        System::BerthOci | System::Registry => {
            v2_upload_mono(ctx, repo, ctx.config.clone(), &ctx.config_digest).await?;
            v2_upload_mono(ctx, repo, ctx.layer.clone(), &ctx.layer_digest).await?;
        }
    }
    Ok(())
}

async fn put_image(ctx: &Ctx, repo: &str, tag: &str, m: Vec<u8>) -> Result<()> {
    put_manifest(ctx, repo, Some(tag), m, MANIFEST_TYPE).await
}

/// PutImage (ECR face) or manifest PUT (/v2/), tagged or by digest alone.
async fn put_manifest(
    ctx: &Ctx,
    repo: &str,
    tag: Option<&str>,
    m: Vec<u8>,
    media_type: &str,
) -> Result<()> {
    let digest = sha256_digest(&m);
    if ctx.t.system.is_ecr() {
        let mut body = json!({"repositoryName": repo, "imageDigest": digest,
               "imageManifest": String::from_utf8(m)?, "imageManifestMediaType": media_type});
        if let Some(tag) = tag {
            body["imageTag"] = json!(tag);
        }
        ecr(ctx, "PutImage", body).await?;
    } else {
        let path = format!("/v2/{repo}/manifests/{}", tag.unwrap_or(&digest));
        let req = v2_call(ctx, Method::PUT, &path)
            .header(CONTENT_TYPE, media_type)
            .body(Full::from(m))?;
        success("manifest PUT", ctx.call(req).await?)?;
    }
    Ok(())
}

/// The i-th distinct small layer of the wide manifest.
fn wide_layer(i: usize) -> Bytes {
    Bytes::from(format!("berth bench wide layer {i:08}\n").repeat(2))
}

/// Runs `f(i)` for i in 0..n with `conc` in flight; the first error wins.
async fn for_each_concurrent<F, Fut>(n: usize, conc: usize, f: F) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    use futures_util::StreamExt as _;
    let mut results = futures_util::stream::iter((0..n).map(f)).buffer_unordered(conc.max(1));
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}

/// Prepares a fresh repository for a wide put and returns the JSON text of the manifest
/// or index up to its distinguishing annotation's value: every layer uploaded (or every
/// child manifest put, untagged) first, so each measured request is one put.
async fn prepare_wide(ctx: &Ctx, repo: &str, sc: Scenario) -> Result<String> {
    let n = ctx.t.wide;
    let descriptors: Vec<Value> = if sc == Scenario::PutImageLayers {
        for_each_concurrent(n, 16, |i| async move {
            let blob = wide_layer(i);
            match ctx.t.system {
                System::Moto => Ok(()),
                System::Berth => ecr_upload(ctx, repo, &blob).await,
                _ => {
                    let d = sha256_digest(&blob);
                    v2_upload_mono(ctx, repo, blob, &d).await
                }
            }
        })
        .await?;
        (0..n)
            .map(|i| {
                let b = wide_layer(i);
                json!({"mediaType": LAYER_TYPE, "digest": sha256_digest(&b), "size": b.len()})
            })
            .collect()
    } else {
        let child = |i: usize| manifest(ctx, "bench.child", &i.to_string());
        for_each_concurrent(n, 16, |i| async move {
            put_manifest(ctx, repo, None, child(i), MANIFEST_TYPE).await
        })
        .await?;
        (0..n)
            .map(|i| {
                let m = child(i);
                json!({"mediaType": MANIFEST_TYPE, "digest": sha256_digest(&m), "size": m.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}})
            })
            .collect()
    };
    let doc = if sc == Scenario::PutImageLayers {
        json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": ctx.config_digest, "size": ctx.config.len()},
            "layers": descriptors,
        })
    } else {
        json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": descriptors})
    };
    // the annotation goes last, so each request appends its value and closes the document
    let text = serde_json::to_string(&doc)?;
    let open = text.strip_suffix('}').ok_or("not a JSON object")?;
    Ok(format!("{open},\"annotations\":{{\"bench.put\":\""))
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

/// Puts images img-0 .. img-<n-1>, each through the face's own write path (PutImage or
/// manifest PUT), `conc` requests in flight; a progress line every 10 s.
async fn seed(ctx: Arc<Ctx>, large: bool, conc: usize) -> Result<()> {
    let repo = ctx.t.repo.clone();
    prepare_repo(&ctx, &repo).await?;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let n = ctx.t.images as u64;
    let start = Instant::now();
    let progress = {
        let (done, repo) = (done.clone(), repo.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                let d = done.load(Ordering::Relaxed);
                let secs = start.elapsed().as_secs_f64();
                let rate = d as f64 / secs;
                let eta = if rate > 0.0 {
                    (n - d.min(n)) as f64 / rate
                } else {
                    0.0
                };
                eprintln!(
                    "seeding {repo}: {d}/{n} images, {rate:.0}/s, {secs:.0} s so far, about {eta:.0} s to go"
                );
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..conc.max(1) {
        let (ctx, next, done, repo) = (ctx.clone(), next.clone(), done.clone(), repo.clone());
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
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut res = Ok(());
    for t in tasks {
        if let Err(e) = t.await.map_err(|e| e.to_string().into()).and_then(|r| r) {
            res = Err(e);
        }
    }
    progress.abort();
    res?;
    let secs = start.elapsed().as_secs_f64();
    if large {
        let (blob, digest) = large_blob(ctx.t.blob_mib);
        v2_upload_mono(&ctx, &repo, blob, &digest).await?;
    }
    eprintln!(
        "seeded {repo} with {n} images in {secs:.1} s ({:.0}/s, {conc} in flight)",
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Per-run state shared by the workers.
struct RunState {
    repo: String,
    run_id: String,
    counter: AtomicU64,
    digests: Vec<String>,
    blob: Option<(Bytes, String)>,
    /// the wide manifest or index up to its annotation's value (prepare_wide)
    wide: Option<String>,
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
        Scenario::PutImageLayers | Scenario::PutImageIndex => {
            let n = st.counter.fetch_add(1, Ordering::Relaxed);
            let head = st.wide.as_deref().ok_or("no wide manifest prepared")?;
            let m = format!("{head}{}-{n}\"}}}}", st.run_id).into_bytes();
            let media_type = if sc == Scenario::PutImageLayers {
                MANIFEST_TYPE
            } else {
                INDEX_TYPE
            };
            let tag = format!("p{}-{n}", st.run_id);
            put_manifest(ctx, repo, Some(&tag), m, media_type).await?;
            Ok(0)
        }
        Scenario::DescribeRepositories => {
            let r = ecr(ctx, "DescribeRepositories", json!({"maxResults": 100})).await?;
            if r["repositories"].as_array().map_or(0, |a| a.len()) == 0 {
                bail!("DescribeRepositories returned nothing");
            }
            Ok(0)
        }
        Scenario::OciCatalog => {
            let req = v2_call(ctx, Method::GET, "/v2/_catalog?n=100").body(Full::default())?;
            let v: Value = serde_json::from_slice(&success("catalog", ctx.call(req).await?)?)?;
            if v["repositories"].as_array().map_or(0, |a| a.len()) == 0 {
                bail!("/v2/_catalog returned nothing");
            }
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
        Scenario::DescribeImages | Scenario::ListImages => {
            let (action, field) = if sc == Scenario::DescribeImages {
                ("DescribeImages", "imageDetails")
            } else {
                ("ListImages", "imageIds")
            };
            let r = ecr(
                ctx,
                action,
                json!({"repositoryName": repo, "maxResults": 100}),
            )
            .await?;
            if r[field].as_array().map_or(0, |a| a.len()) == 0 {
                bail!("{action} returned nothing");
            }
            Ok(0)
        }
        Scenario::OciGetManifest => {
            let i = rand::thread_rng().gen_range(0..st.digests.len());
            let req = v2_call(ctx, Method::GET, &format!("/v2/{repo}/manifests/img-{i}"))
                .header(ACCEPT, MANIFEST_TYPE)
                .body(Full::default())?;
            let b = success("manifest GET", ctx.call(req).await?)?;
            if sha256_digest(&b) != st.digests[i] {
                bail!("manifest GET returned other bytes");
            }
            Ok(0)
        }
        Scenario::BlobUploadMono | Scenario::BlobUploadChunked | Scenario::BlobUploadStream => {
            let (blob, digest) = st.blob.as_ref().expect("blob");
            match sc {
                Scenario::BlobUploadMono => v2_upload_mono(ctx, repo, blob.clone(), digest).await?,
                Scenario::BlobUploadChunked => {
                    v2_upload_chunked(ctx, repo, blob.clone(), digest, ctx.t.chunk_mib << 20)
                        .await?
                }
                _ => v2_upload_stream(ctx, repo, blob.clone(), digest).await?,
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

fn is_blob(sc: Scenario) -> bool {
    matches!(
        sc,
        Scenario::BlobUploadMono
            | Scenario::BlobUploadChunked
            | Scenario::BlobUploadStream
            | Scenario::BlobGet
    )
}

/// Whose CPU time `run` reports besides its own.
struct CpuWatch {
    server_pid: Option<u32>,
    db_comm: Option<String>,
}

impl CpuWatch {
    fn read(&self) -> (Option<f64>, Option<f64>) {
        (
            self.server_pid
                .and_then(|p| process_cpu_seconds(&p.to_string())),
            self.db_comm.as_deref().map(named_processes_cpu_seconds),
        )
    }
}

async fn run(
    ctx: Arc<Ctx>,
    sc: Scenario,
    conc: usize,
    secs: f64,
    watch_pid: Option<u32>,
    cpu_watch: CpuWatch,
) -> Result<Value> {
    let run_id = format!(
        "{:x}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_micros()
    );
    if ctx.t.system == System::Plain && sc != Scenario::BlobGet {
        bail!("the plain sender only answers blob-get");
    }
    let mut repo = ctx.t.repo.clone();
    // Writes go to a fresh repository per run, so every run starts from the same state.
    let wide = matches!(sc, Scenario::PutImageLayers | Scenario::PutImageIndex);
    if wide || matches!(sc, Scenario::PutImage | Scenario::OciPutManifest) {
        repo = format!("{}-{run_id}", ctx.t.repo);
        prepare_repo(&ctx, &repo).await?;
    }
    let wide = if wide {
        Some(prepare_wide(&ctx, &repo, sc).await?)
    } else {
        None
    };
    // the seeded images' digests, for the scenarios that pick one at random
    let picks = matches!(
        sc,
        Scenario::BatchGetTag | Scenario::BatchGetDigest | Scenario::OciGetManifest
    );
    let digests = if picks {
        (0..ctx.t.images)
            .map(|i| sha256_digest(&seed_manifest(&ctx, i)))
            .collect::<Vec<_>>()
    } else {
        Vec::new()
    };
    if picks && digests.is_empty() {
        bail!("--images must name how many images were seeded");
    }
    let blob = is_blob(sc).then(|| large_blob(ctx.t.blob_mib));
    let st = Arc::new(RunState {
        repo,
        run_id,
        counter: AtomicU64::new(0),
        digests,
        blob,
        wide,
    });
    // one unmeasured request per worker as warm-up (connections, caches)
    for _ in 0..conc.min(2) {
        if !is_blob(sc) {
            one_request(&ctx, &st, sc).await?;
        }
    }
    let watch = watch_pid.map(MemWatch::start);
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = cpu_seconds();
    let (server0, db0) = cpu_watch.read();
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
    let (server1, db1) = cpu_watch.read();
    let used = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
    let mem = watch.map(MemWatch::finish);
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
        // CPU seconds over the measured stretch: the server's, and its database's
        "server_cpu_s": used(server0, server1),
        "db_cpu_s": used(db0, db1),
        "rss": mem,
    }))
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn proc_mem(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Watches a server's resident memory during a measurement: the peak from `VmHWM` after
/// resetting it (`clear_refs` 5), and a sampled maximum as a cross-check (and fallback
/// where the reset is not allowed).
struct MemWatch {
    pid: u32,
    before_kib: u64,
    hwm_reset: bool,
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl MemWatch {
    fn start(pid: u32) -> Self {
        let before_kib = proc_mem(pid).map_or(0, |m| m.0);
        let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut max = 0;
            while !flag.load(Ordering::Relaxed) {
                max = max.max(proc_mem(pid).map_or(0, |m| m.0));
                std::thread::sleep(Duration::from_millis(10));
            }
            max
        });
        MemWatch {
            pid,
            before_kib,
            hwm_reset,
            stop,
            sampler,
        }
    }

    fn finish(self) -> Value {
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.sampler.join().unwrap_or(0);
        let (after, hwm) = proc_mem(self.pid).unwrap_or((0, 0));
        let peak = if self.hwm_reset {
            hwm.max(sampled)
        } else {
            sampled
        };
        json!({
            "pid": self.pid,
            "before_kib": self.before_kib,
            "peak_kib": peak,
            "sampled_peak_kib": sampled,
            "after_kib": after,
            "peak_from_hwm": self.hwm_reset,
        })
    }
}

/// The machine's limits, measured by this binary: SHA-256 on one core over `sha_mib` MiB,
/// and loopback TCP throughput with 1 MiB writes and reads for each stream count.
fn calibrate(sha_mib: usize, streams: &[usize], secs: f64) -> Value {
    use std::io::{Read, Write};
    let (blob, _) = large_blob(sha_mib.max(1));
    let t0 = Instant::now();
    let mut h = Sha256::new();
    for c in blob.chunks(1 << 20) {
        h.update(c);
    }
    std::hint::black_box(h.finalize());
    let sha = blob.len() as f64 / t0.elapsed().as_secs_f64() / 1_048_576.0;
    drop(blob);

    let mut loopback = Vec::new();
    for &n in streams {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(secs);
        let receivers: Vec<_> = (0..n)
            .map(|_| {
                let sender = std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).expect("connect");
                    let buf = vec![0x5au8; 1 << 20];
                    while Instant::now() < deadline {
                        if s.write_all(&buf).is_err() {
                            break;
                        }
                    }
                });
                let (mut conn, _) = listener.accept().expect("accept");
                let receiver = std::thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 20];
                    let mut total = 0u64;
                    while let Ok(k) = conn.read(&mut buf) {
                        if k == 0 {
                            break;
                        }
                        total += k as u64;
                    }
                    total
                });
                (sender, receiver)
            })
            .collect();
        let mut total = 0u64;
        for (s, r) in receivers {
            let _ = s.join();
            total += r.join().unwrap_or(0);
        }
        let mib_s = total as f64 / start.elapsed().as_secs_f64() / 1_048_576.0;
        loopback.push(json!({"streams": n, "mib_per_s": mib_s}));
    }
    json!({"sha256_mib_per_s": sha, "sha256_mib": sha_mib, "loopback": loopback})
}

/// The rate of durable small writes in `dir`: `block`-byte writes each followed by
/// `fdatasync`, one at a time for `secs` seconds, first overwriting a 1 MiB file written
/// beforehand in `block`-byte pieces, in a cycle (as a reused write-ahead log is
/// written), then appending to a new one
/// (each sync also commits the file's new size).
fn fsync_rate(dir: &std::path::Path, secs: f64, block: usize) -> Result<Value> {
    use std::os::unix::fs::FileExt as _;
    const SPAN: usize = 1 << 20;
    let block = block.clamp(1, SPAN);
    let buf = vec![0xa5u8; block];
    let mut rates = Vec::new();
    for append in [false, true] {
        let path = dir.join(format!(
            ".berth-loadgen-fsync-{}-{append}",
            std::process::id()
        ));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        let measured = (|| -> Result<f64> {
            let slots = (SPAN / block) as u64;
            if !append {
                // Filled a block at a time, as a log is: a file written in one large
                // write can sit in large page-cache folios, and on Linux 6.18's ext4
                // every small write into one walks all its blocks (8.7 µs a write
                // against 0.9, measured).
                for slot in 0..slots {
                    f.write_all_at(&buf, slot * block as u64)?;
                }
                f.sync_all()?;
            }
            let start = Instant::now();
            let deadline = start + Duration::from_secs_f64(secs);
            let mut n = 0u64;
            while Instant::now() < deadline {
                let off = if append { n } else { n % slots } * block as u64;
                f.write_all_at(&buf, off)?;
                f.sync_data()?;
                n += 1;
            }
            Ok(n as f64 / start.elapsed().as_secs_f64())
        })();
        let _ = std::fs::remove_file(&path);
        rates.push(measured?);
    }
    Ok(json!({
        "dir": dir.display().to_string(),
        "block_bytes": block,
        "seconds": secs,
        "overwrite_per_s": rates[0],
        "append_per_s": rates[1],
    }))
}

/// The plain sender: a thread per connection, keep-alive, every GET but /healthz answered
/// with the whole file, sent by `sendfile(2)` on Linux (the kernel copies from the page
/// cache to the socket; `std::io::copy` was seen to read and write 8 KiB at a time).
fn serve_file(file: std::path::PathBuf, listen: &str) -> Result<()> {
    let listener = std::net::TcpListener::bind(listen)?;
    std::fs::File::open(&file)?;
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let file = file.clone();
        std::thread::spawn(move || {
            if let Err(e) = serve_conn(conn, &file) {
                if e.kind() != std::io::ErrorKind::ConnectionReset
                    && e.kind() != std::io::ErrorKind::BrokenPipe
                {
                    eprintln!("serve-file: {e}");
                }
            }
        });
    }
    Ok(())
}

fn serve_conn(mut conn: std::net::TcpStream, file: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Read, Write};
    conn.set_nodelay(true)?;
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // one request head (GETs carry no body)
        let end = loop {
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if pending.len() > 64 << 10 {
                return Err(std::io::Error::other("request head too large"));
            }
            let k = conn.read(&mut buf)?;
            if k == 0 {
                return Ok(());
            }
            pending.extend_from_slice(&buf[..k]);
        };
        let head = String::from_utf8_lossy(&pending[..end]).into_owned();
        pending.drain(..end);
        let mut line = head.split_whitespace();
        let (method, path) = (line.next().unwrap_or(""), line.next().unwrap_or(""));
        if method != "GET" && method != "HEAD" {
            conn.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")?;
            continue;
        }
        if path == "/healthz" {
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
            continue;
        }
        let mut f = std::fs::File::open(file)?;
        let len = f.metadata()?.len();
        conn.write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {len}\r\n\r\n"
            )
            .as_bytes(),
        )?;
        if method == "GET" {
            send_file(&mut f, &mut conn, len)?;
        }
    }
}

#[cfg(target_os = "linux")]
fn send_file(
    f: &mut std::fs::File,
    conn: &mut std::net::TcpStream,
    len: u64,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let mut off: libc::off_t = 0;
    while (off as u64) < len {
        let want = (len - off as u64).min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the call; `off` is a valid offset cell.
        let n = unsafe { libc::sendfile(conn.as_raw_fd(), f.as_raw_fd(), &mut off, want) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::Error::other("file shrank while sent"));
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn send_file(
    f: &mut std::fs::File,
    conn: &mut std::net::TcpStream,
    len: u64,
) -> std::io::Result<()> {
    use std::io::Read as _;
    std::io::copy(&mut f.take(len), conn).map(|_| ())
}

/// Creates repositories `<repo>-000000` .. through CreateRepository, `conc` in flight.
async fn seed_repos(ctx: Arc<Ctx>, count: usize, conc: usize) -> Result<()> {
    let start = Instant::now();
    for_each_concurrent(count, conc, |i| {
        let ctx = ctx.clone();
        async move {
            let name = format!("{}-{i:06}", ctx.t.repo);
            match ecr(&ctx, "CreateRepository", json!({"repositoryName": name})).await {
                Err(e) if !e.to_string().contains("RepositoryAlreadyExists") => Err(e),
                _ => Ok(()),
            }
        }
    })
    .await?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "created {count} repositories in {secs:.1} s ({:.0}/s, {conc} in flight)",
        count as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// User + system CPU time of this process (Linux /proc; 0 elsewhere).
fn cpu_seconds() -> f64 {
    process_cpu_seconds("self").unwrap_or(0.0)
}

/// User and system CPU time of the process `pid` (a number or "self"), in seconds.
fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// The CPU time of every process named `comm`, in seconds. A process that exits between
/// two readings takes its time with it; one started between them counts all of its own.
fn named_processes_cpu_seconds(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .filter_map(|pid| process_cpu_seconds(&pid))
        .sum()
}

/// The mean time of a loopback TCP round trip of 64 bytes each way with nothing done at
/// either end (`TCP_NODELAY`, one at a time, blocking reads): what any server answering
/// a client on this machine pays per request before doing anything; and the CPU both
/// ends spend on it.
fn round_trip(secs: f64) -> Value {
    use std::io::{Read, Write};
    const BYTES: usize = 64;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let echo = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_nodelay(true).expect("nodelay");
        let mut buf = [0u8; BYTES];
        while conn.read_exact(&mut buf).is_ok() && conn.write_all(&buf).is_ok() {}
    });
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut buf = [0x5au8; BYTES];
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while Instant::now() < deadline {
        s.write_all(&buf).expect("send");
        s.read_exact(&mut buf).expect("answer");
        n += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    drop(s);
    let _ = echo.join();
    json!({"bytes": BYTES, "round_trips": n, "seconds": elapsed, "us": elapsed * 1e6 / n as f64,
           // both ends' CPU (their sends and receives) a round trip
           "cpu_us": cpu * 1e6 / n as f64})
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
    let identity = Credentials::new(&t.access_key, &t.secret_key, None, None, "bench").into();
    let mut ctx = Ctx {
        t,
        http,
        lanes: Mutex::new(Vec::new()),
        host_header: HeaderValue::from_str(&host)?,
        host,
        identity,
        basic: None,
        config_digest: sha256_digest(&config),
        config,
        layer_digest: sha256_digest(&layer),
        layer,
    };
    if ctx.t.system == System::BerthOci {
        // the password the registry face takes: base64-decoded token minus "AWS:"
        let tok = ecr(&ctx, "GetAuthorizationToken", json!({})).await?;
        let b64 = tok["authorizationData"][0]["authorizationToken"]
            .as_str()
            .ok_or("no token")?;
        let dec = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64)?)?;
        if !dec.starts_with("AWS:") {
            bail!("token without AWS:");
        }
        // the token is base64("AWS:<password>"), exactly what Basic sends
        ctx.basic = Some(HeaderValue::from_str(&format!("Basic {b64}"))?);
    }
    Ok(Arc::new(ctx))
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let res: Result<()> = async {
        match cli.cmd {
            Cmd::Seed {
                t,
                large_blob,
                concurrency,
            } => seed(make_ctx(t).await?, large_blob, concurrency).await,
            Cmd::Run {
                t,
                scenario,
                concurrency,
                duration,
                watch_pid,
                cpu_pid,
                db_comm,
            } => {
                let cpu_watch = CpuWatch {
                    server_pid: cpu_pid,
                    db_comm,
                };
                let v = run(
                    make_ctx(t).await?,
                    scenario,
                    concurrency,
                    duration,
                    watch_pid,
                    cpu_watch,
                )
                .await?;
                println!("{v}");
                Ok(())
            }
            Cmd::Calibrate {
                sha_mib,
                streams,
                duration,
            } => {
                let v = tokio::task::spawn_blocking(move || calibrate(sha_mib, &streams, duration))
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{v}");
                Ok(())
            }
            Cmd::RoundTrip { duration } => {
                let v = tokio::task::spawn_blocking(move || round_trip(duration))
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{v}");
                Ok(())
            }
            Cmd::Fsync {
                dir,
                duration,
                block,
            } => {
                let v = tokio::task::spawn_blocking(move || fsync_rate(&dir, duration, block))
                    .await
                    .map_err(|e| e.to_string())??;
                println!("{v}");
                Ok(())
            }
            Cmd::ServeFile { file, listen } => {
                tokio::task::spawn_blocking(move || serve_file(file, &listen))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Cmd::BlobDigest { blob_mib } => {
                println!("{}", large_blob(blob_mib).1);
                Ok(())
            }
            Cmd::SeedRepos {
                t,
                count,
                concurrency,
            } => seed_repos(make_ctx(t).await?, count, concurrency).await,
        }
    }
    .await;
    if let Err(e) = res {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}
