use sqlx::any::AnyRow;
use sqlx::Row;

use super::{from_millis, millis, Error, Result, Store, Upload};
use crate::domain::UploadId;

fn upload(row: &AnyRow) -> Result<Upload> {
    let id: String = row.try_get("id")?;
    Ok(Upload {
        id: UploadId::parse(&id).map_err(|e| Error::Database(sqlx::Error::Decode(e.into())))?,
        repository_id: row.try_get("repository_id")?,
        bytes_received: row.try_get("bytes_received")?,
        parts: row.try_get("parts")?,
        last_part_size: row.try_get("last_part_size")?,
        small_inner_part: row.try_get::<i64, _>("small_inner_part")? != 0,
        created_at: from_millis(row.try_get("created_at")?),
    })
}

impl Store {
    pub async fn create_upload(
        &self,
        id: &UploadId,
        repository_id: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query("INSERT INTO uploads (id, repository_id, created_at) VALUES ($1, $2, $3)")
            .bind(id.as_str())
            .bind(repository_id)
            .bind(millis(now))
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &UploadId) -> Result<Option<Upload>> {
        let row = sqlx::query(
            "SELECT id, repository_id, bytes_received, parts, last_part_size, small_inner_part, created_at FROM uploads WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *self.writer().await?)
        .await?;
        row.as_ref().map(upload).transpose()
    }

    /// Records a part of `size` bytes appended after `expected` bytes. False when the
    /// upload moved on meanwhile (a concurrent part won), so the caller's part does
    /// not count. `min_part` is the smallest size a part may have unless it is last.
    pub async fn advance_upload(
        &self,
        id: &UploadId,
        expected: i64,
        size: i64,
        min_part: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET bytes_received = bytes_received + $1, parts = parts + 1, last_part_size = $1, \
             small_inner_part = CASE WHEN parts > 0 AND last_part_size < $2 THEN 1 ELSE small_inner_part END \
             WHERE id = $3 AND bytes_received = $4",
        )
        .bind(size)
        .bind(min_part)
        .bind(id.as_str())
        .bind(expected)
        .execute(&mut *self.writer().await?)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    pub async fn delete_upload(&self, id: &UploadId) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Of `ids`, those that should not be kept: unknown, or created before `cutoff`.
    /// Their rows are deleted.
    pub async fn forget_stale_uploads(
        &self,
        ids: &[UploadId],
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<UploadId>> {
        let mut stale = Vec::new();
        for id in ids {
            let row = sqlx::query("SELECT created_at FROM uploads WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *self.reader().await?)
                .await?;
            let keep = match row {
                Some(r) => r.try_get::<i64, _>(0)? >= millis(cutoff),
                None => false,
            };
            if !keep {
                self.delete_upload(id).await?;
                stale.push(id.clone());
            }
        }
        Ok(stale)
    }
}
