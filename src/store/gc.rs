//! What garbage collection asks and removes: links no image uses, blob rows nothing
//! references, and the check that a file has no row before it goes. Candidates are
//! read in bounded batches from a cursor; each removal is its own short transaction
//! that checks again, under its locks, what the candidate query saw.

use std::collections::HashSet;
use std::future::Future;

use sqlx::{Any, Row, Transaction};

use super::{millis, placeholders, Error, Key, Result, Store};
use crate::domain::{Digest, Repository};

fn digest(s: &str) -> Result<Digest> {
    Digest::parse(s).map_err(|_| super::images::bad("digest"))
}

/// A link's key: the repository and the blob.
pub type Link = (Key<Repository>, Digest);

/// Whether a manifest of the link's own repository references the blob.
const USED_IN_ITS_REPOSITORY: &str = "EXISTS (SELECT 1 FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id \
     WHERE r.child_digest = rb.digest AND r.is_manifest = 0 AND m.repository_id = rb.repository_id)";

impl Store {
    /// Links made (or refreshed) before `before` that no manifest of their repository
    /// references, after `after` in key order; at most `limit`.
    pub async fn unused_links(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        after: Option<&Link>,
        limit: i64,
    ) -> Result<Vec<Link>> {
        let rows = sqlx::query(&format!(
            "SELECT rb.repository_id, rb.digest FROM repository_blobs rb \
             WHERE (rb.repository_id, rb.digest) > ($1, $2) AND rb.created_at < $3 \
             AND NOT {USED_IN_ITS_REPOSITORY} ORDER BY rb.repository_id, rb.digest LIMIT $4"
        ))
        .bind(after.map_or(0, |(r, _)| r.id()))
        .bind(after.map_or("", |(_, d)| d.as_str()))
        .bind(millis(before))
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    Key::new(r.try_get(0)?),
                    digest(&r.try_get::<String, _>(1)?)?,
                ))
            })
            .collect()
    }

    /// Drops the link if it is still older than `before` and unused. On Postgres the
    /// link is locked first (a PutImage that read it `FOR SHARE` is waited for), then
    /// a new statement looks for references, which sees what that PutImage committed;
    /// a single `DELETE ... WHERE NOT EXISTS` would re-check a waited-for row against
    /// its old snapshot.
    pub async fn drop_link(
        &self,
        (repository, blob): &Link,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        let row = sqlx::query(&format!(
            "SELECT created_at FROM repository_blobs WHERE repository_id = $1 AND digest = $2{}",
            self.lock_rows()
        ))
        .bind(repository.id())
        .bind(blob.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let old = match row {
            Some(r) => r.try_get::<i64, _>(0)? < millis(before),
            None => false,
        };
        if !old {
            return Ok(false);
        }
        let used = sqlx::query(
            "SELECT 1 FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id \
             WHERE r.child_digest = $2 AND r.is_manifest = 0 AND m.repository_id = $1 LIMIT 1",
        )
        .bind(repository.id())
        .bind(blob.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if used.is_some() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
            .bind(repository.id())
            .bind(blob.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Blobs, after `after` in digest order, that no manifest references and no link
    /// made since `before` keeps (the links older than that and unused are the ones
    /// collection drops first): what a collection removes. At most `limit`, with sizes.
    pub async fn unreferenced_blobs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        after: Option<&Digest>,
        limit: i64,
    ) -> Result<Vec<(Digest, i64)>> {
        let rows = sqlx::query(
            "SELECT b.digest, b.size FROM blobs b WHERE b.digest > $1 \
             AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.created_at >= $2) \
             AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.child_digest = b.digest AND r.is_manifest = 0) \
             ORDER BY b.digest LIMIT $3",
        )
        .bind(after.map_or("", Digest::as_str))
        .bind(millis(before))
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| Ok((digest(&r.try_get::<String, _>(0)?)?, r.try_get(1)?)))
            .collect()
    }

    /// Deletes the blob's row, under its lock, if no repository links it and no
    /// manifest references it; its size when it did. The file goes after, in
    /// `remove_unrecorded`: a crash between the two leaves only a file without a row.
    pub async fn drop_blob(&self, blob: &Digest) -> Result<Option<i64>> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        self.lock_digest(&mut tx, blob).await?;
        if referenced(&mut tx, blob).await? {
            return Ok(None);
        }
        let row = sqlx::query("DELETE FROM blobs WHERE digest = $1 RETURNING size")
            .bind(blob.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Runs `remove` (which removes the blob's file) under the blob's lock if the blob
    /// has no row; `None` without running it when it has one. An upload placing the
    /// same bytes holds the lock from placing the file to committing its row, so it
    /// either finished (the row is seen, the file stays) or has not begun.
    pub async fn remove_unrecorded<T, E, F, Fut>(
        &self,
        blob: &Digest,
        remove: F,
    ) -> std::result::Result<Option<T>, E>
    where
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        self.under_blob_lock(blob, false, remove).await
    }

    /// Runs `look` (which looks at the blob's file) under the blob's lock, if the blob
    /// has a row: what it answers, `None` when there is no row. Nothing is written.
    pub async fn while_recorded<T, E, F, Fut>(
        &self,
        blob: &Digest,
        look: F,
    ) -> std::result::Result<Option<T>, E>
    where
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        self.under_blob_lock(blob, true, look).await
    }

    /// Runs `work` under the blob's lock when whether the blob has a row is `recorded`;
    /// `None` without running it otherwise.
    async fn under_blob_lock<T, E, F, Fut>(
        &self,
        blob: &Digest,
        recorded: bool,
        work: F,
    ) -> std::result::Result<Option<T>, E>
    where
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        self.lock_digest(&mut tx, blob).await?;
        let row = sqlx::query("SELECT 1 FROM blobs WHERE digest = $1")
            .bind(blob.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::from)?;
        if row.is_some() != recorded {
            return Ok(None);
        }
        let done = work().await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(Some(done))
    }

    /// Of `blobs`, those with a row.
    pub async fn recorded_blobs(&self, blobs: &[Digest]) -> Result<HashSet<Digest>> {
        let mut found = HashSet::new();
        for chunk in blobs.chunks(500) {
            let sql = format!(
                "SELECT digest FROM blobs WHERE digest IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for d in chunk {
                q = q.bind(d.as_str());
            }
            for row in q.fetch_all(&mut *self.reader().await?).await? {
                found.insert(digest(&row.try_get::<String, _>(0)?)?);
            }
        }
        Ok(found)
    }
}

