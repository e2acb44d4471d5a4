//! The blob-store suite: every behaviour the service relies on, run against each
//! implementation (as distribution's storage-driver suite is), through the public
//! `BlobStore` interface only. `files` lists what an implementation really holds, so a
//! case can prove a failure left nothing behind.

use std::io;
use std::time::{Duration, SystemTime};

use berth::blob::{Assembled, BlobStore, HeldUpload, PartError, S3Location, S3Store};
use berth::domain::{Algorithm, Digest, Hasher, RunningSha256, UploadId, UploadPart};
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};

use crate::fixtures::moto::Moto;

/// One implementation under test, with what keeps it alive.
pub struct Subject {
    pub store: BlobStore,
    backing: Backing,
}

enum Backing {
    Dir(tempfile::TempDir),
    Bucket {
        moto: Box<Moto>,
        bucket: String,
        prefix: String,
    },
}

impl Subject {
    pub async fn file() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlobStore::open_dir(dir.path()).await.expect("open");
        Self {
            store,
            backing: Backing::Dir(dir),
        }
    }

    /// A fresh bucket on moto, under a prefix.
    pub async fn s3() -> Self {
        let moto = Moto::start().await;
        let bucket = moto.bucket().await;
        let location = S3Location {
            bucket: bucket.clone(),
            prefix: "registry/blobs".into(),
        };
        let store = S3Store::open_with(&location, moto.settings())
            .await
            .expect("open");
        Self {
            store: BlobStore::S3(store),
            backing: Backing::Bucket {
                moto: Box::new(moto),
                bucket,
                prefix: location.prefix,
            },
        }
    }

    /// Every file or object the store holds, by its path under the store's root.
    async fn files(&self) -> Vec<String> {
        match &self.backing {
            Backing::Dir(dir) => {
                let mut found = Vec::new();
                let mut todo = vec![dir.path().to_owned()];
                while let Some(at) = todo.pop() {
                    for entry in std::fs::read_dir(&at).expect("read dir") {
                        let path = entry.expect("entry").path();
                        if path.is_dir() {
                            todo.push(path);
                        } else if path.file_name().and_then(|n| n.to_str()) != Some("berth.db") {
                            let rel = path.strip_prefix(dir.path()).expect("under root");
                            found.push(rel.display().to_string());
                        }
                    }
                }
                found.sort();
                found
            }
            Backing::Bucket {
                moto,
                bucket,
                prefix,
            } => moto.keys(bucket, prefix).await,
        }
    }
}

/// Runs each named `async fn(Subject)` against every blob store.
macro_rules! every_blob_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn file() {
                super::$name(super::Subject::file().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3() {
                super::$name(super::Subject::s3().await).await
            }
        }
    )*};
}

every_blob_store!(
    parts_continue_the_uploads_sha256,
    a_broken_or_mismeasured_part_leaves_nothing,
    parts_assemble_into_one_blob,
    another_algorithms_digest_is_read_from_the_bytes,
    an_upload_is_held_by_one_request_at_a_time,
    place_never_replaces_bytes,
    staged_bytes_removed_before_placing_are_placed_again,
    racing_places_have_one_winner,
    ranged_reads,
    a_missing_blob_is_not_found,
    removal_respects_settling,
    listing_for_collection,
    discarding_an_upload_removes_its_bytes,
    rehash_reads_the_bytes_back,
    the_probe_leaves_nothing,
    the_identity_is_made_once,
);

fn body(chunks: &[&[u8]]) -> impl Stream<Item = io::Result<Bytes>> + Unpin {
    let chunks: Vec<io::Result<Bytes>> = chunks
        .iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(chunks)
}

/// An upload as the service keeps it: its parts and the sha256 of their bytes.
struct Writing {
    id: UploadId,
    parts: Vec<UploadPart>,
    sha256: RunningSha256,
}

impl Writing {
    async fn new(store: &BlobStore) -> Self {
        let id = UploadId::new();
        store.create_upload(&id).await.expect("created");
        Self {
            id,
            parts: Vec::new(),
            sha256: RunningSha256::new(),
        }
    }

    fn size(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }

    async fn hold(&self, store: &BlobStore) -> io::Result<HeldUpload> {
        Ok(store
            .hold(&self.id)
            .await?
            .expect("no other request holds it"))
    }

