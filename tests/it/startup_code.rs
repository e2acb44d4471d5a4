//! Once serving, berth unmaps the code its start-up touched (`src/startup_code.rs`);
//! what it runs next comes back from the page cache, unchanged.

use std::time::Duration;

use crate::fixtures::{
    batch_get_image, by_tag, complete_upload, initiate_upload, put_image, upload_part, Format,
    Image,
};
use crate::helpers::sha256;
use crate::process::{ServerProcess, ServerState};

/// The size and the resident part (KiB) of the child's code: its executable's
/// read-only executable mapping.
fn code_mapping(pid: u32) -> (u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    let executable = env!("CARGO_BIN_EXE_berth");
    let (mut size, mut rss, mut inside) = (0, 0, false);
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        match fields.as_slice() {
            // A mapping's first line: its address range, permissions, offset, device,
            // inode and (not for anonymous memory) path.
            [range, permissions, _, _, _, rest @ ..] if range.contains('-') => {
                inside = *permissions == "r-xp" && rest == [executable];
            }
            ["Size:", kib, "kB"] if inside => size += kib.parse::<u64>().expect("size"),
            ["Rss:", kib, "kB"] if inside => rss += kib.parse::<u64>().expect("rss"),
            _ => {}
        }
    }
    assert!(size > 0, "no code mapping of {executable} in\n{smaps}");
    (size, rss)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_once_its_startup_code_is_unmapped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = ServerState {
        data_dir: dir.path().join("data"),
        database_url: None,
        log: dir.path().join("berth.log"),
    };
    let server = ServerProcess::start(&state).await;
    // Start-up leaves most of the code mapped (about 70 % of a debug build's); the
    // release leaves only what serving has run since.
    let released = async {
        loop {
            let (size, rss) = code_mapping(server.pid());
            if rss * 4 < size {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), released)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the code stayed mapped: {:?} (size, resident KiB)",
                code_mapping(server.pid())
            )
        });

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
