use std::collections::{HashMap, HashSet};

use sqlx::{Any, Row, Transaction};

use super::sqlite_direct::at_once;
use super::statements::{args, bound, required, Arg, Columns, Statements};
use super::{
    from_millis, millis, on_unique, placeholders, Deleted, Error, ImageListing, Key, NamedManifest,
    NewImage, Presence, Queued, Result, Store, Stored, TagWrite,
};
use crate::domain::{
    Descriptor, Digest, Image, ImageFilter, ImageSelector, ImageStatus, ImageTag, Registry,
    Repository, RepositoryName, TagStatus,
};

const COLUMNS: &str = "id, digest, media_type, artifact_type, subject_digest, image_size, pushed_at, last_pulled_at, status, last_archived_at, last_activated_at";

pub(super) fn bad(what: &str) -> Error {
    Error::Database(sqlx::Error::Decode(
        format!("stored {what} is invalid").into(),
    ))
}

pub(super) fn digest(s: &str) -> Result<Digest> {
    Digest::parse(s).map_err(|_| bad("digest"))
}

pub(super) fn image(row: &impl Columns) -> Result<Stored<Image>> {
    let text = |name| -> Result<String> { Ok(required(row.text(name)?, name)?) };
    let stamp = |name| -> Result<_> { Ok(row.int(name)?.map(from_millis)) };
    let record = Image {
        digest: digest(&text("digest")?)?,
        media_type: text("media_type")?,
        artifact_type: row.text("artifact_type")?,
        subject: row
            .text("subject_digest")?
            .as_deref()
            .map(digest)
            .transpose()?,
        size: required(row.int("image_size")?, "image_size")?,
        pushed_at: from_millis(required(row.int("pushed_at")?, "pushed_at")?),
        last_pulled_at: stamp("last_pulled_at")?,
        status: ImageStatus::parse(&text("status")?).ok_or_else(|| bad("image status"))?,
        last_archived_at: stamp("last_archived_at")?,
        last_activated_at: stamp("last_activated_at")?,
    };
    Ok(Stored {
        key: Key::new(required(row.int("id")?, "id")?),
        record,
    })
}

/// `COLUMNS` qualified with the manifests alias `m`.
pub(super) const M_COLUMNS: &str = "m.id, m.digest, m.media_type, m.artifact_type, m.subject_digest, m.image_size, m.pushed_at, m.last_pulled_at, m.status, m.last_archived_at, m.last_activated_at";

/// Tags as `tags_of_m` joins them (tags hold no spaces), sorted byte-wise.
pub(super) fn split_tags(joined: Option<String>) -> Result<Vec<ImageTag>> {
    let mut tags = joined
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| ImageTag::parse(t).map_err(|_| bad("tag")))
        .collect::<Result<Vec<_>>>()?;
    tags.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    Ok(tags)
}

/// The subset of `wanted` that is absent from `found`, in request order.
fn missing(wanted: &[Digest], found: &HashSet<String>) -> Vec<Digest> {
    let mut seen = HashSet::new();
    wanted
        .iter()
        .filter(|d| !found.contains(d.as_str()) && seen.insert(d.as_str()))
        .cloned()
        .collect()
}

/// `(digest, size)` of those of `digests` present in `table` for the repository; the
/// size is 0 when no `size` column is named. `lock` ends the query (a row lock).
async fn present(
    tx: &mut impl Statements,
    table: &str,
    size: Option<&str>,
    lock: &str,
    repository: Key<Repository>,
    digests: &[Digest],
) -> Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    // Chunked so no statement exceeds the parameter limits of either database.
    for chunk in digests.chunks(500) {
        let sql = format!(
            "SELECT t.digest{} FROM {table} t WHERE t.repository_id = $1 AND t.digest IN ({}){lock}",
            size.map_or(String::new(), |s| format!(", t.{s}")),
            placeholders(2, chunk.len())
        );
        let args: Vec<Arg> = std::iter::once(repository.id().into())
            .chain(chunk.iter().map(|d| d.as_str().into()))
            .collect();
        for row in tx.rows(&sql, &args).await? {
            let size = match size {
                Some(column) => required(row.int(column)?, column)?,
                None => 0,
            };
            out.insert(required(row.text("digest")?, "digest")?, size);
        }
    }
    Ok(out)
}