    /// Writes `chunks` as the next part, and records it as the service would.
    async fn write(
        &mut self,
        store: &BlobStore,
        chunks: &[&[u8]],
        expected: Option<u64>,
    ) -> Result<UploadPart, PartError> {
        let mut held = self.hold(store).await?;
        let (part, sha256) = held
            .write_part(self.size(), self.sha256.clone(), body(chunks), expected)
            .await?;
        self.parts.push(part.clone());
        self.sha256 = sha256;
        Ok(part)
    }

    async fn part(&mut self, store: &BlobStore, bytes: &[u8]) -> UploadPart {
        self.write(store, &[bytes], Some(bytes.len() as u64))
            .await
            .expect("part written")
    }

    async fn try_assemble(&self, store: &BlobStore, algorithm: Algorithm) -> io::Result<Assembled> {
        let mut held = self.hold(store).await?;
        held.assemble(&self.parts, &self.sha256, algorithm).await
    }

    async fn assemble(&self, store: &BlobStore, algorithm: Algorithm) -> Assembled {
        self.try_assemble(store, algorithm)
            .await
            .expect("assembled")
    }
}

async fn read_all(store: &BlobStore, digest: &Digest) -> io::Result<Vec<u8>> {
    let chunks: Vec<Bytes> = store
        .read(digest)
        .await?
        .into_stream()
        .try_collect()
        .await?;
    Ok(chunks.concat())
}

/// Uploads `parts` as one upload and places the blob; its digest.
async fn put_blob(store: &BlobStore, parts: &[&[u8]], algorithm: Algorithm) -> Digest {
    let mut upload = Writing::new(store).await;
    for bytes in parts {
        upload.part(store, bytes).await;
    }
    let assembled = upload.assemble(store, algorithm).await;
    let digest = assembled.digest.clone();
    assert!(store.place(assembled).await.expect("placed"));
    store.discard_upload(&upload.id).await.expect("discarded");
    digest
}

fn sha512_of(bytes: &[u8]) -> Digest {
    let mut h = Hasher::new(Algorithm::Sha512);
    h.update(bytes);
    h.finish()
}

fn is_not_found<T>(r: &io::Result<T>) -> bool {
    matches!(r, Err(e) if e.kind() == io::ErrorKind::NotFound)
}

async fn parts_continue_the_uploads_sha256(s: Subject) {
    let mut upload = Writing::new(&s.store).await;
    let streamed = upload
        .write(&s.store, &[b"hel", b"lo ", b"world"], None)
        .await
        .expect("written");
    assert_eq!(streamed.size, 11);
    assert_eq!(upload.sha256.digest(), Digest::sha256_of(b"hello world"));
    let measured = upload
        .write(&s.store, &[b"ab", b"cd"], Some(4))
        .await
        .expect("written");
    assert_eq!(measured.size, 4);
    assert_eq!(
        upload.sha256.digest(),
        Digest::sha256_of(b"hello worldabcd")
    );
    assert_ne!(streamed.id, measured.id, "every part is a new part");

    // An empty part changes nothing, and is removed like any unrecorded part.
    let start = upload.size();
    let mut held = upload.hold(&s.store).await.expect("held");
    let (empty, sha256) = held
        .write_part(start, upload.sha256.clone(), body(&[]), None)
        .await
        .expect("written");
    assert_eq!((empty.size, sha256.digest()), (0, upload.sha256.digest()));
    held.remove_part(start, &empty).await.expect("removed");
    drop(held);
    assert_eq!(
        s.store.upload_ids().await.expect("ids"),
        vec![upload.id.clone()]
    );

    let assembled = upload.assemble(&s.store, Algorithm::Sha256).await;
    assert_eq!(
        (&assembled.digest, assembled.size),
        (&Digest::sha256_of(b"hello worldabcd"), 15)
    );
    s.store.abandon(assembled).await.expect("abandoned");

    // A large part (past any one buffer: on S3, a multipart upload) streams in whole.
    // (Alone: moto stalls joining parts this large.)
    let big: Vec<u8> = (0..17 * 1024 * 1024 + 17)
        .map(|i| (i % 251) as u8)
        .collect();
    let chunks: Vec<&[u8]> = big.chunks(64 * 1024).collect();
    let mut large = Writing::new(&s.store).await;
    large
        .write(&s.store, &chunks, Some(big.len() as u64))
        .await
        .expect("written");
    let assembled = large.assemble(&s.store, Algorithm::Sha256).await;
    let digest = assembled.digest.clone();
    assert_eq!(
        (&digest, assembled.size),
        (&Digest::sha256_of(&big), big.len() as u64)
    );
    assert!(s.store.place(assembled).await.expect("placed"));
    assert_eq!(read_all(&s.store, &digest).await.expect("read"), big);
}

