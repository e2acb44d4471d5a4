use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{from_millis, millis, Error, Key, Result, Store, Upload};
use crate::domain::{Digest, PartId, Repository, RunningSha256, UploadId, UploadPart};

fn decode<T, E: std::error::Error + Send + Sync + 'static>(r: Result<T, E>) -> Result<T> {
    r.map_err(|e| Error::Database(sqlx::Error::Decode(e.into())))
}

fn upload(row: &AnyRow) -> Result<Upload> {
    Ok(Upload {
        id: decode(UploadId::parse(row.try_get("id")?))?,
        repository: Key::new(row.try_get("repository_id")?),
        bytes_received: row.try_get("bytes_received")?,
        sha256: decode(RunningSha256::parse(row.try_get("sha256_state")?))?,
        parts: row.try_get("parts")?,
        sealed: row.try_get::<i64, _>("sealed")? != 0,
        created_at: from_millis(row.try_get("created_at")?),
    })
}

fn part(row: &AnyRow) -> Result<UploadPart> {
    Ok(UploadPart {
        id: decode(PartId::parse(row.try_get("part_id")?))?,
        size: decode(u64::try_from(row.try_get::<i64, _>("size")?))?,
    })
}

impl Store {
    pub async fn create_upload(
        &self,
        id: &UploadId,
        repository: Key<Repository>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository_id, created_at, sha256_state) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.as_str())
        .bind(repository.id())
        .bind(millis(now))
        .bind(RunningSha256::new().to_hex())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &UploadId) -> Result<Option<Upload>> {
        let row = sqlx::query(
            "SELECT id, repository_id, bytes_received, sha256_state, sealed, created_at, \
             (SELECT COUNT(*) FROM upload_parts p WHERE p.upload_id = u.id) AS parts \
             FROM uploads u WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *self.writer().await?)
        .await?;
        row.as_ref().map(upload).transpose()
    }

    /// Records `part` as the upload's bytes from `start`, and `sha256` as the hash of
    /// all its bytes so far. False when the upload no longer stands at `start` (another
    /// part was recorded first) or is being completed: the part does not count, and
    /// its bytes are the caller's to remove.
    pub async fn record_part(
        &self,
        id: &UploadId,
        start: i64,
        part: &UploadPart,
        sha256: &RunningSha256,
    ) -> Result<bool> {
        let size = i64::try_from(part.size).unwrap_or(i64::MAX);
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        let moved = sqlx::query(
            "UPDATE uploads SET bytes_received = bytes_received + $1, sha256_state = $2 \
             WHERE id = $3 AND bytes_received = $4 AND sealed = 0",
        )
        .bind(size)
        .bind(sha256.to_hex())
        .bind(id.as_str())
        .bind(start)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO upload_parts (upload_id, start, size, part_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.as_str())
        .bind(start)
        .bind(size)
        .bind(part.id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Closes the upload to further parts, provided it holds exactly `size` bytes;
    /// false otherwise. Sealing an upload that is sealed already succeeds: a
    /// completion may be retried.
    pub async fn seal_upload(&self, id: &UploadId, size: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE uploads SET sealed = 1 WHERE id = $1 AND bytes_received = $2")
                .bind(id.as_str())
                .bind(size)
                .execute(&mut *self.writer().await?)
                .await?
                .rows_affected();
        Ok(done == 1)
    }

    /// Opens a sealed upload to parts again (its completion was refused).
    pub async fn unseal_upload(&self, id: &UploadId) -> Result<()> {
        sqlx::query("UPDATE uploads SET sealed = 0 WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// The upload's recorded parts, in order.
    pub async fn upload_parts(&self, id: &UploadId) -> Result<Vec<UploadPart>> {
        sqlx::query("SELECT part_id, size FROM upload_parts WHERE upload_id = $1 ORDER BY start")
            .bind(id.as_str())
            .fetch_all(&mut *self.writer().await?)
            .await?
            .iter()
            .map(part)
            .collect()
    }

    pub async fn delete_upload(&self, id: &UploadId) -> Result<()> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        delete_upload(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes a completed upload's blob part of the repository and forgets the upload,
    /// in one transaction holding the blob's lock: `place` puts the bytes under their
    /// name inside it, so garbage collection, which removes a blob's row and then its
    /// file each under the same lock, cannot remove the file between its placing and
    /// the row. False when the repository already had the blob.
    pub async fn complete_upload<E, F, Fut>(
        &self,
        upload: &Upload,
        digest: &Digest,
        now: chrono::DateTime<chrono::Utc>,
        place: F,
    ) -> std::result::Result<bool, E>
    where
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<(), E>>,
    {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        self.lock_digest(&mut tx, digest).await?;
        place().await?;
        let linked = super::blobs::link_blob(
            &mut tx,
            upload.repository,
            digest,
            upload.bytes_received,
            now,
        )
        .await?;
        delete_upload(&mut tx, &upload.id).await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(linked)
    }

    /// How many uploads were started at or after `since`: those still open.
    pub async fn count_uploads_since(&self, since: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) FROM uploads WHERE created_at >= $1")
            .bind(millis(since))
            .fetch_one(&mut *self.reader().await?)
            .await?;
        decode(u64::try_from(row.try_get::<i64, _>(0)?))
    }

    /// Uploads started before `before`, after `after` in id order; at most `limit`.
    pub async fn stale_uploads(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        after: Option<&UploadId>,
        limit: i64,
    ) -> Result<Vec<UploadId>> {
        sqlx::query("SELECT id FROM uploads WHERE created_at < $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(millis(before))
            .bind(after.map_or("", UploadId::as_str))
            .bind(limit)
            .fetch_all(&mut *self.reader().await?)
            .await?
            .iter()
            .map(|r| decode(UploadId::parse(r.try_get(0)?)))
            .collect()
    }

    /// Of `ids`, those no upload row has.
    pub async fn unknown_uploads(&self, ids: &[UploadId]) -> Result<Vec<UploadId>> {
        let mut known = std::collections::HashSet::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id FROM uploads WHERE id IN ({})",
                super::placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for row in q.fetch_all(&mut *self.reader().await?).await? {
                known.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(ids
            .iter()
            .filter(|id| !known.contains(id.as_str()))
            .cloned()
            .collect())
    }
}

async fn delete_upload(tx: &mut Transaction<'_, Any>, id: &UploadId) -> Result<()> {
    // Children first: not every SQLite connection is guaranteed to enforce cascades.
    for table in ["upload_parts WHERE upload_id", "uploads WHERE id"] {
        sqlx::query(&format!("DELETE FROM {table} = $1"))
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
