//! Archival storage: UpdateImageStorageClass moves an image out of the pullable set and
//! back; archived images are described and listed as ARCHIVED but pulled through no face.

use aws_sdk_ecr::types::{
    DescribeImagesFilter, ImageStatus, ImageStatusFilter, ListImagesFilter, TargetStorageClass,
};

use crate::both_stores;
use crate::fixtures::{
    assert_code, batch_get_image, by_digest, by_tag, describe_image, Descriptor, Format, Image,
    Manifest, OCI_INDEX, OCI_MANIFEST,
};
use crate::helpers::TestApp;
use crate::oci_client::Registry;

both_stores!(
    archive_and_restore,
    archived_images_are_listed_only_when_asked_for,
    push_restores_an_archived_image,
    what_cannot_be_archived,
    storage_class_errors,
);

impl TestApp {
    async fn move_image(
        &self,
        repo: &str,
        id: aws_sdk_ecr::types::ImageIdentifier,
        target: TargetStorageClass,
    ) -> Result<
        aws_sdk_ecr::operation::update_image_storage_class::UpdateImageStorageClassOutput,
        aws_sdk_ecr::error::SdkError<
            aws_sdk_ecr::operation::update_image_storage_class::UpdateImageStorageClassError,
        >,
    > {
        self.ecr
            .update_image_storage_class()
            .repository_name(repo)
            .image_id(id)
            .target_storage_class(target)
            .send()
            .await
    }
}

async fn archive_and_restore(app: TestApp) {
    app.create_repo("arch/app").await;
    let (manifest, digest) = app.push_image("arch/app", Some("v1"), 2).await;
    let registry = Registry::login(&app).await;

    let out = app
        .move_image("arch/app", by_tag("v1"), TargetStorageClass::Archive)
        .await
        .expect("archive");
    assert_eq!(out.image_status(), Some(&ImageStatus::Archived));
    assert_eq!(
        out.image_id().and_then(|i| i.image_digest()),
        Some(digest.as_str())
    );
    assert_eq!(out.repository_name(), Some("arch/app"));

    let detail = describe_image(&app.ecr, "arch/app", by_digest(&digest)).await;
    assert_eq!(detail.image_status(), Some(&ImageStatus::Archived));
    assert!(detail.last_archived_at().is_some());
    assert!(detail.last_activated_at().is_none());
    assert_eq!(
        detail.image_tags(),
        ["v1"],
        "an archived image keeps its tags"
    );

    // No face pulls it: BatchGetImage reports it, /v2/ answers 404 by tag and digest.
    let got = batch_get_image(&app.ecr, "arch/app", by_tag("v1")).await;
    assert!(got.images().is_empty());
    let failure = &got.failures()[0];
    assert_eq!(
        failure.failure_code().map(|c| c.as_str()),
        Some("ImageNotFound")
    );
    assert!(
        failure
            .failure_reason()
            .unwrap_or_default()
            .contains("archived"),
        "{failure:?}"
    );
    for reference in ["v1", digest.as_str()] {
        let path = format!("/v2/arch/app/manifests/{reference}");
        let r = registry.get(&path).await;
        r.assert_error(404, "MANIFEST_UNKNOWN");
        assert!(r.text().contains("archived"), "{}", r.text());
        assert_eq!(registry.head(&path).await.status, 404);
    }
    // Archiving again changes nothing.
    let again = app
        .move_image("arch/app", by_digest(&digest), TargetStorageClass::Archive)
        .await
        .expect("archive again");
    assert_eq!(again.image_status(), Some(&ImageStatus::Archived));

    let restored = app
        .move_image("arch/app", by_tag("v1"), TargetStorageClass::Standard)
        .await
        .expect("restore");
    assert_eq!(restored.image_status(), Some(&ImageStatus::Active));
    let detail = describe_image(&app.ecr, "arch/app", by_tag("v1")).await;
    assert_eq!(detail.image_status(), Some(&ImageStatus::Active));
    assert!(detail.last_archived_at().is_some());
    assert!(detail.last_activated_at().is_some());
    let got = batch_get_image(&app.ecr, "arch/app", by_tag("v1")).await;
    assert_eq!(got.images()[0].image_manifest(), Some(manifest.as_str()));
    let r = registry.get("/v2/arch/app/manifests/v1").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        manifest.as_bytes(),
        "the same bytes after a restore"
    );

    // An archived image can still be deleted.
    app.move_image("arch/app", by_tag("v1"), TargetStorageClass::Archive)
        .await
        .expect("archive");
    let deleted = app
        .ecr
        .batch_delete_image()
        .repository_name("arch/app")
        .image_ids(by_digest(&digest))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.image_ids().len(), 1);
    assert!(deleted.failures().is_empty());
}

