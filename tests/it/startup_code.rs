//! Once serving, berth unmaps the code its start-up touched (`src/startup_code.rs`);
//! what it runs next comes back from the page cache, unchanged.

use crate::fixtures::{batch_get_image, by_tag, push_layer, put_image, Format, Image};
use crate::process::{ServerProcess, ServerState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_once_its_startup_code_is_unmapped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = ServerState::in_dir(dir.path());
    let server = ServerProcess::start(&state).await;
    // Start-up leaves most of the code mapped (about 70 % of a debug build's); the
    // release leaves only what serving has run since.
    server.wait_code_released().await;

    const REPO: &str = "after/startup";
    server.create_repo(REPO).await;
    let image = Image::new(Format::Oci, &[4096, 4096]);
    for blob in image.blobs() {
        push_layer(&server.ecr, REPO, blob).await;
    }
    put_image(&server.ecr, REPO, &image.manifest, Some("v1"))
        .await
        .expect("put image");
    let got = batch_get_image(&server.ecr, REPO, by_tag("v1")).await;
    let manifest = got.images()[0].image_manifest().expect("manifest");
    assert_eq!(manifest, image.manifest);
}