async fn a_broken_or_mismeasured_part_leaves_nothing(s: Subject) {
    let mut upload = Writing::new(&s.store).await;
    let before = s.files().await;
    let long = upload.write(&s.store, &[b"four", b"more"], Some(4)).await;
    assert!(
        matches!(
            long,
            Err(PartError::Length {
                expected: 4,
                received: 8
            })
        ),
        "{long:?}"
    );
    let short = upload.write(&s.store, &[b"ab"], Some(4)).await;
    assert!(
        matches!(
            short,
            Err(PartError::Length {
                expected: 4,
                received: 2
            })
        ),
        "{short:?}"
    );
    let mut held = upload.hold(&s.store).await.expect("held");
    let broken = futures_util::stream::iter([
        Ok(Bytes::from_static(b"partial")),
        Err(io::Error::other("reset")),
    ]);
    let broken = held.write_part(0, RunningSha256::new(), broken, None).await;
    assert!(
        matches!(&broken, Err(PartError::Body(m)) if m == "reset"),
        "{broken:?}"
    );
    drop(held);
    assert_eq!(s.files().await, before);
    assert_file_sizes(&s, 0).await;
    // The upload goes on from where it stood.
    upload.part(&s.store, b"good").await;
    let assembled = upload.assemble(&s.store, Algorithm::Sha256).await;
    let digest = assembled.digest.clone();
    assert!(s.store.place(assembled).await.expect("placed"));
    assert_eq!(read_all(&s.store, &digest).await.expect("read"), b"good");
}

/// In the file store, every upload file holds `size` bytes.
async fn assert_file_sizes(s: &Subject, size: u64) {
    if let Backing::Dir(dir) = &s.backing {
        for name in s.files().await {
            if name.starts_with("uploads/") {
                let len = std::fs::metadata(dir.path().join(&name))
                    .expect("file")
                    .len();
                assert_eq!(len, size, "{name}");
            }
        }
    }
}

async fn parts_assemble_into_one_blob(s: Subject) {
    let mut upload = Writing::new(&s.store).await;
    for bytes in [b"hello ".as_slice(), b"wor", b"ld"] {
        upload.part(&s.store, bytes).await;
    }
    let joined = upload.assemble(&s.store, Algorithm::Sha256).await;
    let digest = Digest::sha256_of(b"hello world");
    assert_eq!((&joined.digest, joined.size), (&digest, 11));
    assert!(s.store.place(joined).await.expect("placed"));
    s.store.discard_upload(&upload.id).await.expect("discarded");
    assert_eq!(
        read_all(&s.store, &digest).await.expect("read"),
        b"hello world"
    );

    // One part is the blob as it is.
    let mut single = Writing::new(&s.store).await;
    single.part(&s.store, b"hello ").await;
    let assembled = single.assemble(&s.store, Algorithm::Sha256).await;
    assert_eq!(
        (&assembled.digest, assembled.size),
        (&Digest::sha256_of(b"hello "), 6)
    );
    s.store.abandon(assembled).await.expect("abandoned");

    // An upload whose bytes the store no longer has is NotFound.
    s.store.discard_upload(&single.id).await.expect("discarded");
    assert!(is_not_found(
        &single.try_assemble(&s.store, Algorithm::Sha256).await
    ));
    // What stays is the blob alone: the uploads' bytes are gone.
    assert_eq!(s.files().await.len(), 1, "{:?}", s.files().await);
}

