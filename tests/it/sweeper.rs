//! Garbage collection's upload sweep removes upload bytes no live upload owns, and
//! nothing else.

use berth::domain::{RepositoryName, TagMutability};
use berth::service::{CreateRepository, Encryption};

use crate::fixtures::{caller, StoreAt};
use crate::helpers::Backend;

/// One part's body, as a face streams it.
fn part(
    bytes: &'static [u8],
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Unpin {
    futures_util::stream::iter([Ok(bytes::Bytes::from_static(bytes))])
}

async fn sweeps(backend: Backend) {
    let store = StoreAt::new(backend).await;
    let dir = &store.dir;
    let service = store.service().await;
    let caller = caller();
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

    let uploads = |service: berth::service::Service| async move {
        let report = service.collect_garbage(false).await.expect("collect");
        report.expect("no other collector").uploads
    };
    assert_eq!(uploads(service.clone()).await, 1);
    assert!(!orphan.exists(), "orphaned upload bytes are removed");
    assert!(junk.exists(), "files that are not uploads are left alone");
    // The live upload is untouched and carries on.
    let (_, size) = service
        .append_to_upload(&caller, None, &name, &live, Some((3, 5)), part(b"def"))
        .await
        .expect("next part");
    assert_eq!(size, 6);
    assert_eq!(uploads(service).await, 0);
}

#[tokio::test]
async fn sweeper_sqlite() {
    sweeps(Backend::Sqlite).await
}

#[tokio::test]
async fn sweeper_postgres() {
    sweeps(Backend::Postgres).await
}
