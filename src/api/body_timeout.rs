//! Request bodies that stop arriving fail. Every listener wraps every request's body
//! in this (see `startup`): when no byte arrives for the configured time the body
//! yields an error, so the handler answers, the connection is freed, and a handler
//! that streams the body into an upload records none of it.

use std::io;
use std::time::Duration;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use futures_util::StreamExt;

/// Replaces the request's body with one that fails after `idle` without a byte.
pub fn apply(req: &mut ServiceRequest, idle: Duration) {
    let (_, payload) = req.parts_mut();
    let inner = std::mem::replace(payload, Payload::None);
    if matches!(inner, Payload::None) {
        return;
    }
    let timed = futures_util::stream::unfold(Some(inner), move |state| async move {
        let mut inner = state?;
        match tokio::time::timeout(idle, inner.next()).await {
            Ok(Some(item)) => Some((item, Some(inner))),
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
        apply(&mut req, Duration::from_millis(50));
        tx.send(Ok(Bytes::from_static(b"abc"))).unwrap();
        let (_, mut payload) = req.into_parts();
        assert_eq!(payload.next().await.unwrap().unwrap(), "abc");
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