/// The row locks a write's statements take where the database has them (Postgres).
#[derive(Clone, Copy)]
struct Locks {
    /// Held until the transaction ends, shared with other readers.
    share: &'static str,
    /// Held until the transaction ends, alone.
    update: &'static str,
}

impl Store {
    /// Registers a manifest and places its tag, in one transaction: every referenced
    /// blob and child must be in the repository; a tag marked immutable may not exist
    /// yet at all (the primary key on tags settles races); a mutable one moves. A push
    /// that changes anything queues its `work` (copies, signatures, a new image's
    /// scan) in the same transaction. On SQLite it runs on the writer thread; on
    /// Postgres the usual push is one statement (`put_new`).
    pub async fn put_image(
        &self,
        repository: Key<Repository>,
        new: &NewImage,
        tag: Option<&TagWrite>,
        work: Queued<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Stored<Image>> {
        let locks = Locks {
            share: self.share_rows(),
            update: self.lock_rows(),
        };
        if let Some(writer) = self.pools.sqlite_writer() {
            let (new, tag) = (new.clone(), tag.cloned());
            let (replicate_to, sign_with) = (work.replicate_to.to_vec(), work.sign_with.to_vec());
            let scan = work.scan;
            return writer
                .run(move |tx| {
                    let work = Queued {
                        replicate_to: &replicate_to,
                        sign_with: &sign_with,
                        scan,
                    };
                    let push = Push {
                        repository,
                        new: &new,
                        tag: tag.as_ref(),
                        work,
                        now,
                    };
                    at_once(put(tx, locks, push))
                })
                .await;
        }
        let push = Push {
            repository,
            new,
            tag,
            work,
            now,
        };
        let mut conn = self.writer().await?;
        if self.postgres {
            if let Some(image) = put_new(&mut conn, locks, push).await? {
                return Ok(image);
            }
        }
        let mut tx = self.begin_write(&mut conn).await?;
        let image = put(&mut tx, locks, push).await?;
        tx.commit().await?;
        Ok(image)
    }

    /// Records that the tag was found current on its pull-through upstream at `at`.
    pub async fn upstream_checked(
        &self,
        repository: Key<Repository>,
        tag: &ImageTag,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        mark_checked(&mut tx, repository, tag, at).await?;
        Ok(tx.commit().await?)
    }

    /// When the tag was last checked against a pull-through upstream.
    pub async fn upstream_checked_at(
        &self,
        repository: Key<Repository>,
        tag: &ImageTag,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        let at: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT upstream_checked_at FROM tags WHERE repository_id = $1 AND tag = $2",
        )
        .bind(repository.id())
        .bind(tag.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(at.flatten().map(from_millis))
    }

    pub async fn image_by_digest(
        &self,
        repository: Key<Repository>,
        digest: &Digest,
    ) -> Result<Option<Stored<Image>>> {
        let selector = ImageSelector::Digest(digest.clone());
        Ok(self
            .find(repository, &selector, false)
            .await?
            .map(|(image, _)| image))
    }

    pub async fn image_by_tag(
        &self,
        repository: Key<Repository>,
        tag: &ImageTag,
    ) -> Result<Option<Stored<Image>>> {
        let selector = ImageSelector::Tag(tag.clone());
        Ok(self
            .find(repository, &selector, false)
            .await?
            .map(|(image, _)| image))
    }

    /// An image of the repository with its exact manifest bytes. By tag when the
    /// selector has one; the caller checks a digest given with it.
    pub async fn manifest(
        &self,
        repository: Key<Repository>,
        selector: &ImageSelector,
    ) -> Result<Option<(Stored<Image>, Vec<u8>)>> {
        self.find(repository, selector, true).await
    }

    /// An image with its manifest bytes found by its repository's registry and name in
    /// one read, with what deciding its pull needs: its repository's policy and its
    /// registry's (a private registry's; public registries have none). `None` when the repository or the image is missing.
    pub async fn manifest_by_name(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        selector: &ImageSelector,
    ) -> Result<Option<NamedManifest>> {
        let (checked, from, value) = match selector {
            ImageSelector::Digest(d) => (
                "CAST(NULL AS BIGINT)",
                "repositories r JOIN manifests m ON m.repository_id = r.id \
                 WHERE r.registry_id = $1 AND r.namespace = $2 AND r.name = $3 AND m.digest = $4 AND r.region = $5",
                d.as_str(),
            ),
            ImageSelector::Tag(t) | ImageSelector::Both { tag: t, .. } => (
                "t.upstream_checked_at",
                "repositories r JOIN tags t ON t.repository_id = r.id JOIN manifests m ON m.id = t.manifest_id \
                 WHERE r.registry_id = $1 AND r.namespace = $2 AND r.name = $3 AND t.tag = $4 AND r.region = $5",
                t.as_str(),
            ),
        };
        let rows = self
            .point_read(
                &format!(
                    "SELECT {M_COLUMNS}, m.body, {checked} AS upstream_checked_at, r.policy_text AS repository_policy, \
                     (SELECT p.policy_text FROM registry_policies p \
                      WHERE p.registry_id = r.registry_id AND p.region = r.region \
                      AND r.namespace = 'private') AS registry_policy \
                     FROM {from}"
                ),
                &args![
                    registry.account.as_str(),
                    registry.namespace.as_str(),
                    name.as_str(),
                    value,
                    registry.region.as_str(),
                ],
            )
            .await?;
        rows.first()
            .map(|row| {
                Ok(NamedManifest {
                    image: image(row)?,
                    body: required(row.bytes("body")?, "body")?,
                    repository_policy: row.text("repository_policy")?,
                    registry_policy: row.text("registry_policy")?,
                    upstream_checked_at: row.int("upstream_checked_at")?.map(from_millis),
                })
            })
            .transpose()
    }

    /// One image by tag (when the selector has one) or digest, with its bytes when
    /// `body` (else they are empty).
    async fn find(
        &self,
        repository: Key<Repository>,
        selector: &ImageSelector,
        body: bool,
    ) -> Result<Option<(Stored<Image>, Vec<u8>)>> {
        let body_column = if body { ", m.body" } else { "" };
        let (from, value) = match selector {
            ImageSelector::Digest(d) => (
                "manifests m WHERE m.repository_id = $1 AND m.digest = $2",
                d.as_str(),
            ),
            ImageSelector::Tag(t) | ImageSelector::Both { tag: t, .. } => (
                "tags t JOIN manifests m ON m.id = t.manifest_id \
                 WHERE t.repository_id = $1 AND t.tag = $2",
                t.as_str(),
            ),
        };
        let sql = format!("SELECT {M_COLUMNS}{body_column} FROM {from}");
        let query = sqlx::query(&sql).bind(repository.id()).bind(value);
        let row = query.fetch_optional(&mut *self.reader().await?).await?;
        row.map(|row| {
            let bytes = if body {
                row.try_get("body")?
            } else {
                Vec::new()
            };
            Ok((image(&row)?, bytes))
        })
        .transpose()
    }

    /// Tags of each image, in tag (byte) order.
    pub async fn tags_of(
        &self,
        images: &[Key<Image>],
    ) -> Result<HashMap<Key<Image>, Vec<ImageTag>>> {
        let mut out = HashMap::new();
        for chunk in images.chunks(500) {
            // The IN list is on the manifests' primary key, which Postgres plans as an
            // index scan even on a table it has never analysed (an IN list on
            // `tags.manifest_id` was planned as a sequential scan there).
            let sql = format!(
                "SELECT m.id, {tags} FROM manifests m WHERE m.id IN ({})",
                placeholders(1, chunk.len()),
                tags = self.tags_of_m()
            );
            let mut q = sqlx::query(&sql);
            for image in chunk {
                q = q.bind(image.id());
            }
            for row in q.fetch_all(&mut *self.reader().await?).await? {
                let tags = split_tags(row.try_get(1)?)?;
                if !tags.is_empty() {
                    out.insert(Key::new(row.try_get(0)?), tags);
                }
            }
        }
        Ok(out)
    }

    /// Images in push order after image `after`, each with its tags in tag (byte)
    /// order; at most `limit`.
    pub async fn images(
        &self,
        repository: Key<Repository>,
        filter: ImageFilter,
        after: Option<Key<Image>>,
        limit: i64,
    ) -> Result<Vec<(Stored<Image>, Vec<ImageTag>)>> {
        let rows = sqlx::query(&format!(
            "SELECT {cols}, {tags} AS tags FROM manifests m WHERE m.repository_id = $1 AND m.id > $2 {filter} ORDER BY m.id LIMIT $3",
            cols = M_COLUMNS,
            tags = self.tags_of_m(),
            filter = filter_sql(filter, "m"),
        ))
        .bind(repository.id())
        .bind(after.map_or(0, Key::id))
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| Ok((image(row)?, split_tags(row.try_get("tags")?)?)))
            .collect()
    }

