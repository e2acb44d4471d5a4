use sqlx::{Any, Row, Transaction};

use super::{from_millis, millis, Key, Result, Store};
use crate::domain::{Digest, Registry, Repository};

impl Store {
    /// Links a recorded blob to the repository (a mount), under the blob's lock: false
    /// when it is no longer recorded (collected since the caller saw it). An existing
    /// link is refreshed.
    pub async fn mount_blob(
        &self,
        repository: Key<Repository>,
        digest: &Digest,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        self.lock_digest(&mut tx, digest).await?;
        let Some(row) = sqlx::query("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(false);
        };
        link_blob(&mut tx, repository, digest, row.try_get(0)?, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The size of a blob the repository may see, and when its link was made or last
    /// refreshed.
    pub async fn blob_link(
        &self,
        repository: Key<Repository>,
        digest: &Digest,
    ) -> Result<Option<(i64, chrono::DateTime<chrono::Utc>)>> {
        let row = sqlx::query(
            "SELECT b.size, rb.created_at FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest \
             WHERE rb.repository_id = $1 AND rb.digest = $2",
        )
        .bind(repository.id())
        .bind(digest.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        row.map(|r| Ok((r.try_get(0)?, from_millis(r.try_get(1)?))))
            .transpose()
    }

    /// Restarts the link's grace period at `now`; false when the link is gone.
    pub async fn refresh_link(
        &self,
        repository: Key<Repository>,
        digest: &Digest,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE repository_blobs SET created_at = $3 WHERE repository_id = $1 AND digest = $2",
        )
        .bind(repository.id())
        .bind(digest.as_str())
        .bind(millis(now))
        .execute(&mut *self.writer().await?)
        .await?
        .rows_affected();
        Ok(done > 0)
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

    /// The size of a blob if the repository may see it.
    pub async fn blob_in_repository(
        &self,
        repository: Key<Repository>,
        digest: &Digest,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest \
             WHERE rb.repository_id = $1 AND rb.digest = $2",
        )
        .bind(repository.id())
        .bind(digest.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// The size of a blob if some repository of the registry may see it.
    pub async fn blob_in_registry(
        &self,
        registry: &Registry,
        digest: &Digest,
    ) -> Result<Option<i64>> {
        // From the registry's repositories to their links: primary-key probes, where
        // starting from the digest would scan every link.
        let row = sqlx::query(
            "SELECT b.size FROM repositories r \
             JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.digest = $3 \
             JOIN blobs b ON b.digest = rb.digest \
             WHERE r.registry_id = $1 AND r.namespace = $2 AND r.region = $4 LIMIT 1",
        )
        .bind(registry.account.as_str())
        .bind(registry.namespace.as_str())
        .bind(digest.as_str())
        .bind(registry.region.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Whether an image in the repository references the blob.
    pub async fn blob_referenced(
        &self,
        repository: Key<Repository>,
        digest: &Digest,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id \
             WHERE r.child_digest = $1 AND r.is_manifest = 0 AND m.repository_id = $2 LIMIT 1",
        )
        .bind(digest.as_str())
        .bind(repository.id())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row.is_some())
    }

    /// The media type an image in the repository gives the blob, if one does.
    pub async fn blob_media_type(
        &self,
        repository: Key<Repository>,
        digest: &Digest,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT r.media_type FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id \
             WHERE r.child_digest = $1 AND r.is_manifest = 0 AND m.repository_id = $2 AND r.media_type IS NOT NULL LIMIT 1",
        )
        .bind(digest.as_str())
        .bind(repository.id())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}

/// Records a blob (once) and links it to the repository within `tx`, which holds the
/// blob's lock; false when the repository already had it (the link is refreshed then:
/// the blob was pushed again, and a push's manifest follows).
pub(super) async fn link_blob(
    tx: &mut Transaction<'_, Any>,
    repository: Key<Repository>,
    digest: &Digest,
    size: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING")
        .bind(digest.as_str())
        .bind(size)
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
    let linked = sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (repository_id, digest) DO NOTHING",
    )
    .bind(repository.id())
    .bind(digest.as_str())
    .bind(millis(now))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if linked == 0 {
        sqlx::query(
            "UPDATE repository_blobs SET created_at = $3 WHERE repository_id = $1 AND digest = $2",
        )
        .bind(repository.id())
        .bind(digest.as_str())
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
    }
    Ok(linked == 1)
}

impl Store {
    /// Recorded blobs with their recorded sizes, after `after` in digest order; at most
    /// `limit`.
    pub async fn blobs_after(
        &self,
        after: Option<&Digest>,
        limit: i64,
    ) -> Result<Vec<(Digest, i64)>> {
        sqlx::query("SELECT digest, size FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2")
            .bind(after.map_or("", Digest::as_str))
            .bind(limit)
            .fetch_all(&mut *self.reader().await?)
            .await?
            .iter()
            .map(|row| {
                let digest: String = row.try_get(0)?;
                let digest = Digest::parse(&digest)
                    .map_err(|e| super::Error::Database(sqlx::Error::Decode(e.into())))?;
                Ok((digest, row.try_get(1)?))
            })
            .collect()
    }
}
