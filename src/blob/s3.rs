//! The blob store on S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...),
//! through the `object_store` crate.
//!
//! Keys under the bucket's prefix mirror the filesystem layout:
//! - `blobs/<algorithm>/<first two hex>/<hex>`: committed blobs, named by digest;
//! - `uploads/<upload id>/<part id>` (and `joined-<id>`): the parts of unfinished
//!   uploads.
//!
//! No layer is ever held in memory: a part streams into its object through a bounded
//! buffer (a single PUT when small, a multipart upload past `PART_BUFFER`), continuing
//! the upload's sha256; joining parts streams them into a new object the same way
//! (through a hasher only for another algorithm's digest); a blob is
//! placed by a server-side copy whose completion is conditional (`If-None-Match: *`),
//! so bytes under a digest are never replaced and of racing placers exactly one wins;
//! ranged reads are ranged GETs. An object is durable once S3 acknowledged it.

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, S3CopyIfNotExists};
use object_store::buffered::BufWriter;
use object_store::path::Path as Key;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;

use super::{Assembled, BlobReader, Location, PartBody, PartError, Shelf, Source};
use crate::domain::{Algorithm, Digest, Hasher, PartId, RunningSha256, UploadId, UploadPart};

/// Bytes a part or a join holds before it goes out: a body that ends within it is
/// one PUT, a longer one becomes a multipart upload in pieces of this size (S3's
/// minimum part is 5 MiB).
const PART_BUFFER: usize = 8 * 1024 * 1024;

/// Pieces of one multipart upload in flight at once: memory per writer stays at
/// about `(1 + PUT_CONCURRENCY) * PART_BUFFER`.
const PUT_CONCURRENCY: usize = 2;

/// A bucket and the key prefix berth's objects live under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or path segments without leading or trailing `/`.
    pub prefix: String,
}

/// How long a presigned blob URL holds: long enough to start a large download (S3
/// checks it when the GET starts), short enough not to outlive a deletion by much.
const PRESIGNED_FOR: std::time::Duration = std::time::Duration::from_secs(20 * 60);

#[derive(Debug, Clone)]
pub struct S3Store {
    pub(super) objects: Arc<dyn ObjectStore>,
    /// The same client, for presigning.
    s3: Arc<AmazonS3>,
    root: Key,
    /// Whether blob GETs are answered with presigned URLs.
    redirects: bool,
}

/// Assembled bytes as an object.
#[derive(Debug)]
pub(super) struct Assembly {
    key: Key,
    /// Joined from several parts: ours to remove; a single part stays the upload's.
    joined: bool,
}

/// A blob's bytes from `start`: fetched with a ranged GET when first polled.
pub(super) struct Reading {
    objects: Arc<dyn ObjectStore>,
    key: Key,
    start: u64,
}