async fn another_algorithms_digest_is_read_from_the_bytes(s: Subject) {
    let mut upload = Writing::new(&s.store).await;
    upload.part(&s.store, b"abc").await;
    // Even one part is read again when its sha256 is not the digest asked for.
    let one = upload.assemble(&s.store, Algorithm::Sha512).await;
    assert_eq!((&one.digest, one.size), (&sha512_of(b"abc"), 3));
    s.store.abandon(one).await.expect("abandoned");
    upload.part(&s.store, b"def").await;
    let sha512 = upload.assemble(&s.store, Algorithm::Sha512).await;
    assert_eq!((&sha512.digest, sha512.size), (&sha512_of(b"abcdef"), 6));
    let digest = sha512.digest.clone();
    assert!(s.store.place(sha512).await.expect("placed"));
    assert_eq!(read_all(&s.store, &digest).await.expect("read"), b"abcdef");
    s.store.discard_upload(&upload.id).await.expect("discarded");
    assert_eq!(
        s.store.digests().await.expect("digests"),
        vec![digest.clone()]
    );
}

/// In the file store an upload's file has one holder at a time, let go when dropped;
/// once completed (moved to the blob's name), it cannot be held again. Object
/// storage's parts are objects of their own, which need no hold.
async fn an_upload_is_held_by_one_request_at_a_time(s: Subject) {
    let locks = matches!(s.backing, Backing::Dir(_));
    let mut upload = Writing::new(&s.store).await;
    let first = upload.hold(&s.store).await.expect("held");
    let second = s.store.hold(&upload.id).await.expect("answered");
    assert_eq!(second.is_none(), locks, "held twice at once");
    drop((first, second));
    upload.part(&s.store, b"bytes").await;
    let assembled = upload.assemble(&s.store, Algorithm::Sha256).await;
    assert!(s.store.place(assembled).await.expect("placed"));
    if locks {
        assert!(is_not_found(&s.store.hold(&upload.id).await.map(|_| ())));
    }
    assert_eq!(
        read_all(&s.store, &Digest::sha256_of(b"bytes"))
            .await
            .expect("read"),
        b"bytes"
    );
}

async fn place_never_replaces_bytes(s: Subject) {
    let digest = put_blob(&s.store, &[b"hello ", b"world"], Algorithm::Sha256).await;
    // Other bytes claiming the name are refused.
    let mut upload = Writing::new(&s.store).await;
    upload.part(&s.store, b"forged ").await;
    upload.part(&s.store, b"bytes").await;
    let mut forged = upload.assemble(&s.store, Algorithm::Sha256).await;
    forged.digest = digest.clone();
    assert!(!s.store.place(forged).await.expect("place answered"));
    assert_eq!(
        read_all(&s.store, &digest).await.expect("read"),
        b"hello world"
    );
    s.store.discard_upload(&upload.id).await.expect("discarded");
    // The same bytes again keep the blob too.
    let mut again = Writing::new(&s.store).await;
    again.part(&s.store, b"hello world").await;
    let again_bytes = again.assemble(&s.store, Algorithm::Sha256).await;
    assert_eq!(again_bytes.digest, digest);
    assert!(!s.store.place(again_bytes).await.expect("place answered"));
    s.store.discard_upload(&again.id).await.expect("discarded");
    assert_eq!(s.files().await.len(), 1, "{:?}", s.files().await);
    assert_eq!(
        s.store.rehash(&digest).await.expect("rehash"),
        (digest.clone(), 11)
    );
}

/// Staged bytes (an object store copies them to their name before the transaction
/// that records them) that garbage collection removes before that transaction takes
/// the blob's lock are put back by `place`, from the assembly staging kept.
async fn staged_bytes_removed_before_placing_are_placed_again(s: Subject) {
    let mut upload = Writing::new(&s.store).await;
    upload.part(&s.store, b"staged ").await;
    upload.part(&s.store, b"bytes").await;
    let assembled = upload.assemble(&s.store, Algorithm::Sha256).await;
    let digest = assembled.digest.clone();
    s.store.stage(&assembled).await.expect("staged");
    s.store.remove_blob(&digest, None).await.expect("removed");
    assert!(s.store.place(assembled).await.expect("placed"));
    assert_eq!(
        read_all(&s.store, &digest).await.expect("read"),
        b"staged bytes"
    );
    s.store.discard_upload(&upload.id).await.expect("discarded");
    // Staged again where the blob stands, the same bytes leave it as it is.
    let mut again = Writing::new(&s.store).await;
    again.part(&s.store, b"staged bytes").await;
    let again_bytes = again.assemble(&s.store, Algorithm::Sha256).await;
    s.store.stage(&again_bytes).await.expect("staged");
    assert!(!s.store.place(again_bytes).await.expect("place answered"));
    s.store.discard_upload(&again.id).await.expect("discarded");
    assert_eq!(s.files().await.len(), 1, "{:?}", s.files().await);
}

