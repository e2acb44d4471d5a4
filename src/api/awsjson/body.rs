//! Reading a JSON request's body once its head has passed SigV4's header stage: within
//! the action's limit, hashed as it arrives for the body stage, and, while the
//! signature is still unverified, drawing on one budget shared by all such bodies.
//! Someone who knows an access key id but not its secret can make berth hold at most
//! that budget, not a body per connection.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;
use crate::api::body_timeout;

/// What of each body is free of the budget: a connection's own read buffer holds as
/// much anyway, and small calls then never wait on large ones.
const FREE_BYTES: usize = 64 * 1024;

/// Room for the bytes of bodies whose signature is not yet verified, in bytes.
pub struct UnverifiedBodies(Arc<Semaphore>);

impl UnverifiedBodies {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))))
    }

    fn take(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let throttled = || {
            ApiError::client(
                "ThrottlingException",
                "Too many request bodies are awaiting signature verification; retry later",
            )
        };
        let n = u32::try_from(bytes).map_err(|_| throttled())?;
        Arc::clone(&self.0)
            .try_acquire_many_owned(n)
            .map_err(|_| throttled())
    }
}

/// A body as received, and its SHA-256 for the signature's body stage.
pub(super) struct Body {
    chunks: Vec<Bytes>,
    pub sha256: [u8; 32],
    /// Its share of the budget, returned once the body is taken.
    _held: Option<OwnedSemaphorePermit>,
}

impl Body {
    /// The bytes in one piece, returning the budget the body held.
    pub fn into_bytes(self) -> Vec<u8> {
        self.chunks.concat()
    }
}

/// Reads the body up to `limit` bytes, refusing (without reading on) past it; a body
/// that announces a larger length is refused before any of it is read. With a
/// `budget`, bytes past the free allowance must fit in it or the request is throttled.
pub(super) async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    budget: Option<&UnverifiedBodies>,
) -> Result<Body, ApiError> {
    let too_large = || {
        ApiError::invalid_parameter(format!(
            "The request body exceeds the limit of {limit} bytes for this action"
        ))
    };
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let (mut chunks, mut len, mut hasher, mut held) = (Vec::new(), 0, Sha256::new(), None);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            if body_timeout::is_timeout(&e) {
                ApiError::client("RequestTimeoutException", e.to_string())
            } else {
                ApiError::serialization(format!("The request body could not be read: {e}"))
            }
        })?;
        let total = len + chunk.len();
        if total > limit {
            return Err(too_large());
        }
        if let Some(budget) = budget {
            let charged = total.saturating_sub(FREE_BYTES) - len.saturating_sub(FREE_BYTES);
            if charged > 0 {
                let permit = budget.take(charged)?;
                match &mut held {
                    Some(h) => OwnedSemaphorePermit::merge(h, permit),
                    None => held = Some(permit),
                }
            }
        }
        hasher.update(&chunk);
        chunks.push(chunk);
        len = total;
    }
    Ok(Body {
        chunks,
        sha256: hasher.finalize().into(),
        _held: held,
    })
}
