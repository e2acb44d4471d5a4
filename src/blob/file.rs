//! The blob store on the local filesystem.
//!
//! Layout under the root:
//! - `blobs/<algorithm>/<first two hex>/<hex>`: committed blobs, named by digest;
//! - `uploads/<upload id>/<part id>`: the parts of unfinished uploads.
//!
//! No two requests ever write the same file: each part is a new file created by the
//! request that received it, synced before the metadata store records it, and never
//! written again. A blob is placed by linking a file to its name, which fails when
//! the name exists: bytes under a digest are never replaced.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use super::{Assembled, BlobReader, Location, PartBody, PartError, Shelf, Source, CHUNK};
use crate::domain::{Algorithm, Digest, Hasher, PartId, UploadId, UploadPart};

/// The most one sendfile call is asked to move: a bound on how long a read from disk
/// holds the thread.
const SEND: usize = 4 * CHUNK;

#[derive(Debug, Clone)]
pub struct FileStore {
    pub(super) root: PathBuf,
}

/// Assembled bytes as a file.
#[derive(Debug)]
pub(super) struct Assembly {
    path: PathBuf,
    /// A file joined from several parts, which is ours to remove; a single part is
    /// the upload's and stays with it.
    joined: bool,
}

impl FileStore {
    pub async fn open(root: &Path) -> io::Result<Self> {
        for dir in ["blobs/sha256", "blobs/sha512", "uploads"] {
            fs::create_dir_all(root.join(dir)).await?;
        }
        let store = Self {
            root: root.to_owned(),
        };
        store.remove_legacy_uploads().await?;
        Ok(store)
    }

