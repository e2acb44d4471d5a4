//! The client berth speaks to other registries with (pull-through upstreams, remote
//! replication destinations), against real ones: Debian's docker-registry, anonymous
//! and behind htpasswd Basic, and berth's own registries (Basic with a registry
//! password; the public one's Bearer token flow).

use berth::domain::Digest;
use berth::remote::{Credential, Remote, RemoteError};
use bytes::Bytes;
use futures_util::{stream, TryStreamExt};

use crate::fixtures::docker_registry::DockerRegistry;
use crate::fixtures::{Format, Image};
use crate::helpers::{TestApp, ALIAS};
use crate::one_store;
use crate::process::free_port;

one_store!(
    pushes_and_pulls_with_an_anonymous_registry,
    answers_basic_challenges_with_the_credential,
    answers_bearer_challenges_with_tokens,
    pushes_to_berths_private_registry_with_its_password,
);

fn credential(username: &str, password: &str) -> Option<Credential> {
    Some(Credential {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).expect("digest")
}

/// Pushes `image` to `repository` under `tag` through `remote`, blob by blob, each
/// body streamed in two chunks.
async fn push(remote: &Remote, repository: &str, image: &Image, tag: &str) {
    for blob in image.blobs() {
        let d = digest(&crate::helpers::sha256(blob));
        let (a, b) = blob.split_at(blob.len() / 2);
        let body = stream::iter([Ok(Bytes::copy_from_slice(a)), Ok(Bytes::copy_from_slice(b))]);
        remote
            .push_blob(repository, &d, blob.len() as u64, body)
            .await
            .expect("push blob");
        assert!(remote.has_blob(repository, &d).await.expect("head blob"));
    }
    remote
        .put_manifest(
            repository,
            tag,
            image.format.manifest_type(),
            Bytes::from(image.manifest.clone()),
        )
        .await
        .expect("put manifest");
}

/// Reads `image` back through `remote` and checks every byte.
async fn pull_and_compare(remote: &Remote, repository: &str, image: &Image, tag: &str) {
    let by_tag = remote
        .manifest(repository, tag)
        .await
        .expect("manifest by tag");
    assert_eq!(by_tag.body, image.manifest.as_bytes());
    assert_eq!(by_tag.digest.as_str(), image.digest);
    assert_eq!(by_tag.media_type, image.format.manifest_type());
    let by_digest = remote
        .manifest(repository, &image.digest)
        .await
        .expect("manifest by digest");
    assert_eq!(by_digest.body, image.manifest.as_bytes());
    let told = remote.manifest_digest(repository, tag).await.expect("HEAD");
    assert_eq!(told.as_str(), image.digest);
    for blob in image.blobs() {
        let d = digest(&crate::helpers::sha256(blob));
        let fetched = remote.blob(repository, &d).await.expect("blob");
        assert_eq!(fetched.size, Some(blob.len() as u64));
        let chunks: Vec<Bytes> = fetched.body.try_collect().await.expect("blob body");
        assert_eq!(chunks.concat(), blob);
    }
}

async fn pushes_and_pulls_with_an_anonymous_registry(_app: TestApp) {
    let mut registry = DockerRegistry::anonymous().await;
    let remote = Remote::new(&registry.url, None).expect("remote");
    remote.ping().await.expect("ping");
    let image = Image::new(Format::Oci, &[3000, 70_000]);
    push(&remote, "team/app", &image, "v1").await;
    pull_and_compare(&remote, "team/app", &image, "v1").await;

    // What is not there is NotFound, whether repository, tag or blob.
    let missing = remote.manifest("team/app", "v2").await;
    assert!(
        matches!(missing, Err(RemoteError::NotFound(_))),
        "{missing:?}"
    );
    let missing = remote.manifest("team/other", "v1").await;
    assert!(
        matches!(missing, Err(RemoteError::NotFound(_))),
        "{missing:?}"
    );
    let absent = digest(&crate::helpers::sha256(b"never pushed"));
    assert!(!remote.has_blob("team/app", &absent).await.expect("HEAD"));

    // A manifest that does not parse is refused by the remote, and berth says so.
    let refused = remote
        .put_manifest(
            "team/app",
            "bad",
            image.format.manifest_type(),
            Bytes::from_static(b"{"),
        )
        .await;
    assert!(
        matches!(refused, Err(RemoteError::Rejected { status: 400, .. })),
        "{refused:?}"
    );

    // Nobody listening: unreachable, which retrying may help.
    let gone = Remote::new(&format!("http://127.0.0.1:{}", free_port()), None).expect("remote");
    assert!(matches!(
        gone.ping().await,
        Err(RemoteError::Unreachable(_))
    ));
    // Nor once the registry is gone.
    registry.stop().await;
    let stopped = remote.manifest("team/app", "v1").await;
    assert!(
        matches!(stopped, Err(RemoteError::Unreachable(_))),
        "{stopped:?}"
    );

    // URLs berth cannot use are refused before anything is sent.
    for url in [
        "ftp://host",
        "http://host/path",
        "http://user:pw@host",
        "not a url",
    ] {
        assert!(
            matches!(Remote::new(url, None), Err(RemoteError::Invalid(_))),
            "{url}"
        );
    }
}

async fn answers_basic_challenges_with_the_credential(_app: TestApp) {
    let registry = DockerRegistry::with_password("puller", "s3cret").await;
    let anonymous = Remote::new(&registry.url, None).expect("remote");
    assert!(matches!(
        anonymous.ping().await,
        Err(RemoteError::Unauthorized(_))
    ));
    let wrong = Remote::new(&registry.url, credential("puller", "wrong")).expect("remote");
    assert!(matches!(
        wrong.ping().await,
        Err(RemoteError::Unauthorized(_))
    ));

    let remote = Remote::new(&registry.url, credential("puller", "s3cret")).expect("remote");
    remote.ping().await.expect("ping with the credential");
    let image = Image::new(Format::Docker, &[5000]);
    push(&remote, "lib/tool", &image, "1.0").await;
    pull_and_compare(&remote, "lib/tool", &image, "1.0").await;
}

async fn answers_bearer_challenges_with_tokens(app: TestApp) {
    app.create_public("served").await;
    let repository = format!("{ALIAS}/served");
    let password = app.public_password().await;

    // Pushing needs a token minted for the password; pulling, an anonymous one.
    let pusher = Remote::new(&app.public_url, credential("AWS", &password)).expect("remote");
    pusher.ping().await.expect("ping with a token");
    let image = Image::new(Format::Oci, &[4096]);
    push(&pusher, &repository, &image, "v1").await;
    let anonymous = Remote::new(&app.public_url, None).expect("remote");
    pull_and_compare(&anonymous, &repository, &image, "v1").await;

    let refused = anonymous
        .push_blob(
            &repository,
            &digest(&crate::helpers::sha256(b"x")),
            1,
            stream::iter([Ok(Bytes::from_static(b"x"))]),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(RemoteError::Unauthorized(_) | RemoteError::Denied(_))
        ),
        "{refused:?}"
    );
    let wrong = Remote::new(&app.public_url, credential("AWS", "not-a-password")).expect("remote");
    assert!(matches!(
        wrong.ping().await,
        Err(RemoteError::Unauthorized(_))
    ));
}

async fn pushes_to_berths_private_registry_with_its_password(app: TestApp) {
    app.ecr
        .create_repository()
        .repository_name("mirror/app")
        .send()
        .await
        .expect("create");
    let password = app.registry_password().await;
    let remote = Remote::new(&app.url, credential("AWS", &password)).expect("remote");
    let image = Image::new(Format::Oci, &[100, 200]);
    push(&remote, "mirror/app", &image, "latest").await;
    pull_and_compare(&remote, "mirror/app", &image, "latest").await;
    let stranger = Remote::new(&app.url, credential("AWS", "forged")).expect("remote");
    let refused = stranger.manifest("mirror/app", "latest").await;
    assert!(
        matches!(refused, Err(RemoteError::Unauthorized(_))),
        "{refused:?}"
    );
}
