//! Lifecycle policies on their repositories, the latest preview of each, and the
//! transaction a lifecycle run applies its decisions in.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use super::images::{digest, image, remove_image, set_status, split_tags, M_COLUMNS};
use super::repositories::{repository, COLUMNS};
use super::{
    from_millis, millis, Error, Key, LifecycleImage, Result, Store, Stored, StoredPreview,
};
use crate::domain::lifecycle::{Action, Decision, PreviewResult, StorageClass};
use crate::domain::{ImageStatus, ImageTag, Repository, RepositoryName};

/// A preview result as its JSON column holds it.
#[derive(Serialize, Deserialize)]
struct ResultRow {
    digest: String,
    tags: Vec<String>,
    pushed_at: i64,
    transition: bool,
    rule: u32,
    archived: bool,
}

fn encode(results: &[PreviewResult]) -> Result<String> {
    let rows: Vec<ResultRow> = results
        .iter()
        .map(|r| ResultRow {
            digest: r.digest.to_string(),
            tags: r.tags.iter().map(ToString::to_string).collect(),
            pushed_at: millis(r.pushed_at),
            transition: r.action == Action::Transition,
            rule: r.rule_priority,
            archived: r.storage_class == StorageClass::Archive,
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| Error::Database(sqlx::Error::Encode(Box::new(e))))
}

fn decode(json: &str) -> Result<Vec<PreviewResult>> {
    let bad = || super::images::bad("preview");
    let rows: Vec<ResultRow> = serde_json::from_str(json).map_err(|_| bad())?;
    rows.into_iter()
        .map(|r| {
            Ok(PreviewResult {
                digest: digest(&r.digest)?,
                tags: r
                    .tags
                    .iter()
                    .map(|t| ImageTag::parse(t).map_err(|_| bad()))
                    .collect::<Result<_>>()?,
                pushed_at: from_millis(r.pushed_at),
                action: if r.transition {
                    Action::Transition
                } else {
                    Action::Expire
                },
                rule_priority: r.rule,
                storage_class: if r.archived {
                    StorageClass::Archive
                } else {
                    StorageClass::Standard
                },
            })
        })
        .collect()
}

impl Store {
    /// The repository's lifecycle policy text and when a run last applied it.
    pub async fn lifecycle_policy(
        &self,
        repository: Key<Repository>,
    ) -> Result<Option<(String, Option<DateTime<Utc>>)>> {
        let row = sqlx::query(
            "SELECT lifecycle_policy, lifecycle_evaluated_at FROM repositories WHERE id = $1",
        )
        .bind(repository.id())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let text: Option<String> = row.try_get(0)?;
        let at: Option<i64> = row.try_get(1)?;
        Ok(text.map(|t| (t, at.map(from_millis))))
    }

    pub async fn set_lifecycle_policy(
        &self,
        repository: Key<Repository>,
        policy: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE repositories SET lifecycle_policy = $1 WHERE id = $2")
            .bind(policy)
            .bind(repository.id())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// The private repositories that have a lifecycle policy, with its text: all of
    /// them, or those named `name` (in any account's registry).
    pub async fn lifecycle_repositories(
        &self,
        name: Option<&RepositoryName>,
    ) -> Result<Vec<(Stored<Repository>, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, lifecycle_policy FROM repositories \
             WHERE namespace = 'private' AND lifecycle_policy IS NOT NULL AND ($1 = '' OR name = $1) \
             ORDER BY id"
        ))
        .bind(name.map_or("", RepositoryName::as_str))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| Ok((repository(row)?, row.try_get("lifecycle_policy")?)))
            .collect()
    }

    /// The repository's images in push (row) order, as a preview sees them.
    pub async fn lifecycle_images(
        &self,
        repository: Key<Repository>,
    ) -> Result<Vec<LifecycleImage>> {
        let mut conn = self.reader().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let images = self.read_images(&mut tx, repository).await?;
        tx.commit().await?;
        Ok(images)
    }

    async fn read_images(
        &self,
        tx: &mut Transaction<'_, Any>,
        repository: Key<Repository>,
    ) -> Result<Vec<LifecycleImage>> {
        let mut listed_by: HashMap<String, Vec<String>> = HashMap::new();
        let parents = sqlx::query(
            "SELECT r.child_digest, p.digest FROM manifest_references r \
             JOIN manifests p ON p.id = r.manifest_id \
             WHERE p.repository_id = $1 AND r.is_manifest = 1",
        )
        .bind(repository.id())
        .fetch_all(&mut **tx)
        .await?;
        for row in parents {
            listed_by
                .entry(row.try_get(0)?)
                .or_default()
                .push(row.try_get(1)?);
        }
        let rows = sqlx::query(&format!(
            "SELECT {M_COLUMNS}, {tags} AS tags FROM manifests m WHERE m.repository_id = $1 ORDER BY m.id",
            tags = self.tags_of_m()
        ))
        .bind(repository.id())
        .fetch_all(&mut **tx)
        .await?;
        rows.iter()
            .map(|row| {
                let Stored { key, record } = image(row)?;
                Ok(LifecycleImage {
                    key,
                    tags: split_tags(row.try_get("tags")?)?,
                    listed_by: listed_by
                        .remove(record.digest.as_str())
                        .unwrap_or_default()
                        .iter()
                        .map(|p| digest(p))
                        .collect::<Result<_>>()?,
                    image: record,
                })
            })
            .collect()
    }

    /// One lifecycle run over a repository, in one transaction: its images are read
    /// with their rows locked (Postgres; SQLite has one writer), `decide` chooses
    /// what happens to them, and that is done: expired images go as BatchDeleteImage
    /// removes them, indexes before the images they list; transitioned ones are
    /// archived. Images pushed meanwhile
    /// were not read, so nothing decided touches them; a tag moved meanwhile stays
    /// with the image it was moved to. Records the run's time on the repository.
    /// Returns what was done, in candidate order.
    pub async fn apply_lifecycle(
        &self,
        repository: Key<Repository>,
        now: DateTime<Utc>,
        decide: impl FnOnce(&[LifecycleImage]) -> Vec<Decision>,
    ) -> Result<Vec<(LifecycleImage, Decision)>> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        if self.postgres {
            sqlx::query("SELECT id FROM manifests WHERE repository_id = $1 FOR UPDATE")
                .bind(repository.id())
                .fetch_all(&mut *tx)
                .await?;
        }
        let images = self.read_images(&mut tx, repository).await?;
        let decisions = decide(&images);
        let mut done = Vec::new();
        // Expired indexes go before the images they list: each pass removes the
        // images no pending expiration lists.
        let mut pending: Vec<Decision> = decisions
            .iter()
            .copied()
            .filter(|d| d.action == Action::Expire)
            .collect();
        while !pending.is_empty() {
            let waiting: Vec<&crate::domain::Digest> = pending
                .iter()
                .map(|d| &images[d.image].image.digest)
                .collect();
            let (ready, later): (Vec<Decision>, Vec<Decision>) =
                pending.iter().copied().partition(|d| {
                    !images[d.image]
                        .listed_by
                        .iter()
                        .any(|parent| waiting.contains(&parent))
                });
            if ready.is_empty() {
                break; // a cycle cannot be built; stop rather than spin
            }
            for d in ready {
                let image = &images[d.image];
                match remove_image(
                    &mut tx,
                    repository,
                    image.key.id(),
                    image.image.digest.as_str(),
                )
                .await
                {
                    Ok(()) => {
                        sqlx::query("DELETE FROM tags WHERE manifest_id = $1")
                            .bind(image.key.id())
                            .execute(&mut *tx)
                            .await?;
                        done.push((image.clone(), d));
                    }
                    // Listed by an index the run keeps: kept, as BatchDeleteImage keeps it.
                    Err(Error::ReferencedByIndex) => {}
                    Err(e) => return Err(e),
                }
            }
            pending = later;
        }
        for d in decisions.iter().filter(|d| d.action == Action::Transition) {
            let image = &images[d.image];
            set_status(&mut tx, image.key, ImageStatus::Archived, now).await?;
            done.push((image.clone(), *d));
        }
        sqlx::query("UPDATE repositories SET lifecycle_evaluated_at = $1 WHERE id = $2")
            .bind(millis(now))
            .bind(repository.id())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done.sort_by_key(|(_, d)| d.image);
        Ok(done)
    }

    pub async fn save_lifecycle_preview(
        &self,
        repository: Key<Repository>,
        policy_text: &str,
        results: &[PreviewResult],
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO lifecycle_previews (repository_id, policy_text, created_at, results) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (repository_id) DO UPDATE SET policy_text = excluded.policy_text, \
             created_at = excluded.created_at, results = excluded.results",
        )
        .bind(repository.id())
        .bind(policy_text)
        .bind(millis(now))
        .bind(encode(results)?)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    pub async fn lifecycle_preview(
        &self,
        repository: Key<Repository>,
    ) -> Result<Option<StoredPreview>> {
        let row = sqlx::query(
            "SELECT policy_text, created_at, results FROM lifecycle_previews WHERE repository_id = $1",
        )
        .bind(repository.id())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        row.map(|row| {
            Ok(StoredPreview {
                policy_text: row.try_get(0)?,
                created_at: from_millis(row.try_get(1)?),
                results: decode(&row.try_get::<String, _>(2)?)?,
            })
        })
        .transpose()
    }
}