async fn racing_places_have_one_winner(s: Subject) {
    const RACERS: usize = 6;
    for round in 0..3u8 {
        let bytes = [b"racing bytes ".as_slice(), &[round]].concat();
        let mut assembled = Vec::new();
        for _ in 0..RACERS {
            let mut upload = Writing::new(&s.store).await;
            upload.part(&s.store, &bytes[..5]).await;
            upload.part(&s.store, &bytes[5..]).await;
            let a = upload.assemble(&s.store, Algorithm::Sha256).await;
            assembled.push((upload.id, a));
        }
        let digest = Digest::sha256_of(&bytes);
        let places = assembled.into_iter().map(|(upload, a)| {
            let store = s.store.clone();
            tokio::spawn(async move {
                let placed = store.place(a).await.expect("place answered");
                store.discard_upload(&upload).await.expect("discarded");
                placed
            })
        });
        let mut won = 0;
        for place in places.collect::<Vec<_>>() {
            won += usize::from(place.await.expect("joined"));
        }
        assert_eq!(won, 1, "exactly one place wins");
        assert_eq!(read_all(&s.store, &digest).await.expect("read"), bytes);
    }
    assert_eq!(s.files().await.len(), 3, "{:?}", s.files().await);
}

async fn ranged_reads(s: Subject) {
    let bytes: Vec<u8> = (0..=255).collect();
    let digest = put_blob(&s.store, &[&bytes[..100], &bytes[100..]], Algorithm::Sha256).await;
    let reader = s.store.read(&digest).await.expect("open");
    assert_eq!((reader.size, reader.len()), (256, 256));
    let ranged = reader.range(10, 20).await.expect("ranged");
    assert_eq!((ranged.size, ranged.len()), (256, 20));
    let got: Vec<Bytes> = ranged.into_stream().try_collect().await.expect("read");
    assert_eq!(got.concat(), &bytes[10..30]);
    // A range running past the end is cut at it.
    let tail = s
        .store
        .read(&digest)
        .await
        .expect("open")
        .range(250, 100)
        .await
        .expect("ranged");
    assert_eq!(tail.len(), 6);
    let got: Vec<Bytes> = tail.into_stream().try_collect().await.expect("read");
    assert_eq!(got.concat(), &bytes[250..]);
    let last = s
        .store
        .read(&digest)
        .await
        .expect("open")
        .range(255, 1)
        .await
        .expect("ranged");
    let got: Vec<Bytes> = last.into_stream().try_collect().await.expect("read");
    assert_eq!(got.concat(), &bytes[255..]);
}

async fn a_missing_blob_is_not_found(s: Subject) {
    let digest = Digest::sha256_of(b"never stored");
    assert!(is_not_found(&s.store.read(&digest).await.map(|_| ())));
    assert!(is_not_found(&s.store.rehash(&digest).await));
    assert_eq!(s.store.settled(&digest, None).await.expect("settled"), None);
    assert_eq!(
        s.store.remove_blob(&digest, None).await.expect("removed"),
        None
    );
}

