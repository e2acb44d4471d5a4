//! The service's errors in ECR's wire form: one exhaustive match. ECR Public names its
//! errors as ECR does, so both JSON faces render through this one mapping; the errors
//! only one of them can meet (RegistryNotFound, catalog data) come only from its calls.

use actix_web::http::StatusCode;

use crate::api::awsjson::ApiError;
use crate::service::Error;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        let client = |kind| ApiError::client(kind, message.clone());
        match e {
            Error::InvalidParameter(_) | Error::InvalidManifest(_) => {
                client("InvalidParameterException")
            }
            Error::InvalidTagParameter(_) => client("InvalidTagParameterException"),
            Error::TooManyTags => client("TooManyTagsException"),
            Error::RepositoryNotFound { .. } => client("RepositoryNotFoundException"),
            Error::RepositoryAlreadyExists { .. } => client("RepositoryAlreadyExistsException"),
            Error::RepositoryNotEmpty { .. } => client("RepositoryNotEmptyException"),
            Error::RegistryNotFound(_) => client("RegistryNotFoundException"),
            Error::RepositoryPolicyNotFound { .. } => client("RepositoryPolicyNotFoundException"),
            Error::RepositoryCatalogDataNotFound { .. } => {
                client("RepositoryCatalogDataNotFoundException")
            }
            Error::ImageNotFound(_) => client("ImageNotFoundException"),
            Error::ImageAlreadyExists { .. } => client("ImageAlreadyExistsException"),
            Error::ImageTagAlreadyExists { .. } => client("ImageTagAlreadyExistsException"),
            Error::ImageDigestDoesNotMatch { .. } => client("ImageDigestDoesNotMatchException"),
            Error::LayersNotFound(_) => client("LayersNotFoundException"),
            Error::ReferencedImagesNotFound(_) => client("ReferencedImagesNotFoundException"),
            Error::LayerInaccessible(_) => client("LayerInaccessibleException"),
            Error::UploadNotFound(_) => client("UploadNotFoundException"),
            Error::InvalidLayerPart {
                registry,
                name,
                upload,
                last_valid_byte,
                ..
            } => client("InvalidLayerPartException")
                .with("registryId", registry.account.as_str())
                .with("repositoryName", name.as_str())
                .with("uploadId", upload.as_str())
                .with("lastValidByteReceived", last_valid_byte),
            Error::EmptyUpload(_) => client("EmptyUploadException"),
            Error::LayerPartTooSmall => client("LayerPartTooSmallException"),
            Error::InvalidLayer(_) => client("InvalidLayerException"),
            Error::LayerAlreadyExists(_) => client("LayerAlreadyExistsException"),
            Error::LimitExceeded(_) => client("LimitExceededException"),
            Error::IncompleteBody(_) => client("SerializationException"),
            Error::BlobNotFound(_) => client("LayersNotFoundException"),
            Error::StorageFull => ApiError::server(StatusCode::INSUFFICIENT_STORAGE, message),
            Error::Unavailable(_) => ApiError::server(StatusCode::SERVICE_UNAVAILABLE, message),
            Error::Internal(cause) => ApiError::internal(cause),
        }
    }
}
