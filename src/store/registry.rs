//! Queries the registry face needs beyond ECR's: tag pages, tag removal that keeps the
//! image, referrers, blob unlinking.

use sqlx::Row;

use super::{Key, Result, Store};
use crate::domain::{Digest, ImageTag, Repository};

/// A manifest whose `subject` is a given digest.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub body: Vec<u8>,
}

fn invalid(what: &str) -> super::Error {
    super::Error::Database(sqlx::Error::Decode(
        format!("stored {what} is invalid").into(),
    ))
}

impl Store {
    /// Tags in lexical (byte) order after `after`; at most `limit`.
    pub async fn tags_page(
        &self,
        repository: Key<Repository>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<ImageTag>> {
        let rows = sqlx::query(&format!(
            "SELECT tag FROM tags WHERE repository_id = $1 AND tag{c} > $2 ORDER BY tag{c} LIMIT $3",
            c = self.bytewise()
        ))
        .bind(repository.id())
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| ImageTag::parse(&r.try_get::<String, _>(0)?).map_err(|_| invalid("tag")))
            .collect()
    }

    /// Removes a tag, leaving its image in place (untagged if it was the last).
    /// False when there was no such tag.
    pub async fn untag(&self, repository: Key<Repository>, tag: &ImageTag) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tags WHERE repository_id = $1 AND tag = $2")
            .bind(repository.id())
            .bind(tag.as_str())
            .execute(&mut *self.writer().await?)
            .await?
            .rows_affected();
        Ok(done > 0)
    }

    /// Manifests in the repository whose subject is `subject`, in push order.
    pub async fn referrers(
        &self,
        repository: Key<Repository>,
        subject: &Digest,
    ) -> Result<Vec<Referrer>> {
        let rows = sqlx::query(
            "SELECT digest, media_type, artifact_type, body FROM manifests \
             WHERE repository_id = $1 AND subject_digest = $2 ORDER BY id",
        )
        .bind(repository.id())
        .bind(subject.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Referrer {
                    digest: Digest::parse(&r.try_get::<String, _>(0)?)
                        .map_err(|_| invalid("digest"))?,
                    media_type: r.try_get(1)?,
                    artifact_type: r.try_get(2)?,
                    body: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Makes a blob invisible to the repository. False when it was not linked.
    pub async fn unlink_blob(&self, repository: Key<Repository>, digest: &Digest) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
                .bind(repository.id())
                .bind(digest.as_str())
                .execute(&mut *self.writer().await?)
                .await?
                .rows_affected();
        Ok(done > 0)
    }
}
