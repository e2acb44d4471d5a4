//! Referrers: the manifests that name an image as their `subject` (signatures, SBOMs,
//! attestations), for the registry API's referrers listing and ECR's
//! ListImageReferrers. In a pull-through cache the upstream's referrers of the image
//! are listed too, where the upstream has the referrers API.

use serde_json::Value;

use super::pagination::{Page, PageRequest};
use super::upstream::upstream_error;
use super::{Caller, Error, Result, Service, UpstreamProblem, UpstreamRead};
use crate::domain::{Digest, ImageStatus, RegistryId, RepositoryName};

/// ListImageReferrers' page when the request sets none (the model allows 1 to 50).
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 50;

/// A manifest that refers to another through `subject`, as an index descriptor.
#[derive(Debug, Clone)]
pub struct ReferrerDescriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: i64,
    pub artifact_type: Option<String>,
    pub annotations: Option<Value>,
    pub status: ImageStatus,
}

/// Which referrers a listing keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferrerFilter {
    /// Those of any of these artifact types; none: of every type.
    pub artifact_types: Vec<String>,
    /// Those with this status; `None`: any.
    pub status: Option<ImageStatus>,
}

impl ReferrerFilter {
    fn keeps(&self, r: &ReferrerDescriptor) -> bool {
        let typed = self.artifact_types.is_empty()
            || r.artifact_type
                .as_ref()
                .is_some_and(|t| self.artifact_types.contains(t));
        typed && self.status.is_none_or(|s| s == r.status)
    }
}

impl Service {
    /// The manifests whose subject is `subject`, as `filter` keeps them: the
    /// repository's in push order, then those only its pull-through upstream has.
    pub async fn referrers(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        subject: &Digest,
        filter: &ReferrerFilter,
    ) -> Result<Vec<ReferrerDescriptor>> {
        let registry = self.registry(caller, registry);
        // ECR asks ecr:BatchGetImage of ListImageReferrers.
        let repo = self
            .authorized_repository(caller, &registry, name, "BatchGetImage")
            .await?;
        let mut all: Vec<ReferrerDescriptor> = self
            .store()
            .referrers(repo.key, subject)
            .await?
            .into_iter()
            .map(|r| ReferrerDescriptor {
                size: i64::try_from(r.body.len()).unwrap_or(i64::MAX),
                annotations: serde_json::from_slice::<Value>(&r.body)
                    .ok()
                    .and_then(|v| v.get("annotations").cloned())
                    .filter(Value::is_object),
                media_type: r.media_type,
                digest: r.digest,
                artifact_type: r.artifact_type,
                status: r.status,
            })
            .collect();
        for r in self.upstream_referrers(&registry, name, subject).await? {
            if !all.iter().any(|known| known.digest == r.digest) {
                all.push(r);
            }
        }
        all.retain(|r| filter.keeps(r));
        Ok(all)
    }

    /// ListImageReferrers: `referrers`, a page at a time.
    pub async fn list_image_referrers(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        subject: &Digest,
        filter: ReferrerFilter,
        page: PageRequest,
    ) -> Result<Page<ReferrerDescriptor>> {
        let all = self
            .referrers(caller, registry, name, subject, &filter)
            .await?;
        let registry = self.registry(caller, registry);
        let scope = format!("ListImageReferrers:{registry}/{name}@{subject}:{filter:?}");
        // The list is read whole each time (an image has few referrers), so a page
        // resumes from how many came before it.
        let skip: usize = self.resume(&scope, &page)?.unwrap_or(0);
        let limit = page
            .max_results
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_PAGE)
            .clamp(1, MAX_PAGE);
        let items: Vec<ReferrerDescriptor> = all.into_iter().skip(skip).collect();
        let next_token = (items.len() > limit).then(|| self.page_token(&scope, skip + limit));
        Ok(Page {
            items: items.into_iter().take(limit).collect(),
            next_token,
        })
    }

    /// The referrers of `subject` the repository's pull-through upstream lists; none
    /// outside a cache. An upstream that cannot be reached lists none (what is cached
    /// is listed all the same); one that refuses the rule's credential is an error.
    async fn upstream_referrers(
        &self,
        registry: &crate::domain::Registry,
        name: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<ReferrerDescriptor>> {
        let upstream = match self.upstream(registry, name).await {
            Ok(Some(upstream)) => upstream,
            Ok(None) => return Ok(Vec::new()),
            Err(Error::Upstream {
                problem, message, ..
            }) => {
                return Err(Error::Upstream {
                    read: UpstreamRead::Referrers,
                    problem,
                    message,
                })
            }
            Err(e) => return Err(e),
        };
        let listed = match upstream
            .remote
            .referrers(&upstream.repository, subject)
            .await
        {
            Ok(listed) => listed,
            Err(e) => {
                let e = upstream_error(UpstreamRead::Referrers, e);
                if let Error::Upstream {
                    problem: UpstreamProblem::Unavailable,
                    ..
                } = e
                {
                    tracing::warn!(error = ?e, repository = %name, "listing the cached referrers only");
                    return Ok(Vec::new());
                }
                return Err(e);
            }
        };
        Ok(listed
            .into_iter()
            .filter_map(|r| {
                Some(ReferrerDescriptor {
                    digest: Digest::parse(&r.digest).ok()?,
                    media_type: r.media_type,
                    size: r.size,
                    artifact_type: r.artifact_type,
                    annotations: r.annotations.map(Value::Object),
                    status: ImageStatus::Active,
                })
            })
            .collect())
    }
}
