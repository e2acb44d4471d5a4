//! The blob store on the local filesystem.
//!
//! Layout under the root:
//! - `blobs/<algorithm>/<first two hex>/<hex>`: committed blobs, named by digest;
//! - `uploads/<upload id>/data`: an unfinished upload's bytes, one file that each part
//!   extends.
//!
//! Only the request holding an upload's file (an exclusive `flock`, `hold`) writes it,
//! and only past the bytes the metadata store records for the upload, which the
//! holder reads after taking the lock: recorded bytes are never written again, and a
//! failed part's tail is cut before the next part. A part is synced before it is
//! recorded. A completion, holding the file, moves it to the blob's name with a
//! rename that fails when the name exists: bytes under a digest are never replaced,
//! and a request that locks the file afterwards finds it gone from the upload's name
//! and writes nothing.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use rustix::fs::FlockOperation;
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use super::{Assembled, BlobReader, Location, PartBody, PartError, Shelf, Source, CHUNK};
use crate::domain::{Algorithm, Digest, Hasher, PartId, RunningSha256, UploadId, UploadPart};

/// The most one sendfile call is asked to move: a bound on how long a read from disk
/// holds the thread.
const SEND: usize = 4 * CHUNK;

#[derive(Debug, Clone)]
pub struct FileStore {
    pub(super) root: PathBuf,
}

/// How long a request waits for another's hold on an upload's file before it is
/// refused: long enough for a child this process forks to exec (until then it shares
/// the lock), short beside a request that holds the file to write a part.
const HOLD_WAIT: Duration = Duration::from_millis(250);

/// The name of an upload's file in its area.
const UPLOAD_FILE: &str = "data";

/// Assembled bytes: the upload's file, still its own until placed.
#[derive(Debug)]
pub(super) struct Assembly {
    path: PathBuf,
}

/// An upload's file, locked (`flock`) by the request that holds this: only the holder
/// writes it, completes it or moves it to a blob's name, and a process that dies lets
/// go of it with its descriptors.
pub struct Held {
    file: File,
    path: PathBuf,
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

    /// Makes the new upload's area and its empty file.
    pub async fn create_upload(&self, id: &UploadId) -> io::Result<()> {
        let dir = self.upload_dir(id);
        ensure_dir(&dir).await?;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(UPLOAD_FILE))
            .await?;
        // The file must survive a crash as the upload's row does.
        sync_dir(&dir).await
    }

    /// Locks the upload's file for this request; None when another request holds it
    /// past `HOLD_WAIT`. `NotFound` when the upload has no file, or its file was moved
    /// to a blob's name (completed) before this request could lock it.
    pub async fn hold(&self, id: &UploadId) -> io::Result<Option<Held>> {
        use std::os::unix::fs::MetadataExt as _;
        let path = self.upload_dir(id).join(UPLOAD_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await?;
        let deadline = tokio::time::Instant::now() + HOLD_WAIT;
        let mut pause = Duration::from_millis(1);
        loop {
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        // Opened before a completion moved the file and locked after it let go: the
        // file is a blob now, which nobody may write.
        let (locked, named) = (file.metadata().await?, fs::metadata(&path).await?);
        if (locked.dev(), locked.ino()) != (named.dev(), named.ino()) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the upload was completed",
            ));
        }
        Ok(Some(Held { file, path }))
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
        let placed = move_unless_named(from.path.clone(), to.clone()).await?;
        if placed {
            sync_dir(dir).await?;
        }
        Ok(placed)
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

impl Held {
    /// Streams `body` into the file from `start` (the bytes the upload holds),
    /// continuing `sha256`, and syncs it. A tail past `start` is a failed part's and
    /// goes first. On failure the file is cut back to `start`.
    pub(super) async fn write_part<S, E>(
        &mut self,
        start: u64,
        sha256: RunningSha256,
        mut body: S,
        expected: Option<u64>,
    ) -> Result<(UploadPart, RunningSha256), PartError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let len = self.file.metadata().await?.len();
        if len < start {
            return Err(lost().into());
        }
        if len > start {
            self.file.set_len(start).await?;
        }
        self.file.seek(SeekFrom::Start(start)).await?;
        let written = async {
            let mut part = PartBody::new(sha256, expected);
            while let Some(chunk) = body.next().await {
                self.file.write_all(&part.next(chunk)?).await?;
            }
            let measured = part.finish()?;
            // Flush first: tokio reports a write's error at the next operation, and
            // `sync_data` alone would lose the last one (a full disk answered as
            // success).
            self.file.flush().await?;
            self.file.sync_data().await?;
            Ok(measured)
        }
        .await;
        match written {
            Ok((size, sha256)) => Ok((
                UploadPart {
                    id: PartId::new(),
                    size,
                },
                sha256,
            )),
            Err(e) => {
                self.cut(start).await?;
                Err(e)
            }
        }
    }

    /// Cuts the file back to `start`, dropping a part written past it.
    pub(super) async fn cut(&mut self, start: u64) -> io::Result<()> {
        // Whatever was pending fails here rather than after the cut.
        let _ = self.file.flush().await;
        self.file.set_len(start).await
    }

    /// The file as the upload's `size` bytes, ready to be placed under their
    /// `algorithm` digest: sha256's is `sha256`'s; another is read from the file.
    pub(super) async fn assemble(
        &mut self,
        size: u64,
        sha256: &RunningSha256,
        algorithm: Algorithm,
    ) -> io::Result<Assembled> {
        let len = self.file.metadata().await?.len();
        if len < size {
            return Err(lost());
        }
        if len > size {
            self.file.set_len(size).await?;
            self.file.sync_all().await?;
        }
        let digest = match algorithm {
            Algorithm::Sha256 => sha256.digest(),
            other => {
                self.file.seek(SeekFrom::Start(0)).await?;
                let mut hasher = Hasher::new(other);
                let mut reader = (&mut self.file).take(size);
                let mut buf = vec![0; CHUNK];
                loop {
                    let n = reader.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
                hasher.finish()
            }
        };
        Ok(Assembled {
            location: Location::File(Assembly {
                path: self.path.clone(),
            }),
            digest,
            size,
        })
    }
}

/// An upload's file shorter than the bytes recorded for it: its bytes are gone.
fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "the upload's file is shorter than its recorded bytes",
    )
}

/// Moves `from` to the name `to` unless `to` exists; true when moved. Without
/// `RENAME_NOREPLACE` (file systems such as NFS), a link then an unlink.
async fn move_unless_named(from: PathBuf, to: PathBuf) -> io::Result<bool> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    tokio::task::spawn_blocking(move || {
        match renameat_with(CWD, &from, CWD, &to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(true),
            Err(rustix::io::Errno::EXIST) => return Ok(false),
            Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(e.into()),
        }
        match std::fs::hard_link(&from, &to) {
            Ok(()) => std::fs::remove_file(&from).map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await
    .map_err(io::Error::other)?
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