impl S3Store {
    /// Connects to the bucket with the standard AWS settings from the environment
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...), and lists the
    /// prefix once, so an unreachable or unusable bucket fails at start-up.
    pub async fn open(location: &S3Location) -> io::Result<Self> {
        let environment = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::open_with(location, environment).await
    }

    /// `open` with these `AWS_*` settings in place of the environment's.
    pub async fn open_with(
        location: &S3Location,
        settings: impl IntoIterator<Item = (String, String)>,
    ) -> io::Result<Self> {
        let mut builder = AmazonS3Builder::new();
        for (name, value) in settings {
            let key = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>();
            if let (true, Ok(key)) = (name.starts_with("AWS_"), key) {
                builder = builder.with_config(key, value);
            }
        }
        let mut builder = builder
            .with_bucket_name(&location.bucket)
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
        // An endpoint given as http:// (MinIO, moto on loopback) is what the operator
        // asked for.
        let plain_http = [AmazonS3ConfigKey::Endpoint, AmazonS3ConfigKey::S3Endpoint]
            .into_iter()
            .filter_map(|key| builder.get_config_value(&key))
            .any(|endpoint| endpoint.starts_with("http://"));
        if plain_http {
            builder = builder.with_allow_http(true);
        }
        let s3 = Arc::new(builder.build().map_err(to_io)?);
        let store = Self {
            objects: Arc::clone(&s3) as Arc<dyn ObjectStore>,
            s3,
            root: Key::from(location.prefix.as_str()),
            redirects: false,
        };
        store
            .objects
            .list_with_delimiter(Some(&store.uploads_dir()))
            .await
            .map_err(to_io)?;
        Ok(store)
    }

    pub fn redirecting(self) -> Self {
        Self {
            redirects: true,
            ..self
        }
    }

    /// A presigned GET of the blob's object, when redirects are on.
    pub async fn redirect(&self, digest: &Digest) -> io::Result<Option<String>> {
        if !self.redirects {
            return Ok(None);
        }
        let url = self
            .s3
            .signed_url(reqwest::Method::GET, &self.blob_key(digest), PRESIGNED_FOR)
            .await
            .map_err(to_io)?;
        Ok(Some(url.to_string()))
    }

    pub(super) fn key(&self, relative: &str) -> Key {
        Key::from_iter(self.root.parts().chain(Key::from(relative).parts()))
    }

    fn blob_key(&self, digest: &Digest) -> Key {
        let hex = digest.hex();
        self.key(&format!(
            "blobs/{}/{}/{hex}",
            digest.algorithm().name(),
            &hex[..2]
        ))
    }

    fn shelf_dir(&self, shelf: &Shelf) -> Key {
        self.key(&format!(
            "blobs/{}/{}",
            shelf.algorithm.name(),
            shelf.prefix
        ))
    }

    fn uploads_dir(&self) -> Key {
        self.key("uploads")
    }

    fn upload_dir(&self, id: &UploadId) -> Key {
        self.uploads_dir().join(id.as_str())
    }

    fn part_key(&self, upload: &UploadId, part: &PartId) -> Key {
        self.upload_dir(upload).join(part.as_str())
    }

    /// An upload's parts, which need no lock: each is an object of its own.
    pub(super) fn hold(&self, upload: &UploadId) -> Held {
        Held {
            store: self.clone(),
            upload: upload.clone(),
        }
    }

    /// Streams `body` into a new object, continuing `sha256`; nothing remains on
    /// failure.
    async fn write_new<S, E>(
        &self,
        key: &Key,
        sha256: RunningSha256,
        mut body: S,
        expected: Option<u64>,
    ) -> Result<(u64, RunningSha256), PartError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut writer = self.writer(key);
        let streamed = async {
            let mut part = PartBody::new(sha256, expected);
            while let Some(chunk) = body.next().await {
                writer.put(part.next(chunk)?).await.map_err(to_io)?;
            }
            part.finish()
        }
        .await;
        let streamed = match streamed {
            Ok(done) => done,
            Err(e) => {
                abort(writer, key).await;
                return Err(e);
            }
        };
        if let Err(e) = writer.shutdown().await {
            self.delete(key).await?;
            return Err(e.into());
        }
        Ok(streamed)
    }

    fn writer(&self, key: &Key) -> BufWriter {
        BufWriter::with_capacity(Arc::clone(&self.objects), key.clone(), PART_BUFFER)
            .with_max_concurrency(PUT_CONCURRENCY)
    }

    async fn delete(&self, key: &Key) -> io::Result<()> {
        match self.objects.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(to_io(e)),
        }
    }

    /// `len` bytes of the object from `start` (fewer if it is shorter).
    async fn ranged(
        &self,
        key: &Key,
        start: u64,
        len: u64,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        get_range(&self.objects, key, start, len).await
    }

    /// Copies assembled bytes to their name unless a blob has it already; true when
    /// these bytes were copied. Server-side, so the bytes do not pass through berth
    /// again. A conditional copy moves every byte before it learns the name is taken,
    /// so a name that is (the bytes staged, or another upload's) is looked up first.
    /// The assembly stays among the upload's objects, for a second `place` after
    /// staging and for `discard_upload` once the blob is recorded (the upload sweep,
    /// after a crash).
    pub async fn place(&self, assembled: &Assembled) -> io::Result<bool> {
        let Location::S3(from) = &assembled.location else {
            return Err(io::Error::other("bytes assembled by another blob store"));
        };
        let to = self.blob_key(&assembled.digest);
        if self.exists(&to).await? {
            return Ok(false);
        }
        match self.objects.copy_if_not_exists(&from.key, &to).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(to_io(e)),
        }
    }

    async fn exists(&self, key: &Key) -> io::Result<bool> {
        match self.objects.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(to_io(e)),
        }
    }

    pub async fn abandon(&self, assembled: Assembled) -> io::Result<()> {
        match assembled.location {
            Location::S3(Assembly { key, joined: true }) => self.delete(&key).await,
            _ => Ok(()),
        }
    }

    pub async fn discard_upload(&self, id: &UploadId) -> io::Result<()> {
        let keys: Vec<Key> = self
            .objects
            .list(Some(&self.upload_dir(id)))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(to_io)?;
        for key in keys {
            self.delete(&key).await?;
        }
        Ok(())
    }

    pub async fn upload_ids(&self) -> io::Result<Vec<UploadId>> {
        let listed = self
            .objects
            .list_with_delimiter(Some(&self.uploads_dir()))
            .await
            .map_err(to_io)?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|dir| dir.filename().and_then(|n| UploadId::parse(n).ok()))
            .collect())
    }

    pub async fn read(&self, digest: &Digest) -> io::Result<BlobReader> {
        let key = self.blob_key(digest);
        let meta = self.objects.head(&key).await.map_err(to_io)?;
        Ok(BlobReader {
            source: Source::S3(Reading {
                objects: Arc::clone(&self.objects),
                key,
                start: 0,
            }),
            size: meta.size,
            remaining: meta.size,
        })
    }

    pub async fn shelves(&self) -> io::Result<Vec<Shelf>> {
        let mut found = Vec::new();
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.key(&format!("blobs/{}", algorithm.name()));
            let listed = self
                .objects
                .list_with_delimiter(Some(&dir))
                .await
                .map_err(to_io)?;
            for prefix in &listed.common_prefixes {
                match prefix.filename().and_then(|n| Shelf::new(algorithm, n)) {
                    Some(shelf) => found.push(shelf),
                    None => {
                        tracing::warn!(key = %prefix, "a prefix in the blob store is not a shelf")
                    }
                }
            }
        }
        Shelf::sort(&mut found);
        Ok(found)
    }

    pub async fn digests_on(&self, shelf: &Shelf) -> io::Result<Vec<Digest>> {
        let listed = self
            .objects
            .list_with_delimiter(Some(&self.shelf_dir(shelf)))
            .await
            .map_err(to_io)?;
        let mut found = Vec::new();
        for object in &listed.objects {
            let digest = object
                .location
                .filename()
                .and_then(|hex| Digest::parse(&format!("{}:{hex}", shelf.algorithm.name())).ok());
            match digest {
                Some(d) => found.push(d),
                None => {
                    tracing::warn!(key = %object.location, "an object in the blob store is not named by a digest")
                }
            }
        }
        found.sort();
        Ok(found)
    }

    pub async fn settled(
        &self,
        digest: &Digest,
        before: Option<SystemTime>,
    ) -> io::Result<Option<u64>> {
        let meta = match self.objects.head(&self.blob_key(digest)).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(to_io(e)),
        };
        let written = SystemTime::from(meta.last_modified);
        Ok(before
            .is_none_or(|before| written < before)
            .then_some(meta.size))
    }

    pub async fn remove_blob(
        &self,
        digest: &Digest,
        before: Option<SystemTime>,
    ) -> io::Result<Option<u64>> {
        let Some(size) = self.settled(digest, before).await? else {
            return Ok(None);
        };
        self.delete(&self.blob_key(digest)).await?;
        Ok(Some(size))
    }

    /// Puts and removes a small object beside the store's prefixes.
    pub async fn probe_write(&self) -> io::Result<()> {
        let key = self.key(&format!(".probe-{}", uuid::Uuid::new_v4().simple()));
        let written = self
            .objects
            .put(&key, PutPayload::from_static(&[0; 4096]))
            .await
            .map_err(to_io);
        let removed = self.delete(&key).await;
        written.and(removed)
    }
}

