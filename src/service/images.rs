use chrono::{DateTime, Utc};

use super::error::{ImageFailure, ImageProblem, Invalid};
use super::{now, pull_due, Caller, Error, Page, PageRequest, Result, Service};
use crate::domain::{
    Digest, Hasher, Image, ImageFilter, ImageSelector, ImageStatus, ImageTag, Manifest,
    ManifestKind, Namespace, Registry, RegistryId, Repository, RepositoryName,
};
use crate::store::{self, Key, NewImage, Presence, Queued, ScanSummary, Stored, TagWrite};

/// Parses an image id as sent; a bad one is a per-item failure, not a call failure.
pub fn parse_image_id(
    digest: Option<&str>,
    tag: Option<&str>,
) -> Result<ImageSelector, ImageFailure> {
    let fail = |problem| ImageFailure {
        digest: digest.map(str::to_owned),
        tag: tag.map(str::to_owned),
        problem,
    };
    let d = digest
        .map(|d| Digest::parse(d).map_err(|e| fail(ImageProblem::InvalidDigest(e.to_string()))))
        .transpose()?;
    let t = tag
        .map(|t| ImageTag::parse(t).map_err(|e| fail(ImageProblem::InvalidTag(e.to_string()))))
        .transpose()?;
    match (d, t) {
        (Some(digest), Some(tag)) => Ok(ImageSelector::Both { digest, tag }),
        (Some(d), None) => Ok(ImageSelector::Digest(d)),
        (None, Some(t)) => Ok(ImageSelector::Tag(t)),
        (None, None) => Err(fail(ImageProblem::MissingDigestAndTag)),
    }
}

/// A manifest (whose digest is `digest`) as the store records it, once it parses.
pub(super) fn new_image(
    digest: Digest,
    body: Vec<u8>,
    media_type: Option<&str>,
) -> Result<NewImage> {
    let manifest = Manifest::parse(&body, media_type).map_err(Error::InvalidManifest)?;
    Ok(NewImage {
        digest,
        media_type: manifest.media_type.clone(),
        artifact_type: manifest
            .artifact_type
            .clone()
            .or_else(|| manifest.artifact_media_type().map(str::to_owned)),
        subject: manifest.subject.clone(),
        body,
        size: (manifest.kind == ManifestKind::Image).then(|| manifest.image_size()),
        blobs: manifest.required_blobs().cloned().collect(),
        children: manifest.children.iter().map(|d| d.digest.clone()).collect(),
        presence: Presence::Required,
    })
}