    /// Before parts, an upload was one file directly under `uploads/`; migration 0003
    /// dropped those uploads, so their files go.
    async fn remove_legacy_uploads(&self) -> io::Result<()> {
        let mut dir = fs::read_dir(self.root.join("uploads")).await?;
        while let Some(entry) = dir.next_entry().await? {
            let legacy = entry.file_type().await?.is_file()
                && entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| UploadId::parse(n).is_ok());
            if legacy {
                remove_if_present(&entry.path()).await?;
            }
        }
        Ok(())
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        // `Digest` is validated hex, so these components cannot escape the root.
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(&hex[..2])
            .join(hex)
    }

    fn shelf_path(&self, shelf: &Shelf) -> PathBuf {
        self.root
            .join("blobs")
            .join(shelf.algorithm.name())
            .join(&shelf.prefix)
    }

    fn upload_dir(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.as_str())
    }

    fn part_path(&self, upload: &UploadId, part: &PartId) -> PathBuf {
        self.upload_dir(upload).join(part.as_str())
    }

    /// Streams `body` into a new part of the upload, hashing it as it is written, and
    /// syncs it. With `expected`, a body of any other length is refused. On failure
    /// the part's file is removed.
    pub async fn write_part<S, E>(
        &self,
        upload: &UploadId,
        body: S,
        expected: Option<u64>,
    ) -> Result<UploadPart, PartError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let dir = self.upload_dir(upload);
        ensure_dir(&dir).await?;
        let id = PartId::new();
        let path = dir.join(id.as_str());
        let written = write_new(&path, body, expected).await;
        if written.is_err() {
            remove_if_present(&path).await?;
        }
        let (size, sha256) = written?;
        // The part's name must survive a crash as its bytes do.
        sync_dir(&dir).await?;
        Ok(UploadPart { id, size, sha256 })
    }

    /// Removes a part that was written but not recorded.
    pub async fn remove_part(&self, upload: &UploadId, part: &PartId) -> io::Result<()> {
        remove_if_present(&self.part_path(upload, part)).await
    }

    /// The upload's `parts`, in order, as one file whose `algorithm` digest is known.
    /// A single sha256 part is taken as it is; otherwise the parts are copied into a
    /// new file, hashing the bytes read. A missing part is `NotFound`.
    pub async fn assemble(
        &self,
        upload: &UploadId,
        parts: &[UploadPart],
        algorithm: Algorithm,
    ) -> io::Result<Assembled> {
        if let [part] = parts {
            let path = self.part_path(upload, &part.id);
            if algorithm == Algorithm::Sha256 && fs::metadata(&path).await?.len() == part.size {
                return Ok(Assembled {
                    location: Location::File(Assembly {
                        path,
                        joined: false,
                    }),
                    digest: part.sha256.clone(),
                    size: part.size,
                });
            }
        }
        let dir = self.upload_dir(upload);
        ensure_dir(&dir).await?;
        let path = dir.join(format!("joined-{}", PartId::new()));
        let joined = self.join(upload, parts, algorithm, &path).await;
        if joined.is_err() {
            remove_if_present(&path).await?;
        }
        let (size, digest) = joined?;
        Ok(Assembled {
            location: Location::File(Assembly { path, joined: true }),
            digest,
            size,
        })
    }

    async fn join(
        &self,
        upload: &UploadId,
        parts: &[UploadPart],
        algorithm: Algorithm,
        to: &Path,
    ) -> io::Result<(u64, Digest)> {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(to)
            .await?;
        let mut hasher = Hasher::new(algorithm);
        let mut buf = vec![0; CHUNK];
        let mut size = 0;
        for part in parts {
            let file = File::open(self.part_path(upload, &part.id)).await?;
            let mut reader = file.take(part.size);
            let mut copied = 0;
            loop {
                let n = reader.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).await?;
                copied += n as u64;
            }
            if copied != part.size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("upload part {} is shorter than recorded", part.id),
                ));
            }
            size += copied;
        }
        // Flush first: a buffered write's error would otherwise be lost.
        out.flush().await?;
        out.sync_all().await?;
        Ok((size, hasher.finish()))
    }

    /// Places assembled bytes under their digest unless a blob already has it, in
    /// which case the blob is kept as it is. True when these bytes were placed.
    pub async fn place(&self, assembled: Assembled) -> io::Result<bool> {
        let Location::File(from) = &assembled.location else {
            return Err(io::Error::other("bytes assembled by another blob store"));
        };
        let to = self.blob_path(&assembled.digest);
        let dir = to
            .parent()
            .ok_or_else(|| io::Error::other("blob path has no parent"))?;
        ensure_dir(dir).await?;
        // A link fails when the name exists: never a replacement.
        let placed = match fs::hard_link(&from.path, &to).await {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(e),
        };
        if placed {
            sync_dir(dir).await?;
        }
        self.abandon(assembled).await?;
        Ok(placed)
    }

    /// Drops assembled bytes that will not be placed.
    pub async fn abandon(&self, assembled: Assembled) -> io::Result<()> {
        if let Location::File(Assembly { path, joined: true }) = assembled.location {
            remove_if_present(&path).await?;
        }
        Ok(())
    }

    /// Removes everything an upload wrote.
    pub async fn discard_upload(&self, id: &UploadId) -> io::Result<()> {
        match fs::remove_dir_all(self.upload_dir(id)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Ids of the uploads that have bytes on disk.
    pub async fn upload_ids(&self) -> io::Result<Vec<UploadId>> {
        let mut ids = Vec::new();
        let mut dir = fs::read_dir(self.root.join("uploads")).await?;
        while let Some(entry) = dir.next_entry().await? {
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| UploadId::parse(n).ok())
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    pub async fn read(&self, digest: &Digest) -> io::Result<BlobReader> {
        let file = File::open(self.blob_path(digest)).await?;
        let size = file.metadata().await?.len();
        Ok(BlobReader {
            source: Source::File(file),
            size,
            remaining: size,
        })
    }

    /// The directories blob files sit in (one per algorithm and leading hex pair).
    pub async fn shelves(&self) -> io::Result<Vec<Shelf>> {
        let mut found = Vec::new();
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let mut prefixes = fs::read_dir(self.root.join("blobs").join(algorithm.name())).await?;
            while let Some(prefix) = prefixes.next_entry().await? {
                let shelf = prefix
                    .file_name()
                    .to_str()
                    .and_then(|name| Shelf::new(algorithm, name));
                match shelf {
                    Some(shelf) if prefix.file_type().await?.is_dir() => found.push(shelf),
                    _ => {
                        tracing::warn!(path = %prefix.path().display(), "an entry in the blob store is not a shelf")
                    }
                }
            }
        }
        Shelf::sort(&mut found);
        Ok(found)
    }

    /// The digests of the blob files on one shelf.
    pub async fn digests_on(&self, shelf: &Shelf) -> io::Result<Vec<Digest>> {
        let mut found = Vec::new();
        let mut files = match fs::read_dir(self.shelf_path(shelf)).await {
            Ok(files) => files,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e),
        };
        while let Some(file) = files.next_entry().await? {
            let name = file.file_name();
            let digest = name.to_str().and_then(|hex| shelf.digest_named(hex));
            match digest {
                Some(d) => found.push(d),
                None => {
                    tracing::warn!(path = %file.path().display(), "a file in the blob store is not named by a digest")
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// The blob file's size, if it exists and its inode last changed (it was written
    /// or linked) before `before`; any existing file without `before`.
    pub async fn settled(
        &self,
        digest: &Digest,
        before: Option<SystemTime>,
    ) -> io::Result<Option<u64>> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = match fs::symlink_metadata(self.blob_path(digest)).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let changed = SystemTime::UNIX_EPOCH
            + std::time::Duration::new(
                u64::try_from(meta.ctime()).unwrap_or(0),
                u32::try_from(meta.ctime_nsec()).unwrap_or(0),
            );
        Ok(before
            .is_none_or(|before| changed < before)
            .then_some(meta.len()))
    }

    /// Removes the blob's file if `settled` says so; its size when it did. The caller
    /// holds the blob's lock in the store and has seen that no row names the blob.
    pub async fn remove_blob(
        &self,
        digest: &Digest,
        before: Option<SystemTime>,
    ) -> io::Result<Option<u64>> {
        let Some(size) = self.settled(digest, before).await? else {
            return Ok(None);
        };
        let path = self.blob_path(digest);
        remove_if_present(&path).await?;
        if let Some(dir) = path.parent() {
            sync_dir(dir).await?;
        }
        Ok(Some(size))
    }
}

/// Writes `body` to a file that must not exist yet; returns its size and sha256.
async fn write_new<S, E>(
    path: &Path,
    mut body: S,
    expected: Option<u64>,
) -> Result<(u64, Digest), PartError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await?;
    let mut part = PartBody::new(expected);
    while let Some(chunk) = body.next().await {
        file.write_all(&part.next(chunk)?).await?;
    }
    let measured = part.finish()?;
    // Flush first: tokio reports a write's error at the next operation, and
    // `sync_data` alone would lose the last one (a full disk answered as success).
    file.flush().await?;
    file.sync_data().await?;
    Ok(measured)
}

/// Moves a reader to `start`.
pub(super) async fn seek(file: &mut File, start: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(start)).await.map(|_| ())
}

/// `remaining` bytes of the file from where it stands, a chunk at a time.
pub(super) fn stream(file: File, remaining: u64) -> impl Stream<Item = io::Result<Bytes>> {
    futures_util::stream::try_unfold((file, remaining), |(mut file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(remaining).unwrap_or(CHUNK).min(CHUNK);
        let mut buf = vec![0; want];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob shorter than recorded",
            ));
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), (file, remaining - n as u64))))
    })
}