    /// The tags of manifest `m` as one space-separated string, NULL when it has none.
    /// A scalar subquery per image, not a join: Postgres then always probes the
    /// `tags_manifest_id` index, whatever its statistics say about `tags`.
    pub(super) fn tags_of_m(&self) -> &'static str {
        if self.postgres {
            "(SELECT string_agg(t.tag, ' ') FROM tags t WHERE t.manifest_id = m.id)"
        } else {
            "(SELECT group_concat(t.tag, ' ') FROM tags t WHERE t.manifest_id = m.id)"
        }
    }

    /// ListImages entries ordered by (image, tag), after `(after_image, after_tag)`:
    /// one per tag, and one without a tag for an untagged image.
    pub async fn image_listings(
        &self,
        repository: Key<Repository>,
        filter: ImageFilter,
        after: (Option<Key<Image>>, &str),
        limit: i64,
    ) -> Result<Vec<ImageListing>> {
        // The page's images are chosen first, `limit + 1` of them (the first may be the
        // one the last page stopped inside, with nothing left), and only they are
        // joined to their tags. A plain join of manifests and tags let Postgres merge
        // the whole tags index up to the repository's images: 31 ms at 1,000 images,
        // 70 ms at 1,000,000, where this shape takes 0.3 ms at both. The limit is a
        // literal, so even a generic plan knows how few images come out.
        let filter = filter_sql(filter, "p");
        let images = limit.saturating_add(1);
        let rows = sqlx::query(&format!(
            "SELECT m.id, m.digest, t.tag FROM \
             (SELECT p.id, p.digest FROM manifests p WHERE p.repository_id = $1 AND p.id >= $2 {filter} \
              ORDER BY p.id LIMIT {images}) m \
             LEFT JOIN tags t ON t.manifest_id = m.id \
             WHERE m.id > $2 OR COALESCE(t.tag, '') > $3 \
             ORDER BY m.id, COALESCE(t.tag, '') LIMIT $4"
        ))
        .bind(repository.id())
        .bind(after.0.map_or(0, Key::id))
        .bind(after.1)
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                let tag: Option<String> = r.try_get(2)?;
                Ok(ImageListing {
                    image: Key::new(r.try_get(0)?),
                    digest: digest(&r.try_get::<String, _>(1)?)?,
                    tag: tag
                        .map(|t| ImageTag::parse(&t).map_err(|_| bad("tag")))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// Records when each image was last pulled, in one statement per few hundred
    /// images; a time never moves back (another process may have recorded a later
    /// pull first).
    pub async fn record_pulls(
        &self,
        pulls: &[(Key<Image>, chrono::DateTime<chrono::Utc>)],
    ) -> Result<()> {
        for chunk in pulls.chunks(500) {
            let values = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE manifests SET last_pulled_at = v.column2 FROM (VALUES {values}) AS v \
                 WHERE manifests.id = v.column1 \
                 AND (manifests.last_pulled_at IS NULL OR manifests.last_pulled_at < v.column2)"
            );
            let args: Vec<Arg> = chunk
                .iter()
                .flat_map(|(image, at)| [Arg::from(image.id()), Arg::from(millis(*at))])
                .collect();
            bound(&sql, &args)
                .execute(&mut *self.writer().await?)
                .await?;
        }
        Ok(())
    }

    /// Moves an image to `status`: archived unless an index in the repository lists
    /// it (`ReferencedByIndex`: the index would lose a child), or active again.
    /// Nothing changes when the image has that status already; `None` when the
    /// image is gone.
    pub async fn set_image_status(
        &self,
        repository: Key<Repository>,
        key: Key<Image>,
        status: ImageStatus,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Stored<Image>>> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        let Some(row) = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM manifests WHERE id = $1 AND repository_id = $2{}",
            self.lock_rows()
        ))
        .bind(key.id())
        .bind(repository.id())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let current = image(&row)?;
        if current.record.status == status {
            return Ok(Some(current));
        }
        if status == ImageStatus::Archived
            && listed_by_index(&mut tx, repository, current.record.digest.as_str()).await?
        {
            return Err(Error::ReferencedByIndex);
        }
        let moved = set_status(&mut tx, key, status, now).await?;
        tx.commit().await?;
        Ok(Some(moved))
    }

    /// Removes a tag; when it was the image's last tag the image goes too, unless an
    /// index still refers to it (then nothing changes).
    pub async fn delete_tag(
        &self,
        repository: Key<Repository>,
        tag: &ImageTag,
    ) -> Result<Option<Deleted>> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        // The manifest row is locked before the tags are counted, so a PutImage adding
        // a tag to the image concurrently is either waited for (and counted) or waits.
        let Some(row) = sqlx::query(&format!(
            "SELECT m.id, m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id WHERE t.repository_id = $1 AND t.tag = $2{}",
            self.lock_rows_of("m")
        ))
        .bind(repository.id())
        .bind(tag.as_str())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let (image_id, image_digest): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
        sqlx::query("DELETE FROM tags WHERE repository_id = $1 AND tag = $2")
            .bind(repository.id())
            .bind(tag.as_str())
            .execute(&mut *tx)
            .await?;
        let remaining: i64 = sqlx::query("SELECT COUNT(*) FROM tags WHERE manifest_id = $1")
            .bind(image_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if remaining == 0 {
            remove_image(&mut tx, repository, image_id, &image_digest).await?;
        }
        tx.commit().await?;
        Ok(Some(Deleted {
            digest: digest(&image_digest)?,
            tags: vec![tag.clone()],
        }))
    }

    /// Removes an image and all its tags, unless an index still refers to it.
    pub async fn delete_image(
        &self,
        repository: Key<Repository>,
        image_digest: &Digest,
    ) -> Result<Option<Deleted>> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin_write(&mut conn).await?;
        let Some(row) = sqlx::query(&format!(
            "SELECT id FROM manifests WHERE repository_id = $1 AND digest = $2{}",
            self.lock_rows()
        ))
        .bind(repository.id())
        .bind(image_digest.as_str())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let image_id: i64 = row.try_get(0)?;
        let tags = sqlx::query("SELECT tag FROM tags WHERE manifest_id = $1 ORDER BY tag")
            .bind(image_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| ImageTag::parse(&r.try_get::<String, _>(0)?).map_err(|_| bad("tag")))
            .collect::<Result<Vec<_>>>()?;
        sqlx::query("DELETE FROM tags WHERE manifest_id = $1")
            .bind(image_id)
            .execute(&mut *tx)
            .await?;
        remove_image(&mut tx, repository, image_id, image_digest.as_str()).await?;
        tx.commit().await?;
        Ok(Some(Deleted {
            digest: image_digest.clone(),
            tags,
        }))
    }
}