/// The failure to report for the image `selector` names.
fn failure(selector: &ImageSelector, problem: ImageProblem) -> ImageFailure {
    ImageFailure {
        digest: selector.digest().map(Digest::to_string),
        tag: selector.tag().map(ImageTag::to_string),
        problem,
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
    pub status: ImageStatus,
    pub last_archived_at: Option<DateTime<Utc>>,
    pub last_activated_at: Option<DateTime<Utc>>,
    /// Its latest scan, if it was ever scanned.
    pub scan: Option<ScanSummary>,
}

impl Service {
    /// Registers a manifest under an optional tag. The one implementation of the
    /// rules, shared by every face.
    pub async fn put_image(&self, caller: &Caller, req: PutImage) -> Result<StoredImage> {
        let registry = self.registry(caller, req.registry.as_ref());
        let (repo, rules) = self
            .pushed_repository_with_rules(caller, &registry, &req.name, "PutImage")
            .await?;
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
        let new = new_image(digest.clone(), req.manifest, req.media_type.as_deref())?;
        // Copies, signatures and scans are queued for a private repository some rule of
        // its registry matches (or, for scans, its own scanOnPush). Referrers (a
        // signature, an SBOM) are not signed themselves.
        let (replicate_to, sign_with, scan) = match registry.namespace {
            Namespace::Private => {
                let sign_with = match (&new.subject, rules.signing) {
                    (None, Some(config)) => config.profiles_for(&req.name),
                    _ => Vec::new(),
                };
                (
                    rules.replication.destinations_for(&req.name),
                    sign_with,
                    Self::scan_on_push(rules.scanning.unwrap_or_default(), &repo.record),
                )
            }
            Namespace::Public => (Vec::new(), Vec::new(), None),
        };
        let work = Queued {
            replicate_to: &replicate_to,
            sign_with: &sign_with,
            scan,
        };
        let tag_write = req.tag.as_ref().map(|tag| TagWrite {
            tag: tag.clone(),
            immutable: repo.mutability.is_immutable(tag),
        });
        let stored = match self
            .store()
            .put_image(repo.key, &new, tag_write.as_ref(), work, now())
            .await
        {
            Ok(image) => image,
            Err(store::Error::MissingBlobs(d)) => return Err(Error::LayersNotFound(d)),
            Err(store::Error::MissingImages(d)) => return Err(Error::ReferencedImagesNotFound(d)),
            Err(store::Error::ImageAlreadyExists) => {
                return Err(Error::ImageAlreadyExists {
                    digest,
                    tag: req.tag,
                    name: repo.record.name,
                })
            }
            Err(store::Error::TagAlreadyExists) => match req.tag {
                Some(tag) => {
                    return Err(Error::ImageTagAlreadyExists {
                        tag,
                        name: repo.record.name,
                    })
                }
                None => return Err(store::Error::TagAlreadyExists.into()),
            },
            Err(e) => return Err(e.into()),
        };
        let stored = stored.record;
        Ok(StoredImage {
            registry,
            name: repo.record.name,
            digest: stored.digest,
            tag: req.tag,
            manifest: new.body,
            media_type: stored.media_type,
            subject: stored.subject,
        })
    }

    /// The image a request about one image names (a status), with its registry and
    /// repository, the caller authorized for `action`.
    pub(super) async fn selected_image(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: RepositoryName,
        selector: &ImageSelector,
        action: &'static str,
    ) -> Result<(Registry, Stored<Repository>, Stored<Image>)> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, &name, action)
            .await?;
        match self.select(&repo, selector).await? {
            Ok(image) => Ok((registry, repo, image)),
            Err(_) => Err(Error::ImageNotFound {
                registry,
                name,
                image: selector.clone(),
            }),
        }
    }

    /// The image a selector names, or the failure to report for it.
    pub(super) async fn select(
        &self,
        repo: &Stored<Repository>,
        selector: &ImageSelector,
    ) -> Result<Result<Stored<Image>, ImageFailure>> {
        let not_found = || failure(selector, ImageProblem::NotFound);
        Ok(match selector {
            ImageSelector::Tag(tag) => self
                .store()
                .image_by_tag(repo.key, tag)
                .await?
                .ok_or_else(not_found),
            ImageSelector::Digest(digest) => self
                .store()
                .image_by_digest(repo.key, digest)
                .await?
                .ok_or_else(not_found),
            ImageSelector::Both { digest, tag } => {
                match self.store().image_by_tag(repo.key, tag).await? {
                    Some(image) if &image.digest == digest => Ok(image),
                    Some(_) => Err(failure(selector, ImageProblem::TagDoesNotMatchDigest)),
                    None => Err(not_found()),
                }
            }
        })
    }

    /// The image and manifest bytes a selector names for a pull, or the failure to
    /// report for it (an archived image cannot be pulled); looked up with the repository in one query, so `None` also when the repository
    /// is missing (the caller tells the two apart).
    pub(super) async fn select_manifest(
        &self,
        repository: Key<Repository>,
        selector: &ImageSelector,
    ) -> Result<Option<Result<(Stored<Image>, Vec<u8>), ImageFailure>>> {
        let found = self.store().manifest(repository, selector).await?;
        Ok(found.map(|found| pullable(selector, found)))
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
        let registry = self.registry(caller, registry);
        let repo = match self
            .authorized_repository(caller, &registry, name, "BatchGetImage")
            .await
        {
            // A pull-through cache creates its repositories on first pull.
            Err(missing @ Error::RepositoryNotFound { .. }) => self
                .cache_repository(caller, &registry, name)
                .await?
                .ok_or(missing)?,
            found => found?,
        };
        let (mut images, mut failures, mut pulled) = (Vec::new(), Vec::new(), Vec::new());
        let at = now();
        for id in ids {
            let Ok(selector) = id.map_err(|f| failures.push(f)) else {
                continue;
            };
            let found = match self.select_manifest(repo.key, &selector).await? {
                Some(found) => found,
                None => match self
                    .through_upstream(caller, &registry, name, &selector, None)
                    .await
                {
                    Ok(Some(found)) => Ok(found),
                    Ok(None) => Err(failure(&selector, ImageProblem::NotFound)),
                    Err(Error::Upstream { problem, .. }) => {
                        Err(failure(&selector, ImageProblem::Upstream(problem)))
                    }
                    Err(e) => return Err(e),
                },
            };
            let Ok((Stored { key, record: image }, manifest)) = found.map_err(|f| failures.push(f))
            else {
                continue;
            };
            if accepted_media_types.is_some_and(|types| !types.contains(&image.media_type)) {
                failures.push(failure(
                    &selector,
                    ImageProblem::MediaTypeNotAccepted(image.media_type),
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
                pulled.push(key);
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
        self.record_pull(caller, &registry, &pulled, at);
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
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "BatchDeleteImage")
            .await?;
        let (mut deleted, mut failures) = (Vec::new(), Vec::new());
        for id in ids {
            let Ok(selector) = id.map_err(|f| failures.push(f)) else {
                continue;
            };
            let outcome = match &selector {
                ImageSelector::Tag(tag) => self.store().delete_tag(repo.key, tag).await,
                ImageSelector::Digest(digest) => self.store().delete_image(repo.key, digest).await,
                ImageSelector::Both { tag, .. } => match self.select(&repo, &selector).await? {
                    Ok(_) => self.store().delete_tag(repo.key, tag).await,
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
                Ok(None) => failures.push(failure(&selector, ImageProblem::NotFound)),
                Err(store::Error::ReferencedByIndex) => {
                    failures.push(failure(&selector, ImageProblem::ReferencedByIndex))
                }
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
        filter: ImageFilter,
        page: PageRequest,
    ) -> Result<Page<(Digest, Option<ImageTag>)>> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "ListImages")
            .await?;
        let scope = format!("ListImages:{}/{}:{filter:?}", repo.registry, repo.name);
        let after: (Option<Key<Image>>, String) = self.resume(&scope, &page)?.unwrap_or_default();
        let limit = page.limit();
        let rows = self
            .store()
            .image_listings(repo.key, filter, (after.0, &after.1), limit + 1)
            .await?;
        let page = self.paginate(&scope, rows, limit, |l| {
            (
                l.image,
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
        filter: ImageFilter,
        page: PageRequest,
    ) -> Result<Page<ImageDetail>> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "DescribeImages")
            .await?;
        self.pulls_recorded().await;
        let images = if let Some(ids) = ids {
            if page.next_token.is_some() || page.max_results.is_some() {
                return Err(Invalid::PagingWithImageIds.into());
            }
            let mut images: Vec<Stored<Image>> = Vec::new();
            for id in ids {
                let selector = id.map_err(Invalid::ImageId)?;
                match self.select(&repo, &selector).await? {
                    Ok(image) if images.iter().any(|i| i.key == image.key) => {}
                    Ok(image) => images.push(image),
                    Err(_) => {
                        return Err(Error::ImageNotFound {
                            registry,
                            name: repo.record.name,
                            image: selector,
                        })
                    }
                }
            }
            let keys: Vec<Key<Image>> = images.iter().map(|i| i.key).collect();
            let mut tags = self.store().tags_of(&keys).await?;
            Page {
                items: images
                    .into_iter()
                    .map(|i| {
                        let t = tags.remove(&i.key).unwrap_or_default();
                        (i, t)
                    })
                    .collect(),
                next_token: None,
            }
        } else {
            let scope = format!("DescribeImages:{}/{}:{filter:?}", repo.registry, repo.name);
            let after: Option<Key<Image>> = self.resume(&scope, &page)?;
            let limit = page.limit();
            let images = self
                .store()
                .images(repo.key, filter, after, limit + 1)
                .await?;
            // Tags come in the same query as the page.
            self.paginate(&scope, images, limit, |(i, _)| i.key)
        };
        let keys: Vec<Key<Image>> = images.items.iter().map(|(i, _)| i.key).collect();
        let mut scans = self.store().scan_summaries(&keys).await?;
        let items = images
            .items
            .into_iter()
            .map(|(Stored { key, record: i }, tags)| ImageDetail {
                scan: scans.remove(&key),
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
                status: i.status,
                last_archived_at: i.last_archived_at,
                last_activated_at: i.last_activated_at,
            })
            .collect();
        Ok(Page {
            items,
            next_token: images.next_token,
        })
    }
}

/// An image a selector found, if it may be pulled: the digest given with a tag must be
/// the tag's, and an archived image is not pulled until it is restored.
pub(super) fn pullable(
    selector: &ImageSelector,
    (image, manifest): (Stored<Image>, Vec<u8>),
) -> Result<(Stored<Image>, Vec<u8>), ImageFailure> {
    match selector {
        ImageSelector::Both { digest, .. } if *digest != image.digest => {
            Err(failure(selector, ImageProblem::TagDoesNotMatchDigest))
        }
        _ if image.status != ImageStatus::Active => Err(failure(selector, ImageProblem::Archived)),
        _ => Ok((image, manifest)),
    }
}
