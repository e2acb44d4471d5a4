use chrono::{DateTime, Utc};

use super::{
    now, pull_due, Caller, Error, Image, Page, PageRequest, Repository, Result, Service, TagStatus,
};
use crate::domain::{
    Digest, Hasher, ImageTag, Manifest, ManifestKind, Registry, RegistryId, RepositoryName,
};
use crate::store::{self, ImageKey, NewImage, TagWrite};

/// Which image a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSelector {
    Tag(ImageTag),
    Digest(Digest),
    /// Both: the tag must point at the digest.
    Both {
        digest: Digest,
        tag: ImageTag,
    },
}

/// ECR's per-item failure codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    InvalidImageDigest,
    InvalidImageTag,
    ImageTagDoesNotMatchDigest,
    ImageNotFound,
    MissingDigestAndTag,
    ImageReferencedByManifestList,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidImageDigest => "InvalidImageDigest",
            Self::InvalidImageTag => "InvalidImageTag",
            Self::ImageTagDoesNotMatchDigest => "ImageTagDoesNotMatchDigest",
            Self::ImageNotFound => "ImageNotFound",
            Self::MissingDigestAndTag => "MissingDigestAndTag",
            Self::ImageReferencedByManifestList => "ImageReferencedByManifestList",
        }
    }
}

/// One item of a batch that failed, echoing the id as the client sent it.
#[derive(Debug, Clone)]
pub struct ImageFailure {
    pub digest: Option<String>,
    pub tag: Option<String>,
    pub code: FailureCode,
    pub reason: String,
}

impl ImageSelector {
    /// Parses an image id as sent; a bad one is a per-item failure, not a call failure.
    pub fn parse(digest: Option<&str>, tag: Option<&str>) -> Result<Self, ImageFailure> {
        let fail = |code, reason: String| ImageFailure {
            digest: digest.map(str::to_owned),
            tag: tag.map(str::to_owned),
            code,
            reason,
        };
        let d = digest
            .map(|d| {
                Digest::parse(d).map_err(|e| {
                    fail(
                        FailureCode::InvalidImageDigest,
                        format!("Invalid image digest: {e}"),
                    )
                })
            })
            .transpose()?;
        let t = tag
            .map(|t| {
                ImageTag::parse(t).map_err(|e| {
                    fail(
                        FailureCode::InvalidImageTag,
                        format!("Invalid image tag: {e}"),
                    )
                })
            })
            .transpose()?;
        match (d, t) {
            (Some(digest), Some(tag)) => Ok(Self::Both { digest, tag }),
            (Some(d), None) => Ok(Self::Digest(d)),
            (None, Some(t)) => Ok(Self::Tag(t)),
            (None, None) => Err(fail(
                FailureCode::MissingDigestAndTag,
                "Missing image digest and tag".into(),
            )),
        }
    }