/// The `AND ...` conditions that keep only the images `filter` selects, for the
/// manifests aliased `m`. Status names are literals of the domain's own.
fn filter_sql(filter: ImageFilter, m: &str) -> String {
    let tags = match filter.tags {
        TagStatus::Any => String::new(),
        TagStatus::Tagged => {
            format!("AND EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = {m}.id)")
        }
        TagStatus::Untagged => {
            format!("AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = {m}.id)")
        }
    };
    match filter.status {
        Some(status) => format!("{tags} AND {m}.status = '{}'", status.as_str()),
        None => tags,
    }
}

/// What `Store::put_image` was given.
#[derive(Clone, Copy)]
struct Push<'a> {
    repository: Key<Repository>,
    new: &'a NewImage,
    tag: Option<&'a TagWrite>,
    work: Queued<'a>,
    now: chrono::DateTime<chrono::Utc>,
}

/// `Store::put_image`'s transaction, on whichever connection runs it.
async fn put(tx: &mut impl Statements, locks: Locks, push: Push<'_>) -> Result<Stored<Image>> {
    let Push {
        repository,
        new,
        tag,
        work,
        now,
    } = push;
    let blob_digests: Vec<Digest> = new.blobs.iter().map(|d| d.digest.clone()).collect();
    // Only presence matters for blobs; the image's size comes from the manifest.
    // The links are read FOR SHARE: garbage collection drops a link only after
    // locking it and then finding no manifest that references it, so it waits for
    // this transaction and sees its references, or drops the link first and this
    // read does not find it.
    let blobs = present(
        tx,
        "repository_blobs",
        None,
        locks.share,
        repository,
        &blob_digests,
    )
    .await?;
    let absent = missing(&blob_digests, &blobs.keys().cloned().collect());
    if !absent.is_empty() && new.presence == Presence::Required {
        return Err(Error::MissingBlobs(absent));
    }
    let children = present(
        tx,
        "manifests",
        Some("image_size"),
        "",
        repository,
        &new.children,
    )
    .await?;
    let absent = missing(&new.children, &children.keys().cloned().collect());
    if !absent.is_empty() && new.presence == Presence::Required {
        return Err(Error::MissingImages(absent));
    }
    if new.presence == Presence::Deferred {
        tx.execute(
            "UPDATE repositories SET pull_through = 1 WHERE id = $1 AND pull_through = 0",
            &args![repository.id()],
        )
        .await?;
    }
    let size = new
        .size
        .unwrap_or_else(|| children.values().copied().max().unwrap_or(0));

    // An existing manifest row is locked, so a concurrent delete of the image
    // waits for this transaction (and then sees its tag) instead of removing the
    // image under it. When a delete won the row meanwhile, insert it again.
    let mut found = None;
    for _ in 0..3 {
        let inserted = tx
            .row(
                &format!(
                    "INSERT INTO manifests {MANIFEST_ROW} VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (repository_id, digest) DO NOTHING RETURNING {COLUMNS}"
                ),
                &manifest_row(repository, new, size, now),
            )
            .await?;
        if let Some(row) = inserted {
            found = Some((image(&row)?, true));
            break;
        }
        let existing = tx
            .row(
                &format!(
                    "SELECT {COLUMNS} FROM manifests WHERE repository_id = $1 AND digest = $2{}",
                    locks.update
                ),
                &args![repository.id(), new.digest.as_str()],
            )
            .await?;
        if let Some(row) = existing {
            found = Some((image(&row)?, false));
            break;
        }
    }
    let (mut image, created) = found.ok_or(Error::Database(sqlx::Error::RowNotFound))?;
    // Whether the push changes anything beyond the tag: a new image, or an
    // archived one restored (a push of an archived image restores it at once).
    let mut changed = created;
    if created {
        insert_references(tx, image.key.id(), new).await?;
    } else if image.record.status != ImageStatus::Active {
        image = set_status(tx, image.key, ImageStatus::Active, now).await?;
        changed = true;
    }

    match tag {
        Some(TagWrite {
            tag,
            immutable: true,
        }) => {
            // Plain insert: the primary key refuses an existing tag, whichever
            // racing transaction commits first. Restoring an archived image
            // that already carries the tag leaves the tag as it is.
            let held = tx
                .row(
                    "SELECT 1 FROM tags WHERE repository_id = $1 AND tag = $2 AND manifest_id = $3",
                    &args![repository.id(), tag.as_str(), image.key.id()],
                )
                .await?
                .is_some();
            if !(held && changed) {
                tx.execute(
                    "INSERT INTO tags (repository_id, tag, manifest_id, updated_at) VALUES ($1, $2, $3, $4)",
                    &args![repository.id(), tag.as_str(), image.key.id(), millis(now)],
                )
                .await
                .map_err(|e| on_unique(e, Error::TagAlreadyExists))?;
            }
        }
        Some(TagWrite {
            tag,
            immutable: false,
        }) => {
            // One statement moves or creates the tag; when it already names this
            // image the update's WHERE leaves it alone and nothing is returned.
            let placed = tx
                .row(
                    "INSERT INTO tags (repository_id, tag, manifest_id, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (repository_id, tag) DO UPDATE SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at \
                     WHERE tags.manifest_id <> excluded.manifest_id RETURNING manifest_id",
                    &args![repository.id(), tag.as_str(), image.key.id(), millis(now)],
                )
                .await?;
            if placed.is_none() && !changed {
                return Err(Error::ImageAlreadyExists);
            }
        }
        None if !changed => return Err(Error::ImageAlreadyExists),
        None => {}
    }
    let tag = tag.map(|t| &t.tag);
    if let (Presence::Deferred, Some(tag)) = (new.presence, tag) {
        mark_checked(tx, repository, tag, now).await?;
    }
    // The push changed something: its copies and signatures are queued with it, or
    // not at all.
    super::replication::queue(tx, repository, &new.digest, tag, work.replicate_to, now).await?;
    super::signing::queue(tx, repository, &new.digest, work.sign_with, now).await?;
    if created {
        super::scanning::queue(tx, image.key, work.scan, now).await?;
    }
    Ok(image)
}

