//! The download listener (`--download-listen`): serves download URLs
//! (`/_berth/download/<token>`: GetDownloadUrlForLayer's, and with `--blob-redirect`
//! where the registry API's blob GETs send clients), with a blob file's bytes moved to
//! the socket by sendfile. actix-web cannot do that: its HTTP/1 writer copies every body
//! chunk into a buffer of its own, which held blob GETs to half of what loopback carries
//! (BENCHMARKS.md). As nothing else is served here, the HTTP spoken is small: HTTP/1.x
//! GET and HEAD without a request body, with keep-alive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::metrics::Face;
use crate::service::{BlobReader, Service};

/// The longest request head read; a longer one is refused.
const HEAD_LIMIT: usize = 8 * 1024;
/// The most header lines a request may have.
const HEADERS: usize = 32;
const PREFIX: &str = "/_berth/download/";

/// The download listener, on a runtime of its own with `threads` worker threads. One
/// thread's sendfile calls move what one core can (about 2 GiB/s over loopback here),
/// so concurrent downloads are spread over several: on the process's main thread, four
/// 1 GiB GETs together got no more than one alone (BENCHMARKS.md).
pub struct Downloads {
    /// `None` once dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Downloads {
    /// Serves `listener` (see `serve`) until dropped.
    pub fn start(
        listener: std::net::TcpListener,
        service: Service,
        idle: Duration,
        max_connections: usize,
        threads: usize,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("download")
            .enable_all()
            .build()?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _runtime = runtime.enter();
            TcpListener::from_std(listener)?
        };
        runtime.spawn(serve(listener, service, idle, max_connections));
        Ok(Self {
            runtime: Some(runtime),
        })
    }
}

