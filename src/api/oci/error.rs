//! The registry API's errors: one descriptor per condition (its wire code and HTTP
//! status, as distribution's errcode table has them), and one exhaustive mapping from
//! the service's errors with this face's wording.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::auth::Refusal;
use crate::domain::Digest;
use crate::service::{Error, Invalid, PartProblem, UpstreamProblem};

/// A condition the registry API reports. Conditions that share a wire code but not a
/// status (a bad size and an oversized manifest) are distinct descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    /// A manifest an index still refers to cannot be deleted.
    ManifestReferenced,
    /// A manifest over the size limit.
    ManifestTooLarge,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    /// A chunk that does not continue the session, or a blob range that cannot be
    /// served.
    RangeInvalid,
    PaginationNumberInvalid,
    Unauthorized,
    Denied,
    /// A method the endpoint does not have.
    Unsupported,
    /// A query string or path that cannot be decoded.
    Undecodable,
    TooManyRequests,
    TagInvalid,
    /// A dependency is down: retry later.
    Unavailable,
    /// A pull-through cache's upstream failed.
    BadGateway,
    /// No room to store the request's bytes.
    StorageFull,
    /// A server fault.
    Internal,
}

impl Code {
    /// The condition's wire code and HTTP status.
    fn describe(self) -> (&'static str, StatusCode) {
        match self {
            Code::BlobUnknown => ("BLOB_UNKNOWN", StatusCode::NOT_FOUND),
            Code::BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
            Code::BlobUploadUnknown => ("BLOB_UPLOAD_UNKNOWN", StatusCode::NOT_FOUND),
            Code::DigestInvalid => ("DIGEST_INVALID", StatusCode::BAD_REQUEST),
            Code::ManifestBlobUnknown => ("MANIFEST_BLOB_UNKNOWN", StatusCode::BAD_REQUEST),
            Code::ManifestInvalid => ("MANIFEST_INVALID", StatusCode::BAD_REQUEST),
            Code::ManifestUnknown => ("MANIFEST_UNKNOWN", StatusCode::NOT_FOUND),
            Code::ManifestReferenced => ("DENIED", StatusCode::CONFLICT),
            Code::ManifestTooLarge => ("SIZE_INVALID", StatusCode::PAYLOAD_TOO_LARGE),
            Code::NameInvalid => ("NAME_INVALID", StatusCode::BAD_REQUEST),
            Code::NameUnknown => ("NAME_UNKNOWN", StatusCode::NOT_FOUND),
            Code::SizeInvalid => ("SIZE_INVALID", StatusCode::BAD_REQUEST),
            Code::RangeInvalid => ("RANGE_INVALID", StatusCode::RANGE_NOT_SATISFIABLE),
            Code::PaginationNumberInvalid => ("PAGINATION_NUMBER_INVALID", StatusCode::BAD_REQUEST),
            Code::Unauthorized => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED),
            Code::Denied => ("DENIED", StatusCode::FORBIDDEN),
            Code::Unsupported => ("UNSUPPORTED", StatusCode::METHOD_NOT_ALLOWED),
            Code::Undecodable => ("UNSUPPORTED", StatusCode::BAD_REQUEST),
            Code::TooManyRequests => ("TOOMANYREQUESTS", StatusCode::TOO_MANY_REQUESTS),
            Code::TagInvalid => ("TAG_INVALID", StatusCode::BAD_REQUEST),
            Code::Unavailable => ("UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
            Code::BadGateway => ("UNAVAILABLE", StatusCode::BAD_GATEWAY),
            Code::StorageFull => ("UNAVAILABLE", StatusCode::INSUFFICIENT_STORAGE),
            Code::Internal => ("UNKNOWN", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// An error in the registry API's form: `{"errors": [{"code", "message"}]}`.
#[derive(Debug)]
pub struct OciError {
    pub code: Code,
    pub message: String,
    /// `Content-Range: bytes */<size>` for a range a blob of that size cannot serve.
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
            blob_size: None,
            challenge: None,
        }
    }

    pub fn with_challenge(mut self, challenge: Option<String>) -> Self {
        self.challenge = challenge;
        self
    }

    /// A range that cannot be served from a blob of `size` bytes.
    pub fn unsatisfiable_range(size: u64) -> Self {
        Self {
            blob_size: Some(size),
            ..Self::new(
                Code::RangeInvalid,
                "the requested range cannot be satisfied",
            )
        }
    }

    pub fn render(&self) -> HttpResponse {
        let (name, status) = self.code.describe();
        let mut response = HttpResponse::build(status);
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
        self.code.describe().1
    }

    fn error_response(&self) -> HttpResponse {
        self.render()
    }
}

impl From<Error> for OciError {
    fn from(e: Error) -> Self {
        let (code, message) = match e {
            // The JSON faces' parameters; a registry call meets them only through a
            // manifest or a page, so they describe the request as invalid.
            Error::Invalid(invalid) => (Code::ManifestInvalid, invalid_request(&invalid)),
            Error::InvalidManifest(e) => (Code::ManifestInvalid, format!("invalid manifest: {e}")),
            Error::InvalidResourceTag { key, .. } => (
                Code::ManifestInvalid,
                format!("invalid resource tag '{key}'"),
            ),
            Error::TooManyResourceTags { max } => (
                Code::ManifestInvalid,
                format!("at most {max} resource tags"),
            ),
            Error::RepositoryNotFound { name, .. } => (
                Code::NameUnknown,
                format!("repository name not known to registry: {name}"),
            ),
            Error::RegistryNotFound(given) => (
                Code::NameUnknown,
                format!("registry not known: {given}"),
            ),
            Error::AccessDenied {
                principal,
                action,
                resource,
                ..
            } => (
                Code::Denied,
                format!("{principal} is not authorized to perform {action} on {resource}"),
            ),
            // Registry-level settings are ECR calls only; a registry call never meets these.
            Error::InvalidPolicy(e) => (Code::Unsupported, e.to_string()),
            Error::RegistryPolicyNotFound(registry) => (
                Code::NameUnknown,
                format!("registry {registry} has no registry policy"),
            ),
            // Scans are ECR calls only; a registry call never meets these.
            Error::ScanNotFound { .. }
            | Error::ScanLimitExceeded { .. }
            | Error::UnsupportedImageType { .. }
            | Error::ScanOfArchivedImage { .. }
            | Error::ManualScanWithEnhanced => (Code::Unsupported, e.to_string()),
            // Signing configurations are ECR calls only; a registry call never meets this.
            Error::SigningConfigurationNotFound(registry) => (
                Code::Unsupported,
                format!("registry {registry} has no signing configuration"),
            ),
            Error::ExclusionAlreadyExists(arn) | Error::ExclusionNotFound(arn) => {
                (Code::Unsupported, format!("pull time exclusion of {arn}"))
            }
            Error::TooManyExclusions { max } => (
                Code::Unsupported,
                format!("at most {max} pull time exclusions"),
            ),
            // Creation templates are ECR calls only; a registry call never meets these.
            Error::TemplateAlreadyExists { prefix, .. } | Error::TemplateNotFound { prefix, .. } => (
                Code::Unsupported,
                format!("repository creation template {prefix}"),
            ),
            Error::TooManyTemplates { max } => (
                Code::Unsupported,
                format!("at most {max} repository creation templates"),
            ),
            // Pull through cache rules are managed by ECR calls only.
            Error::PullThroughRuleAlreadyExists { prefix, .. }
            | Error::PullThroughRuleNotFound { prefix, .. } => (
                Code::Unsupported,
                format!("pull through cache rule {prefix}"),
            ),
            Error::TooManyPullThroughRules { max } => (
                Code::Unsupported,
                format!("at most {max} pull through cache rules"),
            ),
            // A pull through a rule whose credential the secrets file does not hold (or
            // cannot give): the operator's to fix, so the pull may be retried after.
            Error::Secret(e) => (Code::Unavailable, e.to_string()),
            Error::RepositoryPolicyNotFound { name, .. } => (
                Code::NameUnknown,
                format!("repository {name} has no policy"),
            ),
            // Lifecycle policies are ECR calls only; a registry call never meets these.
            Error::InvalidLifecyclePolicy(_) => (
                Code::ManifestInvalid,
                "invalid lifecycle policy".to_owned(),
            ),
            Error::LifecyclePolicyNotFound { name, .. } => (
                Code::NameUnknown,
                format!("repository {name} has no lifecycle policy"),
            ),
            Error::LifecyclePolicyPreviewNotFound { name, .. } => (
                Code::NameUnknown,
                format!("repository {name} has no lifecycle policy preview"),
            ),
            Error::RepositoryCatalogDataNotFound { name, .. } => (
                Code::NameUnknown,
                format!("repository {name} has no catalog data"),
            ),
            Error::RepositoryAlreadyExists { name, .. } => (
                Code::Denied,
                format!("repository {name} already exists"),
            ),
            Error::RepositoryNotEmpty { name, .. } => (
                Code::Denied,
                format!("repository {name} still holds images"),
            ),
            Error::ImageNotFound { name, image, .. } => (
                Code::ManifestUnknown,
                format!("manifest unknown: {image} is not in {name}"),
            ),
            // ECR answers a pull of an archived image with a 404.
            Error::ImageArchived { name, image, .. } => (
                Code::ManifestUnknown,
                format!("manifest unknown: {image} in {name} is archived; restore it (aws ecr update-image-storage-class --target-storage-class STANDARD) to pull it"),
            ),
            // No registry API request changes storage classes.
            Error::StorageClassUpdateNotSupported { .. } => (
                Code::Unsupported,
                "the storage class of this image cannot be changed".to_owned(),
            ),
            // A re-push of what is already there; the face answers success before this.
            Error::ImageAlreadyExists { digest, .. } => (
                Code::ManifestInvalid,
                format!("manifest {digest} already exists"),
            ),
            Error::ImageTagAlreadyExists { tag, name } => (
                Code::TagInvalid,
                format!("The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the tag is immutable"),
            ),
            Error::ImageReferencedByIndex(digest) => (
                Code::ManifestReferenced,
                format!("manifest {digest} is referenced by an index in the repository; delete the index first"),
            ),
            Error::ImageDigestDoesNotMatch { given, actual } => (
                Code::DigestInvalid,
                format!("the manifest's digest is {actual}, not {given}"),
            ),
            Error::LayersNotFound(digests) => (
                Code::ManifestBlobUnknown,
                format!("blobs unknown to the repository: {}", Digest::list(&digests)),
            ),
            Error::ReferencedImagesNotFound(digests) => (
                Code::ManifestBlobUnknown,
                format!("manifests unknown to the repository: {}", Digest::list(&digests)),
            ),
            Error::LayerInaccessible(digest) | Error::BlobNotFound(digest) => (
                Code::BlobUnknown,
                format!("blob unknown to the repository: {digest}"),
            ),
            Error::UploadNotFound(id) => (
                Code::BlobUploadUnknown,
                format!("blob upload unknown: {id}"),
            ),
            Error::MisplacedPart {
                received, problem, ..
            } => (Code::RangeInvalid, chunk_problem(received, &problem)),
            Error::EmptyUpload(id) => (
                Code::BlobUploadInvalid,
                format!("upload {id} holds no bytes"),
            ),
            Error::LayerPartTooSmall { min } => (
                Code::BlobUploadInvalid,
                format!("chunks before the last must be at least {min} bytes"),
            ),
            Error::TooManyParts { max } => (
                Code::TooManyRequests,
                format!("an upload may have at most {max} chunks"),
            ),
            Error::LayerDigestMismatch { given, actual } => (
                Code::DigestInvalid,
                format!("the uploaded content has digest {actual}, not the {given} given"),
            ),
            Error::LayerAlreadyExists(digest) => (
                Code::BlobUploadInvalid,
                format!("blob {digest} already exists"),
            ),
            Error::IncompleteBody(reason) => (
                Code::BlobUploadInvalid,
                format!("the request body could not be read: {reason}"),
            ),
            Error::StorageFull => (
                Code::StorageFull,
                "the registry's storage is full; nothing was stored".into(),
            ),
            Error::Upstream {
                problem, message, ..
            } => (
                Code::BadGateway,
                match problem {
                    UpstreamProblem::AccessDenied => format!(
                        "the pull-through cache's upstream refused its credential: {message}"
                    ),
                    UpstreamProblem::Unavailable => {
                        format!("the pull-through cache's upstream failed: {message}")
                    }
                },
            ),
            Error::Unavailable(dependency) => (
                Code::Unavailable,
                format!("{dependency} is unavailable; retry later"),
            ),
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "server fault");
                (Code::Internal, "internal error".into())
            }
        };
        OciError::new(code, message)
    }
}