/// The columns of a new manifest row, as `manifest_row` binds them to `$1`..`$8`.
const MANIFEST_ROW: &str =
    "(repository_id, digest, media_type, artifact_type, subject_digest, body, image_size, pushed_at)";

fn manifest_row<'a>(
    repository: Key<Repository>,
    new: &'a NewImage,
    size: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> [Arg<'a>; 8] {
    args![
        repository.id(),
        new.digest.as_str(),
        new.media_type.as_str(),
        new.artifact_type.as_deref(),
        new.subject.as_ref().map(Digest::as_str),
        new.body.as_slice(),
        size,
        millis(now),
    ]
}

/// The most references (blobs and children) `put_new` takes: its statement binds up to
/// three values for each.
const PUT_NEW_MOST_REFERENCES: usize = 300;

/// Postgres: the usual push (a new image or index whose blobs and children are all here,
/// with a tag or none, nothing to queue) in one statement that is its own transaction:
/// one round trip where `put` takes six (BEGIN, the blobs, the manifest, its references,
/// the tag, COMMIT). It locks the blobs as `put` does and inserts the manifest only when
/// it found every blob and child; an immutable tag that exists fails it whole
/// (`TagAlreadyExists`). `None` when the push is not of that kind or the statement
/// changed nothing (a reference missing, the manifest already here): `put` then decides,
/// and words any error.
async fn put_new(
    conn: &mut sqlx::AnyConnection,
    locks: Locks,
    push: Push<'_>,
) -> Result<Option<Stored<Image>>> {
    let Push { new, tag, work, .. } = push;
    let usual = new.presence == Presence::Required
        && new.blobs.len() + new.children.len() <= PUT_NEW_MOST_REFERENCES
        && work.replicate_to.is_empty()
        && work.sign_with.is_empty()
        && work.scan.is_none();
    if !usual {
        return Ok(None);
    }
    let mut args = manifest_row(push.repository, new, new.size.unwrap_or(0), push.now).to_vec();
    args.push(Arg::from(tag.map(|t| t.tag.as_str())));
    let mut parts = Vec::new();
    let mut all_found = vec!["TRUE".to_owned()];
    let blobs = distinct(new.blobs.iter().map(|b| b.digest.as_str()));
    if !blobs.is_empty() {
        parts.push(format!(
            "blobs AS (SELECT digest FROM repository_blobs WHERE repository_id = $1 AND digest IN ({}){})",
            placeholders(args.len() + 1, blobs.len()),
            locks.share
        ));
        all_found.push(format!("(SELECT count(*) FROM blobs) = {}", blobs.len()));
        args.extend(blobs.iter().map(|&d| Arg::from(d)));
    }
    let children = distinct(new.children.iter().map(Digest::as_str));
    // An index's size is its largest child's, as `put` takes it.
    let mut size = "$7";
    if !children.is_empty() {
        parts.push(format!(
            "children AS (SELECT image_size FROM manifests WHERE repository_id = $1 AND digest IN ({}))",
            placeholders(args.len() + 1, children.len())
        ));
        all_found.push(format!(
            "(SELECT count(*) FROM children) = {}",
            children.len()
        ));
        args.extend(children.iter().map(|&d| Arg::from(d)));
        if new.size.is_none() {
            size = "(SELECT COALESCE(MAX(image_size), 0) FROM children)";
        }
    }
    parts.push(format!(
        "inserted AS (INSERT INTO manifests {MANIFEST_ROW} SELECT $1, $2, $3, $4, $5, $6, {size}, $8 \
         WHERE {} ON CONFLICT (repository_id, digest) DO NOTHING RETURNING {COLUMNS})",
        all_found.join(" AND ")
    ));
    let mut references = Vec::new();
    for blob in &new.blobs {
        references.push(format!("(${}, 0, ${})", args.len() + 1, args.len() + 2));
        args.extend([
            Arg::from(blob.digest.as_str()),
            Arg::from(reference_media_type(blob)),
        ]);
    }
    for child in &new.children {
        references.push(format!("(${}, 1, NULL)", args.len() + 1));
        args.push(Arg::from(child.as_str()));
    }
    if !references.is_empty() {
        parts.push(format!(
            "refs AS (INSERT INTO manifest_references (manifest_id, child_digest, is_manifest, media_type) \
             SELECT i.id, r.digest, r.is_manifest, r.media_type FROM inserted i, \
             (VALUES {}) AS r (digest, is_manifest, media_type) ON CONFLICT DO NOTHING)",
            references.join(", ")
        ));
    }
    // A tag that may move moves; an immutable one may not exist yet at all: the primary
    // key refuses it, and the whole statement with it.
    let moves = if tag.is_some_and(|t| t.immutable) {
        ""
    } else {
        " ON CONFLICT (repository_id, tag) DO UPDATE SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at"
    };
    parts.push(format!(
        "tag AS (INSERT INTO tags (repository_id, tag, manifest_id, updated_at) \
         SELECT $1, $9, i.id, $8 FROM inserted i WHERE $9 IS NOT NULL{moves})"
    ));
    let sql = format!("WITH {} SELECT {COLUMNS} FROM inserted", parts.join(", "));
    let row = bound(&sql, &args)
        .fetch_optional(conn)
        .await
        .map_err(|e| on_unique(e, Error::TagAlreadyExists))?;
    row.as_ref().map(image).transpose()
}

