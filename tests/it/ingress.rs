//! What a client that is not who it claims, or that sends slowly, can make berth do:
//! against the real binary as a child process, with its memory read from /proc.
//! Requests without a known key are refused on their head; bodies whose signature is
//! still unverified share one small budget; bodies that stop arriving fail after the
//! body timeout; and meanwhile real SDK calls keep succeeding.
//!
//! Memory and descriptors are the server's, so these run on SQLite only: the store
//! plays no part in what is measured.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{sign_at, ACCESS_KEY, SECRET_KEY};
use crate::process::{Launch, ServerProcess, ServerState};

const TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.UploadLayerPart";
const JSON_11: &str = "application/x-amz-json-1.1";
/// Generous waits for what the server does within about the body timeout.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// A field of /proc/<pid>/status, in KiB.
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Who a raw request claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// No Authorization at all.
    Nobody,
    /// Signed with a key berth does not know.
    UnknownKey,
    /// A known key, signed without its secret: only the body stage can tell.
    WrongSecret,
    /// The real credentials, signed over the whole body that is (not) sent.
    Genuine,
}

/// The head of a `POST /` UploadLayerPart announcing a body of `len` bytes.
fn head(port: u16, claim: Claim, body: &[u8]) -> String {
    let mut headers: Vec<(String, String)> = vec![
        ("content-type".into(), JSON_11.into()),
        ("x-amz-target".into(), TARGET.into()),
    ];
    let signer = match claim {
        Claim::Nobody => None,
        Claim::UnknownKey => Some(("AKIDNOBODYKNOWS", SECRET_KEY, &b""[..])),
        Claim::WrongSecret => Some((ACCESS_KEY, "not-the-secret", &b""[..])),
        Claim::Genuine => Some((ACCESS_KEY, SECRET_KEY, body)),
    };
    if let Some((key, secret, signed_body)) = signer {
        headers = sign_at(
            port,
            &[("content-type", JSON_11), ("x-amz-target", TARGET)],
            signed_body,
            (key, secret, "ecr"),
            std::time::SystemTime::now(),
        );
    }
    let mut text = format!("POST / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    text
}

/// How a raw request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// An answer, with the AWS error type if any.
    Answered(u16, String),
    /// Closed or reset by the server without an answer the client could read.
    Closed,
    /// Nothing within `ANSWER_WITHIN`.
    NoAnswer,
}

/// Sends the head and then `send` bytes of `body` (all of it, or a stalled start),
/// reading the answer meanwhile.
async fn raw(port: u16, head: String, body: Arc<Vec<u8>>, send: usize) -> Outcome {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return Outcome::Closed;
    };
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body[..send]).await;
        }
        // Held open, as a stalled client does, until the reader is done.
        writer
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(ANSWER_WITHIN, reader.read_to_end(&mut answer)).await;
    write.abort();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse().ok());
    match (read, status) {
        (_, Some(status)) => {
            let kind = text
                .lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case("x-amzn-errortype"))
                })
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default();
            Outcome::Answered(status, kind)
        }
        (Err(_), None) => Outcome::NoAnswer,
        (Ok(_), None) => Outcome::Closed,
    }
}

