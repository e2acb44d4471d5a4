//! Once serving, berth unmaps the code its start-up touched (`src/startup_code.rs`);
//! what it runs next comes back from the page cache, unchanged.

use crate::fixtures::{
    batch_get_image, by_tag, complete_upload, initiate_upload, put_image, upload_part, Format,
    Image,
};
use crate::helpers::sha256;
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
    server
        .ecr
        .create_repository()
        .repository_name(REPO)
        .send()
        .await
        .expect("create repository");
    let image = Image::new(Format::Oci, &[4096, 4096]);
    for blob in image.blobs() {
        let id = initiate_upload(&server.ecr, REPO).await;
        upload_part(&server.ecr, REPO, &id, 0, blob)
            .await
            .expect("upload part");
        complete_upload(&server.ecr, REPO, &id, &sha256(blob))
            .await
            .expect("complete upload");
    }
    put_image(&server.ecr, REPO, &image.manifest, Some("v1"))
        .await
        .expect("put image");
    let got = batch_get_image(&server.ecr, REPO, by_tag("v1")).await;
    let manifest = got.images()[0].image_manifest().expect("manifest");
    assert_eq!(manifest, image.manifest);
}
