//! The registry API's listings: tags, the catalog, referrers.

use serde_json::Value;

use super::{Caller, Result, Service, Target};
use crate::domain::{Digest, ImageTag, RepositoryName};

/// One listing page and whether more follow.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub more: bool,
}

/// A manifest that refers to another through `subject`, as an index descriptor.
#[derive(Debug, Clone)]
pub struct ReferrerDescriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: i64,
    pub artifact_type: Option<String>,
    pub annotations: Option<Value>,
}

/// The default and largest page of a tag or repository listing.
const MAX_LISTING: i64 = 1000;

fn cut<T>(mut items: Vec<T>, limit: i64) -> Listing<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = items.len() > limit;
    items.truncate(limit);
    Listing { items, more }
}

impl Service {
    /// Tags in lexical order after `last`, at most `n` (default and cap 1000).
    pub async fn tag_listing(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        last: Option<&str>,
        n: Option<i64>,
    ) -> Result<Listing<ImageTag>> {
        let repo = self.named_repository(caller, name, "ListImages").await?;
        let limit = n.unwrap_or(MAX_LISTING).clamp(0, MAX_LISTING);
        let tags = self
            .store()
            .tags_page(repo.key, last.unwrap_or(""), limit + 1)
            .await?;
        Ok(cut(tags, limit))
    }

    /// The caller's repositories in name order after `last`, at most `n`.
    pub async fn catalog(
        &self,
        caller: &Caller,
        last: Option<&str>,
        n: Option<i64>,
    ) -> Result<Listing<RepositoryName>> {
        self.authorize(
            caller,
            "DescribeRepositories",
            Target::Registry(&caller.registry),
            &[],
        )
        .await?;
        let limit = n.unwrap_or(MAX_LISTING).clamp(0, MAX_LISTING);
        let repos = self
            .store()
            .repositories(&caller.registry, last, limit + 1)
            .await?;
        Ok(cut(
            repos.into_iter().map(|r| r.record.name).collect(),
            limit,
        ))
    }

    /// Manifests whose subject is `subject`, optionally only of one artifact type.
    pub async fn referrers(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerDescriptor>> {
        let repo = self
            .named_repository(caller, name, "ListImageReferrers")
            .await?;
        let referrers = self.store().referrers(repo.key, subject).await?;
        Ok(referrers
            .into_iter()
            .filter(|r| artifact_type.is_none_or(|t| r.artifact_type.as_deref() == Some(t)))
            .map(|r| {
                let annotations = serde_json::from_slice::<Value>(&r.body)
                    .ok()
                    .and_then(|v| v.get("annotations").cloned())
                    .filter(Value::is_object);
                ReferrerDescriptor {
                    size: i64::try_from(r.body.len()).unwrap_or(i64::MAX),
                    media_type: r.media_type,
                    digest: r.digest,
                    artifact_type: r.artifact_type,
                    annotations,
                }
            })
            .collect())
    }
}