async fn archived_images_are_listed_only_when_asked_for(app: TestApp) {
    app.create_repo("arch/list").await;
    let (_, kept) = app.push_image("arch/list", Some("kept"), 1).await;
    let (_, archived) = app.push_image("arch/list", Some("old"), 1).await;
    app.move_image(
        "arch/list",
        by_digest(&archived),
        TargetStorageClass::Archive,
    )
    .await
    .expect("archive");

    let described = |status: Option<ImageStatusFilter>| {
        let ecr = app.ecr.clone();
        async move {
            let filter = status.map(|s| DescribeImagesFilter::builder().image_status(s).build());
            let out = ecr
                .describe_images()
                .repository_name("arch/list")
                .set_filter(filter)
                .send()
                .await
                .expect("describe images");
            let mut digests: Vec<String> = out
                .image_details()
                .iter()
                .map(|d| d.image_digest().unwrap_or_default().to_owned())
                .collect();
            digests.sort();
            digests
        }
    };
    let listed = |status: Option<ImageStatusFilter>| {
        let ecr = app.ecr.clone();
        async move {
            let filter = status.map(|s| ListImagesFilter::builder().image_status(s).build());
            let out = ecr
                .list_images()
                .repository_name("arch/list")
                .set_filter(filter)
                .send()
                .await
                .expect("list images");
            let mut digests: Vec<String> = out
                .image_ids()
                .iter()
                .map(|i| i.image_digest().unwrap_or_default().to_owned())
                .collect();
            digests.sort();
            digests
        }
    };
    let mut both = vec![kept.clone(), archived.clone()];
    both.sort();
    // Without a status filter, ECR lists only active images.
    assert_eq!(described(None).await, [kept.as_str()]);
    assert_eq!(
        described(Some(ImageStatusFilter::Active)).await,
        [kept.as_str()]
    );
    assert_eq!(
        described(Some(ImageStatusFilter::Archived)).await,
        [archived.as_str()]
    );
    assert_eq!(described(Some(ImageStatusFilter::Any)).await, both);
    assert!(described(Some(ImageStatusFilter::Activating))
        .await
        .is_empty());
    assert_eq!(listed(None).await, [kept.as_str()]);
    assert_eq!(
        listed(Some(ImageStatusFilter::Archived)).await,
        [archived.as_str()]
    );
    assert_eq!(listed(Some(ImageStatusFilter::Any)).await, both);
}

async fn push_restores_an_archived_image(app: TestApp) {
    app.create_repo("arch/repush").await;
    let (manifest, digest) = app.push_image("arch/repush", Some("v1"), 1).await;
    app.move_image("arch/repush", by_tag("v1"), TargetStorageClass::Archive)
        .await
        .expect("archive");
    // The same manifest under the same tag, which would otherwise be "already exists".
    app.put_ok("arch/repush", &manifest, Some("v1")).await;
    let detail = describe_image(&app.ecr, "arch/repush", by_digest(&digest)).await;
    assert_eq!(detail.image_status(), Some(&ImageStatus::Active));
    assert!(detail.last_activated_at().is_some());

    // Through /v2/ as well, untagged this time.
    app.move_image("arch/repush", by_tag("v1"), TargetStorageClass::Archive)
        .await
        .expect("archive");
    let registry = Registry::login(&app).await;
    let r = registry
        .put_manifest("arch/repush", &digest, OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let got = batch_get_image(&app.ecr, "arch/repush", by_tag("v1")).await;
    assert_eq!(got.images().len(), 1, "{:?}", got.failures());
}

async fn what_cannot_be_archived(app: TestApp) {
    app.create_repo("arch/kinds").await;
    let image = app
        .push_blobs("arch/kinds", Image::new(Format::Oci, &[512]))
        .await;
    app.put_ok("arch/kinds", &image.manifest, None).await;
    let index = Manifest::index(OCI_INDEX, [image.entry()]).to_string();
    let index_digest = app.put_ok("arch/kinds", &index, Some("multi")).await;

    // An index, and an image an index lists.
    for (id, what) in [
        (by_digest(&index_digest), "index"),
        (by_digest(&image.digest), "image listed by an index"),
    ] {
        let err = assert_code(
            app.move_image("arch/kinds", id, TargetStorageClass::Archive)
                .await,
            "ImageStorageClassUpdateNotSupportedException",
            what,
        );
        assert!(format!("{err:?}").contains("cannot be archived"), "{err:?}");
    }

    // An artifact: a signature-like manifest with a subject and its own config type.
    let config = app.push_blob("arch/kinds", b"{}").await;
    let artifact = Manifest::image(
        OCI_MANIFEST,
        Descriptor::new("application/vnd.example.sig.config+json", &config, 2),
        [],
    )
    .subject(Descriptor::new(
        OCI_MANIFEST,
        &image.digest,
        image.manifest.len(),
    ))
    .to_string();
    let artifact_digest = app.put_ok("arch/kinds", &artifact, None).await;
    assert_code(
        app.move_image(
            "arch/kinds",
            by_digest(&artifact_digest),
            TargetStorageClass::Archive,
        )
        .await,
        "ImageStorageClassUpdateNotSupportedException",
        "artifact",
    );
    // Nothing was archived.
    let got = batch_get_image(&app.ecr, "arch/kinds", by_tag("multi")).await;
    assert_eq!(got.images().len(), 1);
}

async fn storage_class_errors(app: TestApp) {
    app.create_repo("arch/errors").await;
    app.push_image("arch/errors", Some("v1"), 1).await;
    assert_code(
        app.move_image("arch/errors", by_tag("nope"), TargetStorageClass::Archive)
            .await,
        "ImageNotFoundException",
        "unknown tag",
    );
    assert_code(
        app.move_image("arch/none", by_tag("v1"), TargetStorageClass::Archive)
            .await,
        "RepositoryNotFoundException",
        "unknown repository",
    );
    assert_code(
        app.move_image(
            "arch/errors",
            by_tag("v1"),
            TargetStorageClass::from("COLD"),
        )
        .await,
        "InvalidParameterException",
        "unknown storage class",
    );
    assert_code(
        app.move_image(
            "arch/errors",
            aws_sdk_ecr::types::ImageIdentifier::builder().build(),
            TargetStorageClass::Archive,
        )
        .await,
        "InvalidParameterException",
        "no digest and no tag",
    );
    let detail = describe_image(&app.ecr, "arch/errors", by_tag("v1")).await;
    assert_eq!(detail.image_status(), Some(&ImageStatus::Active));
}