    fn failure(&self, code: FailureCode, reason: &str) -> ImageFailure {
        let (digest, tag) = match self {
            Self::Tag(t) => (None, Some(t.to_string())),
            Self::Digest(d) => (Some(d.to_string()), None),
            Self::Both { digest, tag } => (Some(digest.to_string()), Some(tag.to_string())),
        };
        ImageFailure {
            digest,
            tag,
            code,
            reason: reason.to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PutImage {
    pub registry: Option<RegistryId>,
    pub name: RepositoryName,
    /// The exact bytes; stored and served unchanged.
    pub manifest: Vec<u8>,
    pub media_type: Option<String>,
    pub tag: Option<ImageTag>,
    pub digest: Option<Digest>,
}

/// An image with its manifest, as PutImage and BatchGetImage return it.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub registry: Registry,
    pub name: RepositoryName,
    pub digest: Digest,
    pub tag: Option<ImageTag>,
    pub manifest: Vec<u8>,
    pub media_type: String,
    /// The manifest's `subject`, for the registry face's `OCI-Subject` header.
    pub subject: Option<Digest>,
}

#[derive(Debug, Clone)]
pub struct ImageDetail {
    pub registry: Registry,
    pub name: RepositoryName,
    pub digest: Digest,
    pub tags: Vec<ImageTag>,
    pub size: i64,
    pub pushed_at: DateTime<Utc>,
    pub media_type: String,
    pub artifact_media_type: Option<String>,
    pub last_pulled_at: Option<DateTime<Utc>>,
    pub subject: Option<Digest>,
}

const NOT_FOUND: &str = "Requested image not found";

impl Service {
    /// Registers a manifest under an optional tag. The one implementation of the
    /// rules, shared by every face.
    pub async fn put_image(&self, caller: &Caller, req: PutImage) -> Result<StoredImage> {
        let registry = self.registry(caller, req.registry.as_ref())?;
        let repo = self.repository(&registry, &req.name).await?;
        let mut hasher = Hasher::new(
            req.digest
                .as_ref()
                .map_or(crate::domain::Algorithm::Sha256, Digest::algorithm),
        );
        hasher.update(&req.manifest);
        let digest = hasher.finish();
        if let Some(given) = req.digest {
            if given != digest {
                return Err(Error::ImageDigestDoesNotMatch {
                    given,
                    actual: digest,
                });
            }
        }
        let manifest = Manifest::parse(&req.manifest, req.media_type.as_deref())
            .map_err(|e| Error::InvalidManifest(e.to_string()))?;
        let new = NewImage {
            digest: digest.clone(),
            media_type: manifest.media_type.clone(),
            artifact_type: manifest
                .artifact_type
                .clone()
                .or_else(|| manifest.artifact_media_type().map(str::to_owned)),
            subject: manifest.subject.clone(),
            body: req.manifest,
            size: (manifest.kind == ManifestKind::Image).then(|| manifest.image_size()),
            blobs: manifest.required_blobs().cloned().collect(),
            children: manifest.children.iter().map(|d| d.digest.clone()).collect(),
        };
        let tag_write = req.tag.as_ref().map(|tag| TagWrite {
            tag: tag.clone(),
            immutable: repo.mutability.is_immutable(tag),
        });
        let stored = match self
            .store()
            .put_image(repo.id, &new, tag_write.as_ref(), now())
            .await
        {
            Ok(image) => image,
            Err(store::Error::MissingBlobs(d)) => return Err(Error::LayersNotFound(d)),
            Err(store::Error::MissingImages(d)) => return Err(Error::ReferencedImagesNotFound(d)),
            Err(store::Error::ImageAlreadyExists) => {
                return Err(Error::ImageAlreadyExists {
                    digest,
                    tag: req.tag.map(|t| t.to_string()).unwrap_or_default(),
                    name: repo.name,
                })
            }
            Err(store::Error::TagAlreadyExists) => {
                return Err(Error::ImageTagAlreadyExists {
                    tag: req.tag.map(|t| t.to_string()).unwrap_or_default(),
                    name: repo.name,
                })
            }
            Err(e) => return Err(e.into()),
        };
        Ok(StoredImage {
            registry,
            name: repo.name,
            digest: stored.digest,
            tag: req.tag,
            manifest: new.body,
            media_type: stored.media_type,
            subject: stored.subject,
        })
    }

    /// The image a selector names, or the failure to report for it.
    async fn select(
        &self,
        repo: &Repository,
        selector: &ImageSelector,
    ) -> Result<Result<Image, ImageFailure>> {
        let not_found = || selector.failure(FailureCode::ImageNotFound, NOT_FOUND);
        Ok(match selector {
            ImageSelector::Tag(tag) => self
                .store()
                .image_by_tag(repo.id, tag)
                .await?
                .ok_or_else(not_found),
            ImageSelector::Digest(digest) => self
                .store()
                .image_by_digest(repo.id, digest)
                .await?
                .ok_or_else(not_found),
            ImageSelector::Both { digest, tag } => {
                match self.store().image_by_tag(repo.id, tag).await? {
                    Some(image) if &image.digest == digest => Ok(image),
                    Some(_) => Err(selector.failure(
                        FailureCode::ImageTagDoesNotMatchDigest,
                        "The image tag does not match the image digest",
                    )),
                    None => Err(not_found()),
                }
            }
        })
    }

    /// The image and manifest bytes a selector names, or the failure to report for it;
    /// looked up with the repository in one query, so `None` also when the repository
    /// is missing (the caller tells the two apart).
    async fn select_manifest(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        selector: &ImageSelector,
    ) -> Result<Option<Result<(Image, Vec<u8>), ImageFailure>>> {
        let key = match selector {
            ImageSelector::Tag(tag) | ImageSelector::Both { tag, .. } => ImageKey::Tag(tag),
            ImageSelector::Digest(digest) => ImageKey::Digest(digest),
        };
        Ok(match self.store().manifest(registry, name, key).await? {
            None => None,
            Some((image, _)) if matches!(selector, ImageSelector::Both { digest, .. } if *digest != image.digest) => {
                Some(Err(selector.failure(
                    FailureCode::ImageTagDoesNotMatchDigest,
                    "The image tag does not match the image digest",
                )))
            }
            Some(found) => Some(Ok(found)),
        })
    }

    /// Images with their manifests; a pull, so it updates `lastRecordedPullTime`.
    pub async fn batch_get_image(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        ids: Vec<Result<ImageSelector, ImageFailure>>,
        accepted_media_types: Option<&[String]>,
    ) -> Result<(Vec<StoredImage>, Vec<ImageFailure>)> {
        let registry = self.registry(caller, registry)?;
        // The repository is looked up with each image; it is only asked for on its own
        // when no image was found, to tell a missing repository from missing images.
        let mut repository_exists = false;
        let (mut images, mut failures, mut pulled) = (Vec::new(), Vec::new(), Vec::new());
        let at = now();
        for id in ids {
            let Ok(selector) = id.map_err(|f| failures.push(f)) else {
                continue;
            };
            let found = match self.select_manifest(&registry, name, &selector).await? {
                Some(found) => {
                    repository_exists = true;
                    found
                }
                None => {
                    if !repository_exists {
                        self.repository(&registry, name).await?;
                        repository_exists = true;
                    }
                    Err(selector.failure(FailureCode::ImageNotFound, NOT_FOUND))
                }
            };
            let Ok((image, manifest)) = found.map_err(|f| failures.push(f)) else {
                continue;
            };
            if accepted_media_types.is_some_and(|types| !types.contains(&image.media_type)) {
                failures.push(selector.failure(
                    FailureCode::ImageNotFound,
                    &format!(
                        "The image's media type {} is not among the accepted media types",
                        image.media_type
                    ),
                ));
                continue;
            }
            let tag = match &selector {
                ImageSelector::Tag(t) | ImageSelector::Both { tag: t, .. } => Some(t.clone()),
                ImageSelector::Digest(_) => None,
            };
            if images
                .iter()
                .any(|i: &StoredImage| i.digest == image.digest && i.tag == tag)
            {
                continue;
            }
            if pull_due(&image, at) {
                pulled.push(image.id);
            }
            images.push(StoredImage {
                registry: registry.clone(),
                name: name.clone(),
                digest: image.digest,
                tag,
                manifest,
                media_type: image.media_type,
                subject: image.subject,
            });
        }
        if !repository_exists {
            self.repository(&registry, name).await?;
        }
        self.record_pull(&pulled, at).await;
        Ok((images, failures))
    }

    /// Deletes tags (the image goes with its last tag) or whole images by digest.
    /// Returns the ids removed, as `(digest, tag)`.
    pub async fn batch_delete_image(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        ids: Vec<Result<ImageSelector, ImageFailure>>,
    ) -> Result<(Vec<(Digest, Option<ImageTag>)>, Vec<ImageFailure>)> {
        let registry = self.registry(caller, registry)?;
        let repo = self.repository(&registry, name).await?;
        let (mut deleted, mut failures) = (Vec::new(), Vec::new());
        for id in ids {
            let Ok(selector) = id.map_err(|f| failures.push(f)) else {
                continue;
            };
            let outcome = match &selector {
                ImageSelector::Tag(tag) => self.store().delete_tag(repo.id, tag).await,
                ImageSelector::Digest(digest) => self.store().delete_image(repo.id, digest).await,
                ImageSelector::Both { tag, .. } => match self.select(&repo, &selector).await? {
                    Ok(_) => self.store().delete_tag(repo.id, tag).await,
                    Err(f) => {
                        failures.push(f);
                        continue;
                    }
                },
            };
            match outcome {
                Ok(Some(d)) if d.tags.is_empty() => deleted.push((d.digest, None)),
                Ok(Some(d)) => {
                    deleted.extend(d.tags.into_iter().map(|t| (d.digest.clone(), Some(t))))
                }
                Ok(None) => failures.push(selector.failure(FailureCode::ImageNotFound, NOT_FOUND)),
                Err(store::Error::ReferencedByIndex) => failures.push(selector.failure(
                    FailureCode::ImageReferencedByManifestList,
                    "The image is referenced by a manifest list in the repository",
                )),
                Err(e) => return Err(e.into()),
            }
        }
        Ok((deleted, failures))
    }

    /// One entry per tag, untagged images by digest alone.
    pub async fn list_images(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        status: TagStatus,
        page: PageRequest,
    ) -> Result<Page<(Digest, Option<ImageTag>)>> {
        let registry = self.registry(caller, registry)?;
        let repo = self.repository(&registry, name).await?;
        let scope = format!("ListImages:{}:{status:?}", repo.id);
        let after: (i64, String) = self.resume(&scope, &page)?.unwrap_or_default();
        let limit = page.limit();
        let rows = self
            .store()
            .image_listings(repo.id, status, (after.0, &after.1), limit + 1)
            .await?;
        let page = self.paginate(&scope, rows, limit, |l| {
            (
                l.image_id,
                l.tag.as_ref().map_or(String::new(), |t| t.to_string()),
            )
        });
        Ok(Page {
            items: page.items.into_iter().map(|l| (l.digest, l.tag)).collect(),
            next_token: page.next_token,
        })
    }

    /// Details of the named images (all must exist), or of every image a page at a time.
    pub async fn describe_images(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        ids: Option<Vec<Result<ImageSelector, ImageFailure>>>,
        status: TagStatus,
        page: PageRequest,
    ) -> Result<Page<ImageDetail>> {
        let registry = self.registry(caller, registry)?;
        let repo = self.repository(&registry, name).await?;
        let images = if let Some(ids) = ids {
            if page.next_token.is_some() || page.max_results.is_some() {
                return Err(Error::InvalidParameter(
                    "Invalid parameter: nextToken and maxResults cannot be used with imageIds"
                        .into(),
                ));
            }
            let mut images: Vec<Image> = Vec::new();
            for id in ids {
                let selector = id.map_err(|f| Error::InvalidParameter(f.reason))?;
                match self.select(&repo, &selector).await? {
                    Ok(image) if images.iter().any(|i| i.id == image.id) => {}
                    Ok(image) => images.push(image),
                    Err(f) => {
                        let id = f.digest.or(f.tag).unwrap_or_default();
                        return Err(Error::ImageNotFound(format!(
                            "The image with imageId {{{id}}} does not exist within the repository with name '{}' in the registry with id '{registry}'",
                            repo.name
                        )));
                    }
                }
            }
            let ids: Vec<i64> = images.iter().map(|i| i.id).collect();
            let mut tags = self.store().tags_of(&ids).await?;
            Page {
                items: images
                    .into_iter()
                    .map(|i| {
                        let t = tags.remove(&i.id).unwrap_or_default();
                        (i, t)
                    })
                    .collect(),
                next_token: None,
            }
        } else {
            let scope = format!("DescribeImages:{}:{status:?}", repo.id);
            let after: i64 = self.resume(&scope, &page)?.unwrap_or(0);
            let limit = page.limit();
            let images = self
                .store()
                .images(repo.id, status, after, limit + 1)
                .await?;
            // Tags come in the same query as the page.
            self.paginate(&scope, images, limit, |(i, _)| i.id)
        };
        let items = images
            .items
            .into_iter()
            .map(|(i, tags)| ImageDetail {
                registry: registry.clone(),
                name: repo.name.clone(),
                tags,
                digest: i.digest,
                size: i.size,
                pushed_at: i.pushed_at,
                media_type: i.media_type,
                artifact_media_type: i.artifact_type,
                last_pulled_at: i.last_pulled_at,
                subject: i.subject,
            })
            .collect();
        Ok(Page {
            items,
            next_token: images.next_token,
        })
    }
}