impl Reading {
    pub(super) fn seek(&mut self, start: u64) {
        self.start = start;
    }

    /// `remaining` bytes from `start`: one ranged GET, streamed as it arrives.
    pub(super) fn stream(self, remaining: u64) -> impl Stream<Item = io::Result<Bytes>> {
        let body = futures_util::stream::once(async move {
            if remaining == 0 {
                return Ok(futures_util::stream::empty().boxed());
            }
            get_range(&self.objects, &self.key, self.start, remaining).await
        })
        .try_flatten();
        // Counted, so a body shorter than the blob said ends in an error, as a short
        // file does.
        futures_util::stream::try_unfold(
            (Box::pin(body), remaining),
            |(mut body, remaining)| async move {
                match body.next().await {
                    Some(chunk) => {
                        let chunk = chunk?;
                        let take = usize::try_from(remaining).unwrap_or(usize::MAX);
                        let chunk = chunk.slice(..chunk.len().min(take));
                        let left = remaining - chunk.len() as u64;
                        Ok(Some((chunk, (body, left))))
                    }
                    None if remaining > 0 => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "blob shorter than recorded",
                    )),
                    None => Ok(None),
                }
            },
        )
    }
}

/// Drops what a writer that was never completed sent (a multipart upload's pieces).
/// An upload's parts in the bucket, as one request writes and completes them.
pub struct Held {
    store: S3Store,
    upload: UploadId,
}

