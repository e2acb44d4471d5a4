//! An image's filesystem, reduced to the files a scan reads: each layer's blob is
//! decompressed (gzip, zstd or none, told by its first bytes) and walked as a tar
//! stream on a blocking thread fed chunk by chunk, so no layer is held in memory;
//! whiteouts of each layer remove what the layers below it left.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::ScanError;

/// What to keep of a file the classifier wants.
#[derive(Clone, Copy)]
pub(crate) enum Want {
    /// Its bytes, up to `max` (a larger file is noted and left out).
    Bytes { max: u64 },
    /// Written to a temporary file, up to `max`.
    TempFile { max: u64 },
    /// Whatever the function takes from the stream of its bytes (`None`: nothing).
    Scan(fn(&mut dyn Read) -> io::Result<Option<Vec<u8>>>),
}

/// Which files to keep: a path relative to the root and the entry's mode in, the kind
/// and what to keep out (`None`: not wanted).
pub(crate) type Classify<K> = dyn Fn(&str, u32) -> Option<(K, Want)> + Send + Sync;
pub(crate) type Classifier<K> = Arc<Classify<K>>;

#[derive(Debug)]
pub(crate) enum Content {
    Bytes(Vec<u8>),
    File(Arc<tempfile::TempPath>),
    /// Wanted but not kept (too large): it still hides the lower layers' copy.
    Gone,
}

#[derive(Debug)]
pub(crate) struct Found<K> {
    pub kind: K,
    pub content: Content,
}

/// The wanted files of the image, by path, after every layer and whiteout.
pub(crate) struct Tree<K> {
    pub files: BTreeMap<String, Found<K>>,
    pub notes: Vec<String>,
}

/// What one layer adds and removes.
struct LayerChanges<K> {
    found: Vec<(String, Found<K>)>,
    /// Paths this layer removes or replaces (with all beneath them).
    removed: Vec<String>,
    /// Directories whose lower contents this layer hides (`.wh..wh..opq`).
    opaque: Vec<String>,
    notes: Vec<String>,
}

const CHANNEL_CHUNKS: usize = 8;

pub(crate) async fn read_layers<S, K>(
    layers: Vec<S>,
    classify: Classifier<K>,
) -> Result<Tree<K>, ScanError>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin + Send,
    K: Send + 'static,
{
    let mut tree = Tree {
        files: BTreeMap::new(),
        notes: Vec::new(),
    };
    for (index, mut layer) in layers.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let classify = classify.clone();
        let present: Arc<HashSet<String>> = Arc::new(tree.files.keys().cloned().collect());
        let reader = tokio::task::spawn_blocking(move || {
            read_layer(
                ChannelReader {
                    rx,
                    current: Bytes::new(),
                },
                &*classify,
                &present,
            )
        });
        while let Some(chunk) = layer.next().await {
            let failed = chunk.is_err();
            // The reader stops early at the tar's end (or on an error it reports).
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
        drop(tx);
        let changes = reader
            .await
            .map_err(|e| ScanError::Task(e.to_string()))?
            .map_err(|source| ScanError::Layer {
                layer: index,
                source,
            })?;
        apply(&mut tree, changes);
    }
    Ok(tree)
}

fn apply<K>(tree: &mut Tree<K>, changes: LayerChanges<K>) {
    for path in &changes.removed {
        let beneath = format!("{path}/");
        tree.files
            .retain(|have, _| have != path && !have.starts_with(&beneath));
    }
    for dir in &changes.opaque {
        let beneath = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        tree.files.retain(|have, _| !have.starts_with(&beneath));
    }
    tree.files.extend(changes.found);
    tree.notes.extend(changes.notes);
}

/// The bytes of one layer, received from the async side.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(chunk) => self.current = chunk?,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The layer's tar stream, decompressed as its first bytes say.
fn decompressed<'a>(mut blob: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut head = Vec::with_capacity(4);
    (&mut blob).take(4).read_to_end(&mut head)?;
    let whole = Read::chain(io::Cursor::new(head.clone()), blob);
    Ok(if head.starts_with(&GZIP_MAGIC) {
        Box::new(flate2::read::MultiGzDecoder::new(whole))
    } else if head.starts_with(&ZSTD_MAGIC) {
        Box::new(zstd::stream::read::Decoder::new(whole)?)
    } else {
        Box::new(whole)
    })
}

/// A tar path as a path relative to the root: no `./`, no leading or trailing `/`.
pub(crate) fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

fn read_layer<K>(
    blob: impl Read,
    classify: &Classify<K>,
    present: &HashSet<String>,
) -> io::Result<LayerChanges<K>> {
    let mut changes = LayerChanges {
        found: Vec::new(),
        removed: Vec::new(),
        opaque: Vec::new(),
        notes: Vec::new(),
    };
    let mut archive = tar::Archive::new(decompressed(blob)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", path.as_str()),
        };
        if name == OPAQUE {
            changes.opaque.push(dir.to_owned());
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            changes.removed.push(if dir.is_empty() {
                hidden.to_owned()
            } else {
                format!("{dir}/{hidden}")
            });
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let wanted = if kind.is_file() {
            let mode = entry.header().mode().unwrap_or(0);
            classify(&path, mode)
        } else {
            None
        };
        let Some((kind, want)) = wanted else {
            // Anything else at a path a lower layer had a wanted file at replaces it.
            if present.contains(&path) {
                changes.removed.push(path);
            }
            continue;
        };
        let size = entry.size();
        let content = match want {
            Want::Bytes { max } | Want::TempFile { max } if size > max => {
                changes
                    .notes
                    .push(format!("{path}: {size} bytes, over the {max}-byte limit"));
                Content::Gone
            }
            Want::Bytes { .. } => {
                let mut bytes = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut bytes)?;
                Content::Bytes(bytes)
            }
            Want::TempFile { max } => {
                let mut file = tempfile::NamedTempFile::new()?;
                io::copy(&mut (&mut entry).take(max), &mut file)?;
                Content::File(Arc::new(file.into_temp_path()))
            }
            Want::Scan(scan) => match scan(&mut entry)? {
                Some(bytes) => Content::Bytes(bytes),
                None => {
                    // Not what we look for: it still replaces a lower layer's file.
                    if present.contains(&path) {
                        changes.removed.push(path);
                    }
                    continue;
                }
            },
        };
        changes.removed.push(path.clone());
        changes.found.push((path, Found { kind, content }));
    }
    Ok(changes)
}
