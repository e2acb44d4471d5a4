//! Request bodies that stop arriving fail. Every listener wraps every request's body
//! in this (see `startup`): when no byte arrives for the configured time the body
//! yields an error, so the handler answers, the connection is freed, and a handler
//! that streams the body into an upload records none of it. The same stream counts
//! the bytes read, for the metrics.

use std::io;
use std::time::Duration;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use futures_util::StreamExt;
use prometheus::IntCounter;

/// Replaces the request's body with one that fails after `idle` without a byte, and
/// counts the bytes read into `received` (one stream for both, so one allocation).
pub fn apply(req: &mut ServiceRequest, idle: Duration, received: IntCounter) {
    let (_, payload) = req.parts_mut();
    let inner = std::mem::replace(payload, Payload::None);
    if matches!(inner, Payload::None) {
        return;
    }
    // The state carries the counter, so nothing is cloned per chunk.
    let timed = futures_util::stream::unfold(Some((inner, received)), move |state| async move {
        let (mut inner, received) = state?;
        match tokio::time::timeout(idle, inner.next()).await {
            Ok(Some(item)) => {
                if let Ok(chunk) = &item {
                    received.inc_by(chunk.len() as u64);
                }
                Some((item, Some((inner, received))))
            }
            Ok(None) => None,
            // The error ends the stream: nothing after it is read.
            Err(_) => Some((Err(timed_out(idle)), None)),
        }
    });
    *payload = Payload::from(timed.boxed_local());
}

fn timed_out(idle: Duration) -> PayloadError {
    PayloadError::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no byte of the request body arrived for {} s",
            idle.as_secs()
        ),
    ))
}

/// Whether a body failed because it stopped arriving.
pub fn is_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use bytes::Bytes;

    #[actix_web::test]
    async fn a_stalled_body_fails_and_ends() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Bytes, PayloadError>>();
        let stream = tokio_stream_of(rx);
        let mut req = TestRequest::default()
            .set_payload(Bytes::new())
            .to_srv_request();
        req.set_payload(Payload::from(stream));
        let received = IntCounter::new("received", "bytes").unwrap();
        apply(&mut req, Duration::from_millis(50), received.clone());
        tx.send(Ok(Bytes::from_static(b"abc"))).unwrap();
        let (_, mut payload) = req.into_parts();
        assert_eq!(payload.next().await.unwrap().unwrap(), "abc");
        assert_eq!(received.get(), 3);
        let e = payload.next().await.unwrap().unwrap_err();
        assert!(is_timeout(&e), "{e}");
        assert!(payload.next().await.is_none());
        drop(tx);
    }

    fn tokio_stream_of(
        mut rx: tokio::sync::mpsc::UnboundedReceiver<Result<Bytes, PayloadError>>,
    ) -> futures_util::stream::LocalBoxStream<'static, Result<Bytes, PayloadError>> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed_local()
    }
}
