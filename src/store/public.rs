//! Queries only ECR Public needs: tags with the image each names.

use sqlx::Row;

use super::images::{image, M_COLUMNS};
use super::{from_millis, Key, Result, Store};
use crate::domain::{ImageTag, Repository, TagDetail};

impl Store {
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
                        .map_err(|_| super::images::bad("tag"))?,
                    created_at: from_millis(r.try_get("tag_updated_at")?),
                    image: image(r)?.record,
                })
            })
            .collect()
    }
}