impl From<Refusal> for OciError {
    fn from(refusal: Refusal) -> Self {
        let unauthorized = |message: &str| OciError::new(Code::Unauthorized, message);
        match refusal {
            Refusal::Missing => unauthorized("authentication required"),
            Refusal::Unusable {
                bearer_accepted: true,
            } => unauthorized("expected Basic or Bearer credentials"),
            Refusal::Unusable {
                bearer_accepted: false,
            } => unauthorized("expected Basic credentials"),
            Refusal::WrongUser => unauthorized(
                "the user name must be AWS, with a password from GetAuthorizationToken",
            ),
            Refusal::OtherRegistry => unauthorized(
                "the authorization token is for the account's other registry: ECR and ECR Public tokens differ",
            ),
            Refusal::OtherRegion {
                password,
                requested,
            } => unauthorized(&format!(
                "the authorization token is for {password}, not {requested}: get a token in {requested}"
            )),
            Refusal::PasswordExpired => {
                OciError::new(Code::Denied, "the authorization token has expired")
            }
            Refusal::BearerExpired => unauthorized("the bearer token has expired"),
            Refusal::Revoked => unauthorized(
                "the credential that minted the authorization token is no longer configured; get a new token",
            ),
            Refusal::InvalidPassword => unauthorized("the authorization token is not valid"),
            Refusal::InvalidBearer => unauthorized("the bearer token is not valid"),
            Refusal::NotGranted { action, repository } => unauthorized(&format!(
                "the bearer token does not grant {} access to the repository {repository}: \
                 anonymous tokens grant pulls only; log in with ECR Public's authorization \
                 token to push",
                action.as_str()
            )),
        }
    }
}

