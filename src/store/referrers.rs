//! Manifests that refer to another through `subject`.

use sqlx::Row;

use super::images::bad;
use super::{Key, Result, Store};
use crate::domain::{Digest, ImageStatus, Repository};

/// A manifest whose `subject` is a given digest.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub body: Vec<u8>,
    pub status: ImageStatus,
}

impl Store {
    /// Manifests in the repository whose subject is `subject`, in push order.
    pub async fn referrers(
        &self,
        repository: Key<Repository>,
        subject: &Digest,
    ) -> Result<Vec<Referrer>> {
        let rows = sqlx::query(
            "SELECT digest, media_type, artifact_type, body, status FROM manifests \
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
                        .map_err(|_| bad("digest"))?,
                    media_type: r.try_get(1)?,
                    artifact_type: r.try_get(2)?,
                    body: r.try_get(3)?,
                    status: ImageStatus::parse(&r.try_get::<String, _>(4)?)
                        .ok_or_else(|| bad("image status"))?,
                })
            })
            .collect()
    }
}
