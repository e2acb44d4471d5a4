//! Queries only ECR Public needs: tags with the image each names.

use sqlx::Row;

use super::images::{image, M_COLUMNS};
use super::{from_millis, Image, Result, Store};
use crate::domain::ImageTag;

/// A tag, when it was last set, and its image.
#[derive(Debug, Clone)]
pub struct TagDetail {
    pub tag: ImageTag,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub image: Image,
}

impl Store {
    /// Tags in lexical (byte) order after `after`, with their images; at most `limit`.
    pub async fn tag_details(
        &self,
        repository_id: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<TagDetail>> {
        let rows = sqlx::query(&format!(
            "SELECT t.tag AS tag, t.updated_at AS tag_updated_at, {M_COLUMNS} \
             FROM tags t JOIN manifests m ON m.id = t.manifest_id \
             WHERE t.repository_id = $1 AND t.tag{c} > $2 ORDER BY t.tag{c} LIMIT $3",
            c = self.bytewise()
        ))
        .bind(repository_id)
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
                    image: image(r)?,
                })
            })
            .collect()
    }
}