/// `remaining` bytes of the file from where it stands, sent to `socket` by sendfile:
/// the kernel moves them from the page cache, and a socket that is full is waited for
/// like any other write. A read from disk blocks the calling thread, as a `read` would.
pub(super) async fn send(mut file: File, remaining: u64, socket: &TcpStream) -> io::Result<()> {
    let mut offset = file.stream_position().await?;
    let end = offset + remaining;
    while offset < end {
        let want = usize::try_from(end - offset).unwrap_or(SEND).min(SEND);
        let sent = socket
            .async_io(Interest::WRITABLE, || {
                Ok(rustix::fs::sendfile(
                    socket,
                    &file,
                    Some(&mut offset),
                    want,
                )?)
            })
            .await?;
        if sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob shorter than recorded",
            ));
        }
    }
    Ok(())
}

/// Creates `dir` if it is missing, syncing its parent so the new entry survives a
/// crash.
async fn ensure_dir(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir).await {
        Ok(()) => match dir.parent() {
            Some(parent) => sync_dir(parent).await,
            None => Ok(()),
        },
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).await?.sync_all().await
}

async fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn legacy_upload_files_are_removed_at_open() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        fs::create_dir_all(dir.path().join("uploads")).await?;
        let legacy = dir.path().join("uploads").join(UploadId::new().as_str());
        fs::write(&legacy, b"old").await?;
        FileStore::open(dir.path()).await?;
        assert!(!legacy.exists());
        Ok(())
    }
}
