//! Opaque, signed pagination tokens: a forged or foreign token is refused rather than
//! trusted, and a token only resumes the listing (action, repository, filter) that
//! issued it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::Invalid;
use super::{Error, Result, Service};

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

/// A client's request for one page.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

impl PageRequest {
    pub(crate) fn limit(&self) -> i64 {
        self.max_results.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
    }
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Absent on the last page.
    pub next_token: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Token<C> {
    s: String,
    c: C,
}

const PURPOSE: &str = "page";

impl Service {
    pub(crate) fn page_token<C: Serialize>(&self, scope: &str, cursor: C) -> String {
        let token = Token {
            s: scope.to_owned(),
            c: cursor,
        };
        self.sealer().seal_json(PURPOSE, &token)
    }

    /// The cursor a request resumes from, `None` for the first page.
    pub(crate) fn resume<C: DeserializeOwned>(
        &self,
        scope: &str,
        page: &PageRequest,
    ) -> Result<Option<C>> {
        let Some(token) = &page.next_token else {
            return Ok(None);
        };
        let invalid = || Error::from(Invalid::PageToken);
        let token: Token<C> = self
            .sealer()
            .open_json(PURPOSE, token)
            .ok_or_else(invalid)?;
        if token.s != scope {
            return Err(invalid());
        }
        Ok(Some(token.c))
    }

    /// Cuts `items` (fetched with one extra row to learn whether more follow) to a page.
    pub(crate) fn paginate<T, C: Serialize>(
        &self,
        scope: &str,
        mut items: Vec<T>,
        limit: i64,
        cursor_of: impl Fn(&T) -> C,
    ) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_token = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|last| self.page_token(scope, cursor_of(last)))
        } else {
            None
        };
        Page { items, next_token }
    }
}
