//! The blob store's identity: a name made once and kept in the store itself, so
//! processes can tell whether they share one store however each reaches it (a
//! directory mounted at different paths, an endpoint under another name).

use std::io;

use object_store::path::Path as Key;
use object_store::{ObjectStoreExt as _, PutMode, PutPayload};
use tokio::fs;
use tokio::io::AsyncWriteExt;

use super::{s3, BlobStore, FileStore, S3Store};

/// The identity's name at the store's root, beside `blobs/` and `uploads/`.
const NAME: &str = "store-id";

impl BlobStore {
    /// The store's identity, made now if it has none. Of processes making one at once,
    /// one's is kept and all answer it.
    pub async fn identity(&self) -> io::Result<String> {
        match self {
            Self::File(s) => s.identity().await,
            Self::S3(s) => s.identity().await,
        }
    }
}

fn new_identity() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl FileStore {
    async fn identity(&self) -> io::Result<String> {
        let path = self.root.join(NAME);
        match fs::read_to_string(&path).await {
            Ok(id) => return Ok(id.trim().to_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Written whole and synced under a name of its own, then linked in: the link
        // fails if another process's came first, and nobody reads half a name.
        let written = self
            .root
            .join(format!(".{NAME}-{}", uuid::Uuid::new_v4().simple()));
        let linked = async {
            let mut file = fs::File::create(&written).await?;
            file.write_all(new_identity().as_bytes()).await?;
            file.sync_all().await?;
            drop(file);
            match fs::hard_link(&written, &path).await {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            }
        }
        .await;
        // Removed however the write ended: a full disk leaves no stray file behind.
        let removed = match fs::remove_file(&written).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
        linked.and(removed)?;
        fs::File::open(&self.root).await?.sync_all().await?;
        Ok(fs::read_to_string(&path).await?.trim().to_owned())
    }
}

impl S3Store {
    async fn identity(&self) -> io::Result<String> {
        let key = self.key(NAME);
        match self.read_small(&key).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            found => return found,
        }
        // Created only if absent (`If-None-Match: *`): of two makers, the second's
        // put fails and it reads the first's.
        let put = self
            .objects
            .put_opts(
                &key,
                PutPayload::from(new_identity()),
                PutMode::Create.into(),
            )
            .await;
        match put {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(s3::to_io(e)),
        }
        self.read_small(&key).await
    }

    /// A small object's text.
    async fn read_small(&self, key: &Key) -> io::Result<String> {
        let bytes = self
            .objects
            .get(key)
            .await
            .map_err(s3::to_io)?
            .bytes()
            .await
            .map_err(s3::to_io)?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    }
}