async fn removal_respects_settling(s: Subject) {
    let before = SystemTime::now() - Duration::from_secs(600);
    let digest = put_blob(&s.store, &[b"to be removed"], Algorithm::Sha256).await;
    let after = SystemTime::now() + Duration::from_secs(600);
    assert_eq!(
        s.store.settled(&digest, None).await.expect("settled"),
        Some(13)
    );
    assert_eq!(
        s.store
            .settled(&digest, Some(before))
            .await
            .expect("settled"),
        None,
        "placed after `before`"
    );
    assert_eq!(
        s.store
            .settled(&digest, Some(after))
            .await
            .expect("settled"),
        Some(13)
    );
    // Too young to remove: kept.
    assert_eq!(
        s.store
            .remove_blob(&digest, Some(before))
            .await
            .expect("removed"),
        None
    );
    assert_eq!(
        read_all(&s.store, &digest).await.expect("read"),
        b"to be removed"
    );
    assert_eq!(
        s.store
            .remove_blob(&digest, Some(after))
            .await
            .expect("removed"),
        Some(13)
    );
    assert!(is_not_found(&s.store.read(&digest).await.map(|_| ())));
    assert_eq!(
        s.store.remove_blob(&digest, None).await.expect("removed"),
        None
    );
    assert_eq!(s.files().await, Vec::<String>::new());
    // And placed again after its removal.
    let again = put_blob(&s.store, &[b"to be removed"], Algorithm::Sha256).await;
    assert_eq!(again, digest);
    assert_eq!(
        read_all(&s.store, &digest).await.expect("read"),
        b"to be removed"
    );
}

async fn listing_for_collection(s: Subject) {
    assert!(s.store.shelves().await.expect("shelves").is_empty());
    let mut placed = Vec::new();
    for i in 0..12u8 {
        placed.push(put_blob(&s.store, &[&[i; 3]], Algorithm::Sha256).await);
    }
    placed.push(put_blob(&s.store, &[b"long"], Algorithm::Sha512).await);
    placed.sort();
    let shelves = s.store.shelves().await.expect("shelves");
    let mut prefixes: Vec<String> = placed
        .iter()
        .map(|d| format!("{}:{}", d.algorithm().name(), &d.hex()[..2]))
        .collect();
    prefixes.dedup();
    assert_eq!(shelves.len(), prefixes.len());
    let mut walked = Vec::new();
    for shelf in &shelves {
        let on_shelf = s.store.digests_on(shelf).await.expect("digests");
        assert!(!on_shelf.is_empty());
        let mut sorted = on_shelf.clone();
        sorted.sort();
        assert_eq!(on_shelf, sorted, "a shelf lists in order");
        let prefix = &on_shelf[0].as_str()[..on_shelf[0].algorithm().name().len() + 3];
        assert!(on_shelf.iter().all(|d| d.as_str().starts_with(prefix)));
        walked.extend(on_shelf);
    }
    assert_eq!(
        walked, placed,
        "the shelves, in order, hold every blob once"
    );
    assert_eq!(s.store.digests().await.expect("digests"), placed);

    // Uploads with bytes are listed by id.
    let (mut one, mut two) = (Writing::new(&s.store).await, Writing::new(&s.store).await);
    one.part(&s.store, b"x").await;
    two.part(&s.store, b"y").await;
    two.part(&s.store, b"z").await;
    let mut ids = s.store.upload_ids().await.expect("ids");
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut expected = vec![one.id, two.id];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(ids, expected);
}

async fn discarding_an_upload_removes_its_bytes(s: Subject) {
    let (mut kept, mut dropped) = (Writing::new(&s.store).await, Writing::new(&s.store).await);
    kept.part(&s.store, b"kept").await;
    dropped.part(&s.store, b"dro").await;
    dropped.part(&s.store, b"pped").await;
    // Assembled bytes not placed go with the upload as well.
    let assembled = dropped.assemble(&s.store, Algorithm::Sha256).await;
    drop(assembled);
    s.store
        .discard_upload(&dropped.id)
        .await
        .expect("discarded");
    s.store
        .discard_upload(&dropped.id)
        .await
        .expect("discarding twice is fine");
    s.store
        .discard_upload(&UploadId::new())
        .await
        .expect("discarding an unknown upload is fine");
    assert_eq!(
        s.store.upload_ids().await.expect("ids"),
        vec![kept.id.clone()]
    );
    assert!(is_not_found(
        &dropped.try_assemble(&s.store, Algorithm::Sha256).await
    ));
    assert_eq!(s.files().await.len(), 1, "{:?}", s.files().await);
    let kept_blob = kept.assemble(&s.store, Algorithm::Sha256).await;
    assert_eq!(kept_blob.digest, Digest::sha256_of(b"kept"));
}