/// The media type a manifest gives a blob, as its reference keeps it (none when empty).
fn reference_media_type(blob: &Descriptor) -> Option<&str> {
    Some(blob.media_type.as_str()).filter(|t| !t.is_empty())
}

/// The values once each, in byte order.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut all: Vec<&str> = values.collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Moves an image to `status`, stamping when it was archived or activated.
pub(super) async fn set_status(
    tx: &mut impl Statements,
    key: Key<Image>,
    status: ImageStatus,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Stored<Image>> {
    let stamp = match status {
        ImageStatus::Archived => "last_archived_at",
        ImageStatus::Active | ImageStatus::Activating => "last_activated_at",
    };
    let row = tx
        .row(
            &format!(
                "UPDATE manifests SET status = $1, {stamp} = $2 WHERE id = $3 RETURNING {COLUMNS}"
            ),
            &args![status.as_str(), millis(now), key.id()],
        )
        .await?
        .ok_or(Error::Database(sqlx::Error::RowNotFound))?;
    image(&row)
}

/// The manifest's references (blobs, then children), in as few statements as the
/// parameter limits allow rather than one per reference.
async fn mark_checked(
    tx: &mut impl Statements,
    repository: Key<Repository>,
    tag: &ImageTag,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    tx.execute(
        "UPDATE tags SET upstream_checked_at = $3 WHERE repository_id = $1 AND tag = $2",
        &args![repository.id(), tag.as_str(), millis(at)],
    )
    .await?;
    Ok(())
}

async fn insert_references(
    tx: &mut impl Statements,
    manifest_id: i64,
    new: &NewImage,
) -> Result<()> {
    let refs: Vec<(&Digest, i64, Option<&str>)> = new
        .blobs
        .iter()
        .map(|d| (&d.digest, 0_i64, reference_media_type(d)))
        .chain(new.children.iter().map(|d| (d, 1, None)))
        .collect();
    for chunk in refs.chunks(300) {
        let values = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${}, ${})", 3 * i + 2, 3 * i + 3, 3 * i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO manifest_references (manifest_id, child_digest, is_manifest, media_type) VALUES {values} \
             ON CONFLICT DO NOTHING"
        );
        let mut args = vec![Arg::from(manifest_id)];
        for (child, is_manifest, media_type) in chunk {
            args.extend([
                Arg::from(child.as_str()),
                Arg::from(*is_manifest),
                Arg::from(*media_type),
            ]);
        }
        tx.execute(&sql, &args).await?;
    }
    Ok(())
}

/// Whether an index in the repository lists the image.
async fn listed_by_index(
    tx: &mut Transaction<'_, Any>,
    repository: Key<Repository>,
    image_digest: &str,
) -> Result<bool> {
    let referenced = sqlx::query(
        "SELECT 1 FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id \
         WHERE r.child_digest = $1 AND r.is_manifest = 1 AND m.repository_id = $2 LIMIT 1",
    )
    .bind(image_digest)
    .bind(repository.id())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(referenced.is_some())
}

/// Deletes one manifest row and its references, refusing while an index in the same
/// repository lists it.
pub(super) async fn remove_image(
    tx: &mut Transaction<'_, Any>,
    repository: Key<Repository>,
    image_id: i64,
    image_digest: &str,
) -> Result<()> {
    if listed_by_index(tx, repository, image_digest).await? {
        return Err(Error::ReferencedByIndex);
    }
    sqlx::query("DELETE FROM manifest_references WHERE manifest_id = $1")
        .bind(image_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM manifests WHERE id = $1")
        .bind(image_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