/// Real SDK calls, one after another until `stop`: every one must succeed.
async fn legit_calls(server: &ServerProcess, stop: tokio::sync::watch::Receiver<bool>) -> usize {
    let mut done = 0;
    while !*stop.borrow() || done == 0 {
        // A new client each time: a new connection must be accepted.
        let ecr = crate::helpers::ecr_client(&server.url, ACCESS_KEY, SECRET_KEY);
        let call = ecr.describe_repositories().send();
        let r = tokio::time::timeout(Duration::from_secs(10), call).await;
        assert!(
            matches!(r, Ok(Ok(_))),
            "a legitimate call failed during the flood: {r:?}"
        );
        done += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done
}

/// Starts berth on a fresh SQLite store with a repository `repo`; answers it with its
/// resident memory then, in KiB, with the peak (`VmHWM`) reset to it so that the peak
/// measures only what comes next. Taken once start-up's code is unmapped and a small
/// flood of every kind has run: the code a flood runs is mapped back by then, and the
/// peak is the memory a flood holds.
async fn start(dir: &tempfile::TempDir, launch: Launch<'_>, repo: &str) -> (ServerProcess, u64) {
    let server = ServerProcess::launch(&ServerState::in_dir(dir.path()), launch).await;
    server.create_repo(repo).await;
    server.wait_code_released().await;
    let every = [
        Claim::Nobody,
        Claim::UnknownKey,
        Claim::WrongSecret,
        Claim::Genuine,
    ];
    flood(&server, 0, &every, 8, vec![b' '; 1024], 1024).await;
    std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").expect("reset VmHWM");
    let rss = proc_kib(server.pid(), "VmRSS");
    (server, rss)
}

/// Sends `count` requests at once, taking turns through `claims`, each with `send`
/// bytes of `body`, while real SDK calls go on. Answers how each request ended, how
/// many real calls succeeded meanwhile, and berth's peak growth in MiB over `before`.
async fn flood(
    server: &ServerProcess,
    before: u64,
    claims: &[Claim],
    count: usize,
    body: Vec<u8>,
    send: usize,
) -> (Vec<(Claim, Outcome)>, usize, u64) {
    // Signed once per claim (hashing the body is slow in a debug build); berth takes
    // a signed request again within the clock-skew window, as AWS does.
    let heads: Vec<(Claim, String)> = claims
        .iter()
        .map(|c| (*c, head(server.port, *c, &body)))
        .collect();
    let body = Arc::new(body);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let requests = async {
        let calls = (0..count).map(|i| {
            let (claim, head) = heads[i % heads.len()].clone();
            let body = Arc::clone(&body);
            async move { (claim, raw(server.port, head, body, send).await) }
        });
        let outcomes = futures_util::future::join_all(calls).await;
        let _ = stop.send(true);
        outcomes
    };
    let (outcomes, legit) = tokio::join!(requests, legit_calls(server, stopped));
    let growth = proc_kib(server.pid(), "VmHWM").saturating_sub(before) / 1024;
    (outcomes, legit, growth)
}

/// A dozen of each kind of unauthenticated caller sends a ~28 MiB layer part at
/// once. Without a known key nothing is read; with a known key but no secret, at most
/// the unverified-body budget is held. The server grows by far less than the bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthenticated_large_bodies_cost_little_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let launch = Launch {
        args: &["--unverified-bodies-mib", "32"],
        ..Default::default()
    };
    let (server, before) = start(&dir, launch, "flood/target").await;

    // The JSON of an UploadLayerPart whose blob is 21 MiB (28 MiB in base64).
    let mut body = br#"{"repositoryName":"flood/target","uploadId":"x","partFirstByte":0,"partLastByte":1,"layerPartBlob":""#.to_vec();
    body.resize(body.len() + 28 * 1024 * 1024 - 256, b'A');
    body.extend_from_slice(br#""}"#);
    let (len, claims) = (
        body.len(),
        [Claim::Nobody, Claim::UnknownKey, Claim::WrongSecret],
    );
    let (outcomes, legit, growth_mib) = flood(&server, before, &claims, 36, body, len).await;

    let mut tally = std::collections::BTreeMap::new();
    for (claim, outcome) in &outcomes {
        let expected: &[&str] = match claim {
            Claim::Nobody => &["MissingAuthenticationTokenException"],
            Claim::UnknownKey => &["UnrecognizedClientException"],
            Claim::WrongSecret => &["InvalidSignatureException", "ThrottlingException"],
            Claim::Genuine => &[],
        };
        match outcome {
            Outcome::Answered(400, kind) if expected.contains(&kind.as_str()) => {}
            Outcome::Closed => {}
            other => panic!("{claim:?}: {other:?}; log:\n{}", server.log_tail()),
        }
        *tally.entry(format!("{claim:?} {outcome:?}")).or_insert(0) += 1;
    }
    eprintln!(
        "peak growth {growth_mib} MiB over {before} KiB; {legit} legitimate calls; {tally:#?}"
    );
    assert!(
        growth_mib < 80,
        "36 unauthenticated 28 MiB bodies grew berth by {growth_mib} MiB"
    );
}

/// Hundreds of connections send a head and a few bytes of body, then nothing, to a
/// berth started with a soft open-file limit of 256 (a common default). berth raises
/// its limit, keeps serving real calls during the flood, answers or closes every
/// stalled request within the body timeout, and an upload whose body stalls records
/// nothing, on either listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_bodies_time_out_and_others_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let launch = Launch {
        args: &["--body-timeout", "2"],
        open_files: Some("256:4096"),
        ..Default::default()
    };
    let (server, before) = start(&dir, launch, "slow/target").await;
    let claims = [
        Claim::Nobody,
        Claim::UnknownKey,
        Claim::WrongSecret,
        Claim::Genuine,
    ];
    let body = vec![b' '; 1024 * 1024];
    let (outcomes, legit, growth_mib) = flood(&server, before, &claims, 400, body, 100).await;

    for (claim, outcome) in &outcomes {
        let expected = match claim {
            Claim::Nobody => "MissingAuthenticationTokenException",
            Claim::UnknownKey => "UnrecognizedClientException",
            Claim::WrongSecret | Claim::Genuine => "RequestTimeoutException",
        };
        match outcome {
            Outcome::Answered(400, kind) if kind == expected => {}
            // A server that answers before the body is done and then closes can have
            // the answer overtaken by the close (a reset) under load: still an end
            // within the timeout, which is what matters here.
            Outcome::Closed => {}
            other => panic!("{claim:?}: {other:?}; log:\n{}", server.log_tail()),
        }
    }
    eprintln!("peak growth {growth_mib} MiB; {legit} legitimate calls during the flood");
    assert!(growth_mib < 80, "grew by {growth_mib} MiB");
    let log = std::fs::read_to_string(dir.path().join("berth.log")).unwrap_or_default();
    assert!(
        !log.contains("Too many open files"),
        "ran out of descriptors:\n{}",
        server.log_tail()
    );

    stalled_uploads_record_nothing(&server).await;
}