async fn rehash_reads_the_bytes_back(s: Subject) {
    // Joined past one buffer: on S3, the join is a multipart upload too.
    let big: Vec<u8> = (0..9 * 1024 * 1024 + 5).map(|i| (i % 253) as u8).collect();
    let digest = put_blob(&s.store, &[&big[..1000], &big[1000..]], Algorithm::Sha256).await;
    assert_eq!(
        s.store.rehash(&digest).await.expect("rehash"),
        (digest.clone(), big.len() as u64)
    );
    let sha512 = put_blob(&s.store, &[&big], Algorithm::Sha512).await;
    assert_eq!(sha512, sha512_of(&big));
    assert_eq!(
        s.store.rehash(&sha512).await.expect("rehash"),
        (sha512.clone(), big.len() as u64)
    );
}

async fn the_probe_leaves_nothing(s: Subject) {
    s.store.probe_write().await.expect("probe");
    s.store.probe_write().await.expect("probe");
    assert_eq!(s.files().await, Vec::<String>::new());
    assert!(s.store.upload_ids().await.expect("ids").is_empty());
    assert!(s.store.shelves().await.expect("shelves").is_empty());
}

/// Processes asking a fresh store for its identity at once all get one and the same,
/// kept in the store as one object; another store has another.
async fn the_identity_is_made_once(s: Subject) {
    let asked = (0..6).map(|_| {
        let store = s.store.clone();
        tokio::spawn(async move { store.identity().await.expect("identity") })
    });
    let mut identities = Vec::new();
    for identity in asked.collect::<Vec<_>>() {
        identities.push(identity.await.expect("joined"));
    }
    identities.dedup();
    assert_eq!(identities.len(), 1, "{identities:?}");
    assert!(
        uuid::Uuid::parse_str(&identities[0]).is_ok(),
        "{identities:?}"
    );
    assert_eq!(s.files().await, vec!["store-id".to_owned()]);
    assert_eq!(s.store.identity().await.expect("again"), identities[0]);
    let other = Subject::file().await;
    assert_ne!(other.store.identity().await.expect("other"), identities[0]);
}

/// The file store after a part's process died while writing: its bytes past the
/// upload's recorded size go before the next part is written, and before a
/// completion. A file shorter than its recorded bytes (they were lost) takes no part
/// and assembles to nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_parts_bytes_are_cut_in_the_file_store() {
    use std::io::Write as _;
    let s = Subject::file().await;
    let Backing::Dir(dir) = &s.backing else {
        unreachable!("a file store")
    };
    let file_of = |upload: &Writing| {
        dir.path()
            .join("uploads")
            .join(upload.id.as_str())
            .join("data")
    };
    let dead_part = |upload: &Writing| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(file_of(upload))
            .and_then(|mut f| f.write_all(b"left by a dead part"))
            .expect("appended");
    };
    for more in [Some(b"bytes".as_slice()), None] {
        let mut upload = Writing::new(&s.store).await;
        upload.part(&s.store, b"kept ").await;
        dead_part(&upload);
        if let Some(more) = more {
            upload.part(&s.store, more).await;
        }
        let expected = [b"kept ".as_slice(), more.unwrap_or_default()].concat();
        let assembled = upload.assemble(&s.store, Algorithm::Sha256).await;
        assert_eq!(
            (&assembled.digest, assembled.size),
            (&Digest::sha256_of(&expected), expected.len() as u64)
        );
        let digest = assembled.digest.clone();
        assert!(s.store.place(assembled).await.expect("placed"));
        assert_eq!(read_all(&s.store, &digest).await.expect("read"), expected);
        assert_eq!(
            s.store.rehash(&digest).await.expect("rehash"),
            (digest, expected.len() as u64)
        );
    }

    let mut lost = Writing::new(&s.store).await;
    lost.part(&s.store, b"recorded").await;
    std::fs::OpenOptions::new()
        .write(true)
        .open(file_of(&lost))
        .and_then(|f| f.set_len(3))
        .expect("cut");
    let more = lost.write(&s.store, &[b"more"], Some(4)).await;
    assert!(
        matches!(&more, Err(PartError::Io(e)) if e.kind() == io::ErrorKind::NotFound),
        "{more:?}"
    );
    assert!(is_not_found(
        &lost.try_assemble(&s.store, Algorithm::Sha256).await
    ));
}
