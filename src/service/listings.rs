//! The registry API's listings: tags and the catalog.

use super::{Caller, Result, Service, Target};
use crate::domain::{ImageTag, RepositoryName};

/// One listing page and whether more follow.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub more: bool,
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
}