/// A PATCH whose body stalls, on each listener: the request fails and the upload
/// still holds no bytes.
async fn stalled_uploads_record_nothing(server: &ServerProcess) {
    let ecr_public = crate::helpers::ecr_public_client(&server.url, ACCESS_KEY, SECRET_KEY);
    ecr_public
        .create_repository()
        .repository_name("slow/public")
        .send()
        .await
        .expect("create public repository");
    let private = crate::oci_client::registry_token(&server.ecr).await;
    let public = crate::oci_client::public_registry_token(&ecr_public).await;
    let http = reqwest::Client::new();
    for (port, token, name) in [
        (server.port, private, "slow/target".to_owned()),
        (
            server.public_port,
            public,
            // The child serves the default alias.
            "berth/slow/public".to_owned(),
        ),
    ] {
        let auth = format!("Basic {token}");
        let base = format!("http://127.0.0.1:{port}");
        let r = http
            .post(format!("{base}/v2/{name}/blobs/uploads/"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("start upload");
        assert_eq!(r.status().as_u16(), 202, "{:?}", r.text().await);
        let location = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let head = format!(
            "PATCH {location} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: {auth}\r\ncontent-type: application/octet-stream\r\ncontent-length: 1048576\r\nconnection: close\r\n\r\n"
        );
        let outcome = raw(port, head, Arc::new(vec![7; 1024 * 1024]), 4096).await;
        assert!(
            matches!(outcome, Outcome::Answered(400, _) | Outcome::Closed),
            "{outcome:?}"
        );
        let status = http
            .get(format!("{base}{location}"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("upload status");
        assert_eq!(status.status().as_u16(), 204);
        let range = status
            .headers()
            .get("range")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        assert!(
            matches!(range.as_deref(), None | Some("0-0")),
            "the stalled chunk was recorded: {range:?}"
        );
    }
}

/// A TLS 1.2 ClientHello record, as a client that tries HTTPS first sends it.
fn client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x03]; // client version
    hello.extend([0x42; 32]); // random
    hello.push(0); // no session id
    hello.extend([0x00, 0x02, 0x13, 0x01]); // one cipher suite
    hello.extend([0x01, 0x00]); // no compression
    hello.extend([0x00, 0x00]); // no extensions
    let mut handshake = vec![0x01, 0x00]; // ClientHello, 24-bit length
    handshake.extend(u16::try_from(hello.len()).expect("short").to_be_bytes());
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01]; // handshake record, TLS 1.0 framing
    record.extend(u16::try_from(handshake.len()).expect("short").to_be_bytes());
    record.extend(handshake);
    record
}

/// docker and podman probe HTTPS before each login, so a TLS ClientHello reaching a
/// plain-HTTP listener is routine: it is answered 400 (the HTTP answer that sends
/// them back to HTTP) and logged at DEBUG, never as an ERROR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_handshakes_on_the_plain_port_are_not_errors() {
    const DEBUG_LINE: &str = "refused a request that is not HTTP/1";
    for log_filter in [None, Some("debug,sqlx=warn")] {
        let dir = tempfile::tempdir().expect("temp dir");
        let launch = Launch {
            log_filter,
            ..Default::default()
        };
        let mut server = ServerProcess::launch(&ServerState::in_dir(dir.path()), launch).await;
        for port in [server.port, server.public_port] {
            let mut stream = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            stream.write_all(&client_hello()).await.expect("write");
            let mut answer = Vec::new();
            tokio::time::timeout(ANSWER_WITHIN, stream.read_to_end(&mut answer))
                .await
                .expect("answered in time")
                .expect("read");
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        }
        // Every line is written once the server has stopped.
        server.sigterm();
        assert!(server.wait_exit(ANSWER_WITHIN).await.success());
        let log = std::fs::read_to_string(dir.path().join("berth.log")).expect("log");
        assert!(!log.contains("ERROR"), "{log}");
        let logged = log.lines().filter(|l| l.contains(DEBUG_LINE)).count();
        let expected = if log_filter.is_some() { 2 } else { 0 };
        assert_eq!(logged, expected, "{log}");
        assert!(
            log.lines()
                .filter(|l| l.contains(DEBUG_LINE))
                .all(|l| l.contains("DEBUG")),
            "{log}"
        );
    }
}
