//! Tags on their own: pages of them, removal that keeps the image, and tags with the
//! image each names (ECR Public's DescribeImageTags).

use sqlx::Row;

use super::images::{bad, image, M_COLUMNS};
use super::{from_millis, Key, Result, Store};
use crate::domain::{ImageTag, Repository, TagDetail};

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
            .map(|r| ImageTag::parse(&r.try_get::<String, _>(0)?).map_err(|_| bad("tag")))
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

    /// Tags in lexical (byte) order after `after`, with their images; at most `limit`.
    pub async fn tag_details(
        &self,
        repository: Key<Repository>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<TagDetail>> {
        let rows = sqlx::query(&format!(
            "SELECT t.tag AS tag, t.updated_at AS tag_updated_at, {M_COLUMNS} \
             FROM tags t JOIN manifests m ON m.id = t.manifest_id \
             WHERE t.repository_id = $1 AND t.tag{c} > $2 ORDER BY t.tag{c} LIMIT $3",
            c = self.bytewise()
        ))
        .bind(repository.id())
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TagDetail {
                    tag: ImageTag::parse(&r.try_get::<String, _>("tag")?)
                        .map_err(|_| bad("tag"))?,
                    created_at: from_millis(r.try_get("tag_updated_at")?),
                    image: image(r)?.record,
                })
            })
            .collect()
    }
}
