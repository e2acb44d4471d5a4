//! The upload sweeper removes upload bytes no live upload owns, and nothing else.

use berth::blob::BlobStore;
use berth::config::StoreConfig;
use berth::domain::{RegistryId, RepositoryName, TagMutability};
use berth::service::{Caller, CreateRepository, Encryption, Service, Settings};

use crate::helpers::{fresh_postgres_database, Backend, ACCOUNT, REGION};

/// One part's body, as a face streams it.
fn part(
    bytes: &'static [u8],
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Unpin {
    futures_util::stream::iter([Ok(bytes::Bytes::from_static(bytes))])
}

async fn sweeps(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    let store = berth::startup::open_store(&StoreConfig {
        data_dir: dir.path().to_owned(),
        database_url,
        database_timeout: berth::config::DATABASE_TIMEOUT,
    })
    .await
    .expect("store");
    let blobs = BlobStore::open(dir.path()).await.expect("blobs");
    let account = RegistryId::parse(ACCOUNT).expect("account");
    let settings = Settings {
        account: account.clone(),
        public_url: "http://127.0.0.1:1".into(),
        public_registry_url: "http://127.0.0.1:2".into(),
        public_alias: berth::domain::RegistryAlias::parse("sweeper").expect("alias"),
    };
    let service = Service::new(store, blobs, settings, Default::default())
        .await
        .expect("service");
    let caller = Caller {
        account,
        region: REGION.into(),
        namespace: berth::domain::Namespace::Private,
        access_key: None,
    };
    let name = RepositoryName::parse("sweep/me").expect("name");
    service
        .create_repository(
            &caller,
            CreateRepository {
                registry: None,
                name: name.clone(),
                mutability: TagMutability::Mutable,
                scan_on_push: false,
                encryption: Encryption::default(),
                tags: Vec::new(),
                catalog: None,
            },
        )
        .await
        .expect("create");
    let (_, live) = service
        .start_upload(&caller, None, &name)
        .await
        .expect("initiate");
    service
        .append_to_upload(&caller, None, &name, &live, Some((0, 2)), part(b"abc"))
        .await
        .expect("part");

    // Parts of an upload whose row is gone (a crash between the completion's rows and
    // its clean-up, or a repository deleted mid-upload), plus a file that is not an
    // upload at all.
    let orphan = dir
        .path()
        .join("uploads")
        .join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir(&orphan).expect("orphan");
    std::fs::write(
        orphan.join(uuid::Uuid::new_v4().to_string()),
        b"left behind",
    )
    .expect("orphan part");
    let junk = dir.path().join("uploads").join("not-an-upload");
    std::fs::write(&junk, b"x").expect("junk");

    assert_eq!(service.sweep_uploads().await.expect("sweep"), 1);
    assert!(!orphan.exists(), "orphaned upload bytes are removed");
    assert!(junk.exists(), "files that are not uploads are left alone");
    // The live upload is untouched and carries on.
    let (_, size) = service
        .append_to_upload(&caller, None, &name, &live, Some((3, 5)), part(b"def"))
        .await
        .expect("next part");
    assert_eq!(size, 6);
    assert_eq!(service.sweep_uploads().await.expect("sweep again"), 0);
}

#[tokio::test]
async fn sweeper_sqlite() {
    sweeps(Backend::Sqlite).await
}

#[tokio::test]
async fn sweeper_postgres() {
    sweeps(Backend::Postgres).await
}