fn invalid_request(invalid: &Invalid) -> String {
    match invalid {
        Invalid::AccountSettingValue { setting, value } => {
            format!("{value} is not a value of {}", setting.as_str())
        }
        Invalid::KmsKeyWithoutKms => "a KMS key needs KMS encryption".into(),
        Invalid::PagingWithRepositoryNames | Invalid::PagingWithImageIds => {
            "paging does not go with an explicit list".into()
        }
        Invalid::PageToken => "the page token is not valid for this request".into(),
        Invalid::NotARepositoryArn(arn) => format!("{arn} is not a repository ARN"),
        Invalid::LogoTooLarge { max } => format!("logos are limited to {max} bytes"),
        Invalid::LogoNotAnImage => "the logo must be a PNG or JPEG image".into(),
        Invalid::NoLayerDigest => "a digest is required".into(),
        Invalid::ImageId(failure) => format!("invalid image id: {:?}", failure.problem),
        Invalid::Mutability(e) => e.to_string(),
        Invalid::TemplateResourceTag { key, .. } => format!("invalid resource tag '{key}'"),
        Invalid::TemplateResourceTagCount { max } => format!("at most {max} resource tags"),
        Invalid::NoAppliedFor => "a template must apply to at least one action".into(),
        Invalid::Replication(problem) => problem.to_string(),
        Invalid::Scanning(problem) => problem.to_string(),
        Invalid::PullThrough(problem) => problem.to_string(),
    }
}

fn chunk_problem(received: u64, problem: &PartProblem) -> String {
    match problem {
        PartProblem::Start { first } => {
            format!("the chunk starts at byte {first}; the session holds {received} bytes")
        }
        PartProblem::Range { first, last } => {
            format!("the chunk's range {first}-{last} is empty")
        }
        PartProblem::Length {
            announced,
            received,
        } => format!("the chunk holds {received} bytes where Content-Range announces {announced}"),
        PartProblem::Raced => format!(
            "another chunk was received for the bytes from {received}, or the session is being closed"
        ),
    }
}
