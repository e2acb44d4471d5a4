//! OCI distribution error codes: one table holding each code's status, and one
//! exhaustive mapping from the service's errors.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::service::Error;

/// The distribution spec's error codes (plus ECR's `TAG_INVALID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    TagInvalid,
    /// Not a spec code (distribution's): a dependency is down, retry later.
    Unavailable,
    /// Not a spec code: a server fault.
    Internal,
}

impl Code {
    /// The code's wire name and HTTP status.
    fn describe(self) -> (&'static str, StatusCode) {
        match self {
            Code::BlobUnknown => ("BLOB_UNKNOWN", StatusCode::NOT_FOUND),
            Code::BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
            Code::BlobUploadUnknown => ("BLOB_UPLOAD_UNKNOWN", StatusCode::NOT_FOUND),
            Code::DigestInvalid => ("DIGEST_INVALID", StatusCode::BAD_REQUEST),
            Code::ManifestBlobUnknown => ("MANIFEST_BLOB_UNKNOWN", StatusCode::BAD_REQUEST),
            Code::ManifestInvalid => ("MANIFEST_INVALID", StatusCode::BAD_REQUEST),
            Code::ManifestUnknown => ("MANIFEST_UNKNOWN", StatusCode::NOT_FOUND),
            Code::NameInvalid => ("NAME_INVALID", StatusCode::BAD_REQUEST),
            Code::NameUnknown => ("NAME_UNKNOWN", StatusCode::NOT_FOUND),
            Code::SizeInvalid => ("SIZE_INVALID", StatusCode::BAD_REQUEST),
            Code::Unauthorized => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED),
            Code::Denied => ("DENIED", StatusCode::FORBIDDEN),
            Code::Unsupported => ("UNSUPPORTED", StatusCode::METHOD_NOT_ALLOWED),
            Code::TooManyRequests => ("TOOMANYREQUESTS", StatusCode::TOO_MANY_REQUESTS),
            Code::TagInvalid => ("TAG_INVALID", StatusCode::BAD_REQUEST),
            Code::Unavailable => ("UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
            Code::Internal => ("UNKNOWN", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// An error in the registry API's form: `{"errors": [{"code", "message"}]}`.
#[derive(Debug)]
pub struct OciError {
    pub code: Code,
    pub message: String,
    /// Overrides the table's status where the spec asks for another (416 for an
    /// out-of-order chunk or a bad range, 413 for an oversized manifest).
    pub status: Option<StatusCode>,
    /// `Content-Range: bytes */<size>` for an unsatisfiable range.
    pub blob_size: Option<u64>,
    /// The `WWW-Authenticate` challenge of a 401 where it is not Basic (the public
    /// registry's Bearer challenge).
    pub challenge: Option<String>,
}

impl OciError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: None,
            blob_size: None,
            challenge: None,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_challenge(mut self, challenge: Option<String>) -> Self {
        self.challenge = challenge;
        self
    }

    /// 416 for a range that cannot be served from a blob of `size` bytes.
    pub fn unsatisfiable_range(size: u64) -> Self {
        Self {
            code: Code::BlobUnknown,
            message: "the requested range cannot be satisfied".into(),
            status: Some(StatusCode::RANGE_NOT_SATISFIABLE),
            blob_size: Some(size),
            challenge: None,
        }
    }

    pub fn render(&self) -> HttpResponse {
        let (name, status) = self.code.describe();
        let mut response = HttpResponse::build(self.status.unwrap_or(status));
        if self.code == Code::Unauthorized {
            let challenge = self.challenge.as_deref();
            response.insert_header((
                "WWW-Authenticate",
                challenge.unwrap_or("Basic realm=\"berth\""),
            ));
        }
        if let Some(size) = self.blob_size {
            response.insert_header(("Content-Range", format!("bytes */{size}")));
        }
        response.json(json!({"errors": [{"code": name, "message": self.message, "detail": null}]}))
    }
}

impl std::fmt::Display for OciError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.describe().0, self.message)
    }
}

/// Handlers and extractors return `OciError` directly; actix renders it.
impl ResponseError for OciError {
    fn status_code(&self) -> StatusCode {
        self.status.unwrap_or(self.code.describe().1)
    }

    fn error_response(&self) -> HttpResponse {
        self.render()
    }
}

impl From<Error> for OciError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        let code = |code| OciError::new(code, message.clone());
        match e {
            Error::InvalidParameter(_) | Error::InvalidTagParameter(_) | Error::TooManyTags => {
                code(Code::ManifestInvalid)
            }
            Error::InvalidManifest(_) => code(Code::ManifestInvalid),
            Error::RepositoryNotFound { .. } | Error::RegistryNotFound(_) => {
                code(Code::NameUnknown)
            }
            // Never raised by a registry call; mapped so the match stays exhaustive.
            Error::RepositoryPolicyNotFound { .. }
            | Error::RepositoryCatalogDataNotFound { .. } => code(Code::NameUnknown),
            Error::RepositoryAlreadyExists { .. } | Error::RepositoryNotEmpty { .. } => {
                code(Code::Denied)
            }
            Error::ImageNotFound(_) => code(Code::ManifestUnknown),
            // A re-push of what is already there; the face answers success before this.
            Error::ImageAlreadyExists { .. } => code(Code::ManifestInvalid),
            Error::ImageTagAlreadyExists { .. } => code(Code::TagInvalid),
            Error::ImageDigestDoesNotMatch { .. } => code(Code::DigestInvalid),
            Error::LayersNotFound(_) | Error::ReferencedImagesNotFound(_) => {
                code(Code::ManifestBlobUnknown)
            }
            Error::LayerInaccessible(_) | Error::BlobNotFound(_) => code(Code::BlobUnknown),
            Error::UploadNotFound(_) => code(Code::BlobUploadUnknown),
            Error::InvalidLayerPart { .. } => {
                code(Code::BlobUploadInvalid).with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            }
            Error::EmptyUpload(_) | Error::LayerPartTooSmall | Error::IncompleteBody(_) => {
                code(Code::BlobUploadInvalid)
            }
            Error::InvalidLayer(_) => code(Code::DigestInvalid),
            Error::LayerAlreadyExists(_) => code(Code::BlobUploadInvalid),
            Error::LimitExceeded(_) => code(Code::TooManyRequests),
            Error::StorageFull => {
                code(Code::Unavailable).with_status(StatusCode::INSUFFICIENT_STORAGE)
            }
            Error::Unavailable(_) => code(Code::Unavailable),
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "server fault");
                OciError::new(Code::Internal, "internal error")
            }
        }
    }
}