impl Drop for Downloads {
    /// Stops accepting and ends the downloads in progress, without waiting for them
    /// (a runtime may not block on its tasks inside another's).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Accepts connections for as long as the task runs, serving each on a task of its own,
/// at most `max_connections` at once; a connection idle for `idle` between requests is
/// closed.
async fn serve(listener: TcpListener, service: Service, idle: Duration, max_connections: usize) {
    let open = Arc::new(Semaphore::new(max_connections));
    // The semaphore is never closed.
    while let Ok(slot) = open.clone().acquire_owned().await {
        match listener.accept().await {
            Ok((socket, _)) => {
                let service = service.clone();
                tokio::spawn(async move {
                    connection(socket, service, idle).await;
                    drop(slot);
                });
            }
            Err(e) => {
                // Mostly out of file descriptors: give some time to be closed.
                tracing::warn!(error = %e, "the download listener cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What a request asked, as far as this listener cares.
struct Request {
    method: String,
    path: String,
    /// Whether the connection stays open after the answer: HTTP/1.1 without
    /// `Connection: close`, and no body follows the head (it is never read).
    keep_alive: bool,
    /// Whether a body follows the head.
    body: bool,
}

/// Why a request head is not answered as a request.
enum Unreadable {
    Malformed,
    TooLong,
}

async fn connection(mut socket: TcpStream, service: Service, idle: Duration) {
    // Without it a small answer can wait for the client's delayed ACK.
    if let Err(e) = socket.set_nodelay(true) {
        tracing::debug!(error = %e, "download connection: no TCP_NODELAY");
    }
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        let request = match tokio::time::timeout(idle, read_head(&mut socket, &mut buf)).await {
            Ok(Ok(Some(request))) => request,
            // Idle too long, closed by the client, or a broken connection.
            Err(_) | Ok(Ok(None)) | Ok(Err(_)) => return,
        };
        let keep_alive = request.as_ref().is_ok_and(|r| r.keep_alive);
        match answer(&mut socket, &service, request, keep_alive).await {
            Ok(()) if keep_alive => {}
            Ok(()) => return,
            Err(e) => {
                tracing::debug!(error = %e, "download connection broken");
                return;
            }
        }
    }
}

/// The next request head on the connection; `None` once the client closes it between
/// requests.
async fn read_head(
    socket: &mut TcpStream,
    buf: &mut BytesMut,
) -> std::io::Result<Option<Result<Request, Unreadable>>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let header = |name: &str| {
                    parsed
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
                };
                let close = header("connection").is_some_and(|v| v.contains("close"));
                let body = header("transfer-encoding").is_some()
                    || header("content-length").is_some_and(|v| v.trim() != "0");
                let request = Request {
                    method: parsed.method.unwrap_or_default().to_owned(),
                    path: parsed.path.unwrap_or_default().to_owned(),
                    keep_alive: parsed.version == Some(1) && !close && !body,
                    body,
                };
                buf.advance(len);
                return Ok(Some(Ok(request)));
            }
            Ok(httparse::Status::Partial) if buf.len() >= HEAD_LIMIT => {
                return Ok(Some(Err(Unreadable::TooLong)))
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return Ok(Some(Err(Unreadable::Malformed))),
        }
        if socket.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// Answers one request, and counts and logs it as the other listeners do theirs.
async fn answer(
    socket: &mut TcpStream,
    service: &Service,
    request: Result<Request, Unreadable>,
    keep_alive: bool,
) -> std::io::Result<()> {
    let started = Instant::now();
    let (method, path) = match &request {
        Ok(r) => (r.method.as_str(), r.path.as_str()),
        Err(_) => ("", ""),
    };
    let token = path
        .split('?')
        .next()
        .and_then(|p| p.strip_prefix(PREFIX))
        .filter(|t| !t.is_empty() && !t.contains('/'));
    let mut reply = Reply {
        socket,
        keep_alive,
        head_only: method == "HEAD",
    };
    let (status, bytes_out) = match (&request, method, token) {
        (Err(Unreadable::Malformed), ..) => reply.text(StatusCode::BAD_REQUEST, "").await?,
        (Err(Unreadable::TooLong), ..) => {
            let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
            reply.text(status, "").await?
        }
        (Ok(r), ..) if r.body => {
            let why = "a download takes no request body\n";
            reply.text(StatusCode::BAD_REQUEST, why).await?
        }
        (_, _, None) => reply.text(StatusCode::NOT_FOUND, "not found\n").await?,
        (_, "GET" | "HEAD", Some(token)) => match service.download(token).await {
            Ok(Some(blob)) => reply.blob(blob).await?,
            Ok(None) => {
                let why = "the download URL is invalid or has expired\n";
                reply.text(StatusCode::FORBIDDEN, why).await?
            }
            Err(e) => {
                tracing::error!(error = ?e, "layer download failed");
                let why = "internal error\n";
                reply.text(StatusCode::INTERNAL_SERVER_ERROR, why).await?
            }
        },
        (_, _, Some(_)) => {
            let why = "a download is a GET or a HEAD\n";
            reply.text(StatusCode::METHOD_NOT_ALLOWED, why).await?
        }
    };
    let method = match method {
        "GET" | "HEAD" => method,
        _ => "other",
    };
    let metrics = service.metrics();
    metrics.observe_request(
        Face::Berth,
        "download",
        method,
        status.as_str(),
        started.elapsed(),
    );
    metrics.sent(Face::Berth).inc_by(bytes_out);
    tracing::info!(
        face = "download",
        route = "download",
        status = status.as_u16(),
        ms = started.elapsed().as_millis() as u64,
        bytes_out,
        "served"
    );
    Ok(())
}

/// How a request is answered: whether the connection stays open after, and whether
/// the answer is a head alone (to a HEAD).
struct Reply<'s> {
    socket: &'s mut TcpStream,
    keep_alive: bool,
    head_only: bool,
}

impl Reply<'_> {
    /// Answers with the blob, returning the status and the body's length as sent.
    async fn blob(&mut self, blob: BlobReader) -> std::io::Result<(StatusCode, u64)> {
        let len = blob.len();
        let head = self.head(StatusCode::OK, "application/octet-stream", len);
        self.socket.write_all(head.as_bytes()).await?;
        if self.head_only {
            return Ok((StatusCode::OK, 0));
        }
        blob.send_to(self.socket).await?;
        Ok((StatusCode::OK, len))
    }

    /// Answers with `status` and a short text body.
    async fn text(&mut self, status: StatusCode, body: &str) -> std::io::Result<(StatusCode, u64)> {
        let mut answer = self.head(status, "text/plain", body.len() as u64);
        let sent = if self.head_only { "" } else { body };
        answer.push_str(sent);
        self.socket.write_all(answer.as_bytes()).await?;
        Ok((status, sent.len() as u64))
    }

    /// A response head; a 405 names the methods allowed.
    fn head(&self, status: StatusCode, content_type: &str, len: u64) -> String {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {len}\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or_default(),
        );
        if status == StatusCode::METHOD_NOT_ALLOWED {
            head.push_str("allow: GET, HEAD\r\n");
        }
        if !self.keep_alive {
            head.push_str("connection: close\r\n");
        }
        head + "\r\n"
    }
}