impl Held {
    pub(super) async fn write_part<S, E>(
        &self,
        sha256: RunningSha256,
        body: S,
        expected: Option<u64>,
    ) -> Result<(UploadPart, RunningSha256), PartError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let id = PartId::new();
        let key = self.store.part_key(&self.upload, &id);
        let (size, sha256) = self.store.write_new(&key, sha256, body, expected).await?;
        Ok((UploadPart { id, size }, sha256))
    }

    pub(super) async fn remove_part(&self, part: &UploadPart) -> io::Result<()> {
        self.store
            .delete(&self.store.part_key(&self.upload, &part.id))
            .await
    }

    /// A single part as it is when its sha256 is wanted; otherwise the parts joined
    /// into a new object, hashed on the way only for another algorithm.
    pub(super) async fn assemble(
        &self,
        parts: &[UploadPart],
        sha256: &RunningSha256,
        algorithm: Algorithm,
    ) -> io::Result<Assembled> {
        let store = &self.store;
        if let ([part], Algorithm::Sha256) = (parts, algorithm) {
            let key = store.part_key(&self.upload, &part.id);
            let meta = store.objects.head(&key).await.map_err(to_io)?;
            if meta.size == part.size {
                return Ok(Assembled {
                    location: Location::S3(Assembly { key, joined: false }),
                    digest: sha256.digest(),
                    size: part.size,
                });
            }
        }
        let key = store
            .upload_dir(&self.upload)
            .join(format!("joined-{}", PartId::new()));
        let mut writer = store.writer(&key);
        let hasher = (algorithm != Algorithm::Sha256).then(|| Hasher::new(algorithm));
        let (size, hasher) = match self.join(parts, hasher, &mut writer).await {
            Ok(done) => done,
            Err(e) => {
                abort(writer, &key).await;
                return Err(e);
            }
        };
        if let Err(e) = writer.shutdown().await {
            store.delete(&key).await?;
            return Err(e);
        }
        Ok(Assembled {
            location: Location::S3(Assembly { key, joined: true }),
            digest: hasher.map_or_else(|| sha256.digest(), Hasher::finish),
            size,
        })
    }

    async fn join(
        &self,
        parts: &[UploadPart],
        mut hasher: Option<Hasher>,
        to: &mut BufWriter,
    ) -> io::Result<(u64, Option<Hasher>)> {
        let store = &self.store;
        let mut size = 0;
        for part in parts {
            let key = store.part_key(&self.upload, &part.id);
            if part.size == 0 {
                store.objects.head(&key).await.map_err(to_io)?;
                continue;
            }
            let mut bytes = store.ranged(&key, 0, part.size).await?;
            let mut copied = 0;
            while let Some(chunk) = bytes.next().await {
                let chunk = chunk?;
                if let Some(h) = hasher.as_mut() {
                    h.update(&chunk);
                }
                copied += chunk.len() as u64;
                to.put(chunk).await.map_err(to_io)?;
            }
            if copied != part.size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("upload part {} is shorter than recorded", part.id),
                ));
            }
            size += copied;
        }
        Ok((size, hasher))
    }
}

async fn abort(mut writer: BufWriter, key: &Key) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(error = %e, key = %key, "could not abort a multipart upload");
    }
}

async fn get_range(
    objects: &Arc<dyn ObjectStore>,
    key: &Key,
    start: u64,
    len: u64,
) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
    let options = GetOptions {
        range: Some(GetRange::Bounded(start..start + len)),
        ..GetOptions::default()
    };
    let got = objects.get_opts(key, options).await.map_err(to_io)?;
    Ok(got.into_stream().map_err(to_io).boxed())
}

impl From<object_store::Error> for PartError {
    fn from(e: object_store::Error) -> Self {
        PartError::Io(to_io(e))
    }
}

/// An object store's error as the `io::Error` the blob store speaks: a missing
/// object is `NotFound`, an existing one `AlreadyExists`.
pub(super) fn to_io(e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}
