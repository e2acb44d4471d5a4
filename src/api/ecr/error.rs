//! The service's errors in ECR's words: one exhaustive match. ECR Public names its
//! errors as ECR does, so both JSON faces render through this one mapping; the errors
//! only one of them can meet (RegistryNotFound, catalog data) come only from its calls.

use std::fmt;

use actix_web::http::StatusCode;

use crate::api::awsjson::ApiError;
use crate::domain::{Digest, ImageSelector, LifecycleProblem, NotArchivable, PullThroughProblem};
use crate::remote::RemoteError;
use crate::secrets::SecretError;
use crate::service::{
    Error, ImageFailure, ImageProblem, Invalid, LayerProblem, PartProblem, ResourceTagProblem,
    UpstreamFailure, UpstreamProblem, UpstreamRead,
};

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let client = ApiError::client;
        match e {
            Error::Invalid(invalid) => ApiError::invalid_parameter(invalid_parameter(&invalid)),
            Error::InvalidManifest(e) => {
                ApiError::invalid_parameter(format!("Invalid parameter at 'imageManifest': {e}"))
            }
            Error::InvalidResourceTag { key, problem } => client(
                "InvalidTagParameterException",
                match problem {
                    ResourceTagProblem::Length => format!(
                        "The tag '{key}' is not valid: keys are 1 to 128 characters, values at most 256"
                    ),
                    ResourceTagProblem::ReservedPrefix => {
                        format!("The tag key '{key}' uses the reserved prefix 'aws:'")
                    }
                },
            ),
            Error::TooManyResourceTags { max } => client(
                "TooManyTagsException",
                format!("A repository may carry at most {max} tags"),
            ),
            Error::RepositoryNotFound { registry, name } => repository_not_found(&registry, &name),
            Error::RepositoryAlreadyExists { registry, name } => client(
                "RepositoryAlreadyExistsException",
                format!("The repository with name '{name}' already exists in the registry with id '{registry}'"),
            ),
            Error::RepositoryNotEmpty { registry, name } => client(
                "RepositoryNotEmptyException",
                format!("The repository with name '{name}' in registry with id '{registry}' cannot be deleted because it still contains images"),
            ),
            Error::AccessDenied {
                principal,
                action,
                resource,
                explicit,
            } => client(
                "AccessDeniedException",
                if explicit {
                    format!(
                        "User: {principal} is not authorized to perform: {action} on resource: \
                         {resource} with an explicit deny in a resource-based policy"
                    )
                } else {
                    format!(
                        "User: {principal} is not authorized to perform: {action} on resource: \
                         {resource} because no resource-based policy allows the {action} action"
                    )
                },
            ),
            Error::InvalidPolicy(e) => ApiError::invalid_parameter(e.to_string()),
            Error::RegistryPolicyNotFound(registry) => client(
                "RegistryPolicyNotFoundException",
                format!("Registry policy does not exist in the registry with id '{registry}'"),
            ),
            Error::SigningConfigurationNotFound(registry) => client(
                "SigningConfigurationNotFoundException",
                format!("Signing configuration does not exist in the registry with id '{registry}'"),
            ),
            Error::ExclusionAlreadyExists(arn) => client(
                "ExclusionAlreadyExistsException",
                format!("The principal '{arn}' is already excluded from pull time updates"),
            ),
            Error::ExclusionNotFound(arn) => client(
                "ExclusionNotFoundException",
                format!("The principal '{arn}' is not excluded from pull time updates"),
            ),
            Error::TooManyExclusions { max } => client(
                "LimitExceededException",
                format!("A registry may exclude at most {max} principals from pull time updates"),
            ),
            Error::RegistryNotFound(given) => client(
                "RegistryNotFoundException",
                format!("The registry '{given}' does not exist"),
            ),
            Error::TemplateAlreadyExists { registry, prefix } => client(
                "TemplateAlreadyExistsException",
                format!("A repository creation template with prefix '{prefix}' already exists in the registry with id '{registry}'"),
            ),
            Error::TemplateNotFound { registry, prefix } => client(
                "TemplateNotFoundException",
                format!("The repository creation template with prefix '{prefix}' does not exist in the registry with id '{registry}'"),
            ),
            Error::TooManyTemplates { max } => client(
                "LimitExceededException",
                format!("A registry may hold at most {max} repository creation templates"),
            ),
            Error::PullThroughRuleAlreadyExists { registry, prefix } => client(
                "PullThroughCacheRuleAlreadyExistsException",
                format!("A pull through cache rule with the ECR repository prefix '{prefix}' already exists in the registry with id '{registry}'"),
            ),
            Error::PullThroughRuleNotFound { registry, prefix } => client(
                "PullThroughCacheRuleNotFoundException",
                format!("The pull through cache rule with the ECR repository prefix '{prefix}' does not exist in the registry with id '{registry}'"),
            ),
            Error::TooManyPullThroughRules { max } => client(
                "LimitExceededException",
                format!("A registry may hold at most {max} pull through cache rules"),
            ),
            Error::Secret(e) => {
                let (code, message) = secret_problem(&e);
                client(code, message)
            }
            Error::RepositoryPolicyNotFound { registry, name } => client(
                "RepositoryPolicyNotFoundException",
                format!("Repository policy does not exist for the repository with name '{name}' in the registry with id '{registry}'"),
            ),
            Error::InvalidLifecyclePolicy(problem) => ApiError::invalid_parameter(format!(
                "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: {}'",
                lifecycle_problem(&problem)
            )),
            Error::LifecyclePolicyNotFound { registry, name } => client(
                "LifecyclePolicyNotFoundException",
                format!("Lifecycle policy does not exist for the repository with name '{name}' in the registry with id '{registry}'"),
            ),
            Error::LifecyclePolicyPreviewNotFound { registry, name } => client(
                "LifecyclePolicyPreviewNotFoundException",
                format!("There is no lifecycle policy preview for the repository with name '{name}' in the registry with id '{registry}'"),
            ),
            Error::RepositoryCatalogDataNotFound { registry, name } => client(
                "RepositoryCatalogDataNotFoundException",
                format!("Catalog data does not exist for the repository with name '{name}' in the registry with id '{registry}'"),
            ),
            Error::ImageNotFound {
                registry,
                name,
                image,
            } => client(
                "ImageNotFoundException",
                format!(
                    "The image with imageId {} does not exist within the repository with name '{name}' in the registry with id '{registry}'",
                    image_id(&image)
                ),
            ),
            Error::ImageArchived {
                registry,
                name,
                image,
            } => client(
                "ImageNotFoundException",
                format!(
                    "The image with imageId {} in the repository with name '{name}' in the registry with id '{registry}' is archived; restore it with UpdateImageStorageClass to pull it",
                    image_id(&image)
                ),
            ),
            Error::ScanNotFound {
                registry,
                name,
                image,
            } => client(
                "ScanNotFoundException",
                format!(
                    "Image scan does not exist for the image with imageId {} in the repository with name '{name}' in the registry with id '{registry}'",
                    image_id(&image)
                ),
            ),
            Error::ScanLimitExceeded { image } => client(
                "LimitExceededException",
                format!(
                    "The scan quota per image has been exceeded for the image with imageId {}: an image can be scanned once every 24 hours. Wait and try again",
                    image_id(&image)
                ),
            ),
            Error::UnsupportedImageType { image } => client(
                "UnsupportedImageTypeException",
                format!(
                    "The image with imageId {} is not a supported image type for scanning: image indexes and artifacts (signatures, SBOMs) cannot be scanned; scan the images they list or refer to",
                    image_id(&image)
                ),
            ),
            Error::ScanOfArchivedImage { image } => client(
                "ImageArchivedException",
                format!(
                    "The image with imageId {} is archived; restore it with UpdateImageStorageClass to scan it",
                    image_id(&image)
                ),
            ),
            Error::ManualScanWithEnhanced => client(
                "ValidationException",
                "This registry's scan type is ENHANCED, which scans on push or continuously; manual scans need scan type BASIC (PutRegistryScanningConfiguration)".to_owned(),
            ),
            Error::StorageClassUpdateNotSupported { image, reason } => client(
                "ImageStorageClassUpdateNotSupportedException",
                format!(
                    "The image with imageId {} cannot be archived: {}",
                    image_id(&image),
                    match reason {
                        NotArchivable::Index => "it is an image index; archive the images it lists instead",
                        NotArchivable::Artifact => "it is an artifact, not a container image",
                        NotArchivable::ListedByIndex => "an image index in the repository lists it",
                    }
                ),
            ),
            Error::ImageAlreadyExists { digest, tag, name } => client(
                "ImageAlreadyExistsException",
                format!(
                    "Image with digest '{digest}' and tag '{}' already exists in the repository with name '{name}'",
                    tag.map(|t| t.to_string()).unwrap_or_default()
                ),
            ),
            Error::ImageTagAlreadyExists { tag, name } => client(
                "ImageTagAlreadyExistsException",
                format!("The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the tag is immutable"),
            ),
            Error::ImageReferencedByIndex(digest) => ApiError::invalid_parameter(format!(
                "The image {digest} is referenced by a manifest list in the repository; delete the manifest list first"
            )),
            Error::ImageDigestDoesNotMatch { given, actual } => client(
                "ImageDigestDoesNotMatchException",
                format!("The provided image digest '{given}' does not match the digest '{actual}' calculated from the manifest"),
            ),
            Error::LayersNotFound(digests) => client(
                "LayersNotFoundException",
                format!(
                    "The following layers are not present in the repository: {}",
                    Digest::list(&digests)
                ),
            ),
            Error::ReferencedImagesNotFound(digests) => client(
                "ReferencedImagesNotFoundException",
                format!(
                    "The following images referenced by the manifest list are not present in the repository: {}",
                    Digest::list(&digests)
                ),
            ),
            Error::LayerInaccessible(digest) => client(
                "LayerInaccessibleException",
                format!("The layer '{digest}' is not referenced by any image in the repository"),
            ),
            Error::Upstream {
                read: UpstreamRead::Image,
                message,
                ..
            } => client(
                "UnableToGetUpstreamImageException",
                format!("The image could not be pulled through the pull through cache rule: {message}"),
            ),
            Error::Upstream {
                read: UpstreamRead::Referrers,
                message,
                ..
            } => client(
                "UnableToListUpstreamImageReferrersException",
                format!("The referrers could not be listed through the pull through cache rule: {message}"),
            ),
            Error::Upstream {
                read: UpstreamRead::Layer(digest),
                message,
                ..
            } => client(
                "UnableToGetUpstreamLayerException",
                format!("The layer '{digest}' could not be pulled through the pull through cache rule: {message}"),
            ),
            Error::BlobNotFound(digest) => client(
                "LayersNotFoundException",
                format!("The layer '{digest}' is not present in the repository"),
            ),
            Error::UploadNotFound(id) => client(
                "UploadNotFoundException",
                format!("Upload with id '{id}' is not found"),
            ),
            Error::MisplacedPart {
                registry,
                name,
                upload,
                received,
                problem,
            } => client("InvalidLayerPartException", part_problem(received, &problem))
                .with("registryId", registry.account.as_str())
                .with("repositoryName", name.as_str())
                .with("uploadId", upload.as_str())
                .with("lastValidByteReceived", received.saturating_sub(1)),
            Error::EmptyUpload(id) => client(
                "EmptyUploadException",
                format!("The upload with id '{id}' contains no layer parts"),
            ),
            Error::LayerPartTooSmall { min } => client(
                "LayerPartTooSmallException",
                format!("Layer parts other than the last must be at least {min} bytes"),
            ),
            Error::TooManyParts { max } => client(
                "LimitExceededException",
                format!("An upload may have at most {max} parts"),
            ),
            Error::LayerDigestMismatch { given, actual } => client(
                "InvalidLayerException",
                format!("The calculated digest {actual} does not match the layer digest given, {given}"),
            ),
            Error::LayerAlreadyExists(digest) => client(
                "LayerAlreadyExistsException",
                format!("The layer '{digest}' already exists in the repository"),
            ),
            Error::IncompleteBody(reason) => ApiError::serialization(format!(
                "The request body could not be read: {reason}"
            )),
            Error::StorageFull => ApiError::server(
                StatusCode::INSUFFICIENT_STORAGE,
                "berth's storage is full; nothing was stored",
            ),
            Error::Unavailable(dependency) => ApiError::server(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{dependency} is unavailable; the request may be retried"),
            ),
            Error::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// RepositoryNotFoundException for `name` in the registry `registry` names.
pub(crate) fn repository_not_found(
    registry: &dyn fmt::Display,
    name: &dyn fmt::Display,
) -> ApiError {
    ApiError::client(
        "RepositoryNotFoundException",
        format!(
            "The repository with name '{name}' does not exist in the registry with id '{registry}'"
        ),
    )
}

/// `InvalidParameterException`'s message for a broken rule, naming the member.
fn invalid_parameter(invalid: &Invalid) -> String {
    let at = |member: &str, constraint: &str| {
        format!("Invalid parameter at '{member}' failed to satisfy constraint: '{constraint}'")
    };
    match invalid {
        Invalid::AccountSettingValue { setting, .. } => at(
            "value",
            &format!(
                "Member must satisfy enum value set: [{}]",
                setting.settable().join(", ")
            ),
        ),
        Invalid::KmsKeyWithoutKms => at(
            "encryptionConfiguration.kmsKey",
            "kmsKey is only allowed with KMS encryption",
        ),
        Invalid::PagingWithRepositoryNames => {
            "Invalid parameter: nextToken and maxResults cannot be used with repositoryNames".into()
        }
        Invalid::PagingWithImageIds => {
            "Invalid parameter: nextToken and maxResults cannot be used with imageIds".into()
        }
        Invalid::PageToken => {
            "Invalid parameter at 'nextToken': the token is not valid for this request".into()
        }
        Invalid::NotARepositoryArn(arn) => {
            at("resourceArn", &format!("{arn} is not a repository ARN"))
        }
        Invalid::LogoTooLarge { max } => at(
            "catalogData.logoImageBlob",
            &format!("Member must have length less than or equal to {max}"),
        ),
        Invalid::LogoNotAnImage => at(
            "catalogData.logoImageBlob",
            "the logo must be a PNG or JPEG image",
        ),
        Invalid::NoLayerDigest => {
            "Invalid parameter at 'layerDigests': at least one digest is required".into()
        }
        Invalid::ImageId(failure) => image_failure(failure).1,
        Invalid::Mutability(e) => at("imageTagMutability", &e.to_string()),
        Invalid::TemplateResourceTag { key, problem } => at(
            "resourceTags",
            &match problem {
                ResourceTagProblem::Length => format!(
                    "the tag '{key}' is not valid: keys are 1 to 128 characters, values at most 256"
                ),
                ResourceTagProblem::ReservedPrefix => {
                    format!("the tag key '{key}' uses the reserved prefix 'aws:'")
                }
            },
        ),
        Invalid::TemplateResourceTagCount { max } => at(
            "resourceTags",
            &format!("a repository may carry at most {max} tags"),
        ),
        Invalid::NoAppliedFor => at(
            "appliedFor",
            "name at least one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH",
        ),
        Invalid::Replication(problem) => at("replicationConfiguration", &problem.to_string()),
        Invalid::Scanning(problem) => at("rules", &problem.to_string()),
        Invalid::PullThrough(problem) => at(
            match problem {
                PullThroughProblem::UpstreamUrl { .. } => "upstreamRegistryUrl",
                PullThroughProblem::RegistryMismatch { .. } => "upstreamRegistry",
                PullThroughProblem::CredentialRequired(_) => "credentialArn",
                PullThroughProblem::UpstreamPrefixWithRoot => "upstreamRepositoryPrefix",
            },
            &problem.to_string(),
        ),
    }
}

/// A pull through cache rule's secret that cannot be had: the error's code and
/// message. Where the secrets file is and why it cannot be read is the operator's to
/// know: logged, not told.
fn secret_problem(e: &SecretError) -> (&'static str, String) {
    match e {
        SecretError::NotFound { arn } => (
            "SecretNotFoundException",
            format!("The secret '{arn}' was not found"),
        ),
        SecretError::Unreadable { arn, .. } => {
            tracing::warn!(error = %e, "secrets file unreadable");
            (
                "UnableToAccessSecretException",
                format!("The secret '{arn}' cannot be accessed"),
            )
        }
        SecretError::Malformed { arn } => (
            "UnableToDecryptSecretValueException",
            format!("The value of the secret '{arn}' is not a JSON object with the string members 'username' and 'accessToken'"),
        ),
    }
}

/// ValidatePullThroughCacheRule's `failure`: why the rule's upstream does not answer.
pub fn upstream_failure(failure: &UpstreamFailure) -> String {
    match failure {
        UpstreamFailure::Secret(e) => secret_problem(e).1,
        UpstreamFailure::Remote(e) => {
            let why = match e {
                RemoteError::Unreachable(why) => {
                    format!("the upstream registry is unreachable: {why}")
                }
                RemoteError::Unauthorized(why) => {
                    format!("the upstream registry refused the credentials: {why}")
                }
                RemoteError::Denied(why) => format!("the upstream registry denied access: {why}"),
                RemoteError::NotFound(why) => {
                    format!("the upstream registry has no registry API: {why}")
                }
                RemoteError::Rejected { status, message } => {
                    format!("the upstream registry answered {status}: {message}")
                }
                RemoteError::Invalid(why) => format!("the upstream registry cannot be used: {why}"),
            };
            format!("Validation failed: {why}")
        }
    }
}

/// What is wrong with a lifecycle policy, naming the rule by its `rulePriority`.
fn lifecycle_problem(problem: &LifecycleProblem) -> String {
    use LifecycleProblem as P;
    match problem {
        P::NotJson(why) => format!("the policy is not valid JSON: {why}"),
        P::WrongType { path, expected } => format!("{path} must be {expected}"),
        P::UnknownMember { path, member } => format!("{path} has an unknown member '{member}'"),
        P::Missing { path, member } => format!("{path} is missing '{member}'"),
        P::NoRules => "'rules' must hold at least one rule".into(),
        P::BadPriority { index } => format!(
            "rules[{index}].rulePriority must be an integer of at least 1"
        ),
        P::DuplicatePriority { rule } => {
            format!("rulePriority {rule} is used by more than one rule")
        }
        P::NotOneOf {
            rule,
            member,
            value,
            allowed,
        } => format!("rule {rule}: '{value}' is not a valid {member}; use one of {allowed}"),
        P::AnyNotLast { rule } => format!(
            "rule {rule} has tagStatus 'any' and must have the highest rulePriority"
        ),
        P::TaggedWithoutFilter { rule } => format!(
            "rule {rule} has tagStatus 'tagged' and needs a tagPrefixList or a tagPatternList"
        ),
        P::FilterWithoutTagged { rule, member } => {
            format!("rule {rule}: {member} is only allowed with tagStatus 'tagged'")
        }
        P::BothFilters { rule } => format!(
            "rule {rule} may have a tagPrefixList or a tagPatternList, not both"
        ),
        P::EmptyFilter { rule, member } => {
            format!("rule {rule}: {member} must be a non-empty list of non-empty strings")
        }
        P::TooManyWildcards { rule, pattern } => format!(
            "rule {rule}: the tag pattern '{pattern}' has more than {} wildcards (*)",
            crate::domain::lifecycle::MAX_WILDCARDS
        ),
        P::BadPattern { rule, pattern } => format!(
            "rule {rule}: the tag pattern '{pattern}' may hold only letters, digits, '.', '_', '-' and '*', up to 128 characters"
        ),
        P::DuplicateFilter { rule, other } => format!(
            "rules {other} and {rule} select the same storage class with the same tag filter"
        ),
        P::SecondUntagged { rule, other } => format!(
            "rules {other} and {rule} both select untagged images of the same storage class; only one rule may"
        ),
        P::CountUnitMissing { rule, count_type } => {
            format!("rule {rule}: countUnit 'days' is required with countType '{count_type}'")
        }
        P::CountUnitNotAllowed { rule } => format!(
            "rule {rule}: countUnit is not allowed with countType 'imageCountMoreThan'"
        ),
        P::BadCountNumber { rule } => {
            format!("rule {rule}: countNumber must be an integer of at least 1")
        }
        P::StorageClassForCount {
            rule,
            storage_class,
            count_type,
        } => format!(
            "rule {rule}: storageClass '{storage_class}' cannot be used with countType '{count_type}' (sinceImageTransitioned selects 'archive', every other count type 'standard')"
        ),
        P::ActionForCount {
            rule,
            action,
            count_type,
        } => format!("rule {rule}: action '{action}' cannot be used with countType '{count_type}'"),
        P::TargetMissing { rule } => format!(
            "rule {rule}: action 'transition' needs targetStorageClass 'archive'"
        ),
        P::TargetWithExpire { rule } => format!(
            "rule {rule}: targetStorageClass is only allowed with action 'transition'"
        ),
    }
}

fn part_problem(received: u64, problem: &PartProblem) -> String {
    match problem {
        PartProblem::Start { first } => format!(
            "The part's first byte {first} must follow the last byte received: it should be {received}"
        ),
        PartProblem::Range { first, last } => {
            format!("The part's byte range {first}-{last} is empty")
        }
        PartProblem::Length {
            announced,
            received,
        } => format!(
            "The part holds {received} bytes where its byte range announces {announced}"
        ),
        PartProblem::Raced => format!(
            "Another part was received for the same bytes (from byte {received}), or the upload is being completed"
        ),
    }
}

/// ECR's `imageId {imageDigest:..., imageTag:...}` rendering.
fn image_id(image: &ImageSelector) -> String {
    let quoted = |v: Option<String>| v.map_or("null".into(), |v| format!("'{v}'"));
    format!(
        "{{imageDigest:{}, imageTag:{}}}",
        quoted(image.digest().map(Digest::to_string)),
        quoted(image.tag().map(|t| t.to_string()))
    )
}

/// A batch failure's `failureCode` and `failureReason`.
pub fn image_failure(failure: &ImageFailure) -> (&'static str, String) {
    match &failure.problem {
        ImageProblem::InvalidDigest(why) => {
            ("InvalidImageDigest", format!("Invalid image digest: {why}"))
        }
        ImageProblem::InvalidTag(why) => ("InvalidImageTag", format!("Invalid image tag: {why}")),
        ImageProblem::MissingDigestAndTag => {
            ("MissingDigestAndTag", "Missing image digest and tag".into())
        }
        ImageProblem::TagDoesNotMatchDigest => (
            "ImageTagDoesNotMatchDigest",
            "The image tag does not match the image digest".into(),
        ),
        ImageProblem::NotFound => ("ImageNotFound", "Requested image not found".into()),
        ImageProblem::MediaTypeNotAccepted(media_type) => (
            "ImageNotFound",
            format!("The image's media type {media_type} is not among the accepted media types"),
        ),
        ImageProblem::ReferencedByIndex => (
            "ImageReferencedByManifestList",
            "The image is referenced by a manifest list in the repository".into(),
        ),
        ImageProblem::Archived => (
            "ImageNotFound",
            "The image is archived; restore it with UpdateImageStorageClass to pull it".into(),
        ),
        ImageProblem::Upstream(UpstreamProblem::AccessDenied) => (
            "UpstreamAccessDenied",
            "The upstream registry refused the pull through cache rule's credential".into(),
        ),
        ImageProblem::Upstream(UpstreamProblem::Unavailable) => (
            "UpstreamUnavailable",
            "The upstream registry of the pull through cache rule is unavailable".into(),
        ),
    }
}

/// A layer check's `failureCode` and `failureReason`.
pub fn layer_failure(problem: &LayerProblem) -> (&'static str, String) {
    match problem {
        LayerProblem::InvalidDigest(why) => {
            ("InvalidLayerDigest", format!("Invalid layer digest: {why}"))
        }
        LayerProblem::Missing => (
            "MissingLayerDigest",
            "Requested layer digest is not available in the repository".into(),
        ),
    }
}