/// Whether any repository links the blob or any manifest references it.
async fn referenced(tx: &mut Transaction<'_, Any>, blob: &Digest) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM repository_blobs WHERE digest = $1) \
         OR EXISTS (SELECT 1 FROM manifest_references WHERE child_digest = $2 AND is_manifest = 0)",
    )
    .bind(blob.as_str())
    .bind(blob.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.is_some())
}

/// A reference `berth check` found without its target: `repository` (account,
/// region, namespace and name, as text), the image that holds it if any, and the target.
#[derive(Debug, Clone)]
pub struct Dangling {
    pub repository: String,
    pub image: Option<String>,
    pub target: String,
}

fn dangling(row: &sqlx::any::AnyRow, image: bool) -> Result<Dangling> {
    let repository = format!(
        "{}/{}/{}/{}",
        row.try_get::<String, _>("registry_id")?,
        row.try_get::<String, _>("region")?,
        row.try_get::<String, _>("namespace")?,
        row.try_get::<String, _>("name")?
    );
    Ok(Dangling {
        repository,
        image: if image {
            Some(row.try_get("image")?)
        } else {
            None
        },
        target: row.try_get("target")?,
    })
}

impl Store {
    /// Links whose blob has no row.
    pub async fn dangling_links(&self) -> Result<Vec<Dangling>> {
        sqlx::query(
            "SELECT r.registry_id, r.region, r.namespace, r.name, rb.digest AS target FROM repository_blobs rb \
             JOIN repositories r ON r.id = rb.repository_id \
             WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = rb.digest) ORDER BY r.id, rb.digest",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?
        .iter()
        .map(|r| dangling(r, false))
        .collect()
    }

    /// Blobs manifests reference that have no row, outside pull-through caches (whose
    /// images' layers arrive only when pulled).
    pub async fn dangling_references(&self) -> Result<Vec<Dangling>> {
        sqlx::query(
            "SELECT r.registry_id, r.region, r.namespace, r.name, m.digest AS image, mr.child_digest AS target \
             FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id \
             JOIN repositories r ON r.id = m.repository_id \
             WHERE mr.is_manifest = 0 AND r.pull_through = 0 \
             AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = mr.child_digest) \
             ORDER BY m.id, mr.child_digest",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?
        .iter()
        .map(|r| dangling(r, true))
        .collect()
    }

    /// The images that list the blob.
    pub async fn images_listing(&self, blob: &Digest) -> Result<Vec<Dangling>> {
        sqlx::query(
            "SELECT r.registry_id, r.region, r.namespace, r.name, m.digest AS image, mr.child_digest AS target \
             FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id \
             JOIN repositories r ON r.id = m.repository_id \
             WHERE mr.child_digest = $1 AND mr.is_manifest = 0 ORDER BY m.id",
        )
        .bind(blob.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await?
        .iter()
        .map(|r| dangling(r, true))
        .collect()
    }

    /// Child manifests of an index that its repository does not hold.
    pub async fn missing_children(&self) -> Result<Vec<Dangling>> {
        sqlx::query(
            "SELECT r.registry_id, r.region, r.namespace, r.name, m.digest AS image, mr.child_digest AS target \
             FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id \
             JOIN repositories r ON r.id = m.repository_id \
             WHERE mr.is_manifest = 1 AND NOT EXISTS \
             (SELECT 1 FROM manifests c WHERE c.repository_id = m.repository_id AND c.digest = mr.child_digest) \
             ORDER BY m.id, mr.child_digest",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?
        .iter()
        .map(|r| dangling(r, true))
        .collect()
    }

    /// Deletes the links of blobs that have no row; how many.
    pub async fn drop_dangling_links(&self) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM repository_blobs WHERE NOT EXISTS \
             (SELECT 1 FROM blobs b WHERE b.digest = repository_blobs.digest)",
        )
        .execute(&mut *self.writer().await?)
        .await?
        .rows_affected())
    }

    /// Forgets a blob whose file is gone: its links and its row, under its lock, if
    /// `gone` (run under the lock) still finds no file. The number of links removed,
    /// `None` when the file is back (an upload placed it again).
    pub async fn forget_blob<E, F, Fut>(
        &self,
        blob: &Digest,
        gone: F,
    ) -> std::result::Result<Option<u64>, E>
    where
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<bool, E>>,
    {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        self.lock_digest(&mut tx, blob).await?;
        if !gone().await? {
            return Ok(None);
        }
        let links = sqlx::query("DELETE FROM repository_blobs WHERE digest = $1")
            .bind(blob.as_str())
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?
            .rows_affected();
        sqlx::query("DELETE FROM blobs WHERE digest = $1")
            .bind(blob.as_str())
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(Some(links))
    }
}
