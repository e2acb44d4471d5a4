//! Private image replication between registries of one berth: the configuration
//! through PutReplicationConfiguration and DescribeRegistry (with ECR's refusals),
//! pushes copied byte for byte to another region and to another account (allowed by
//! its registry policy, refused without one), filters, the destination's REPLICATION
//! template, the statuses, and queued copies surviving a restart.

use std::time::Duration;

use aws_sdk_ecr::types::{
    ImageTagMutability, RctAppliedFor, ReplicationConfiguration, ReplicationDestination,
    ReplicationRule, ReplicationStatus, RepositoryFilter, RepositoryFilterType,
};
use berth::service::{ReplicationRun, Service};

use crate::both_stores;
use crate::fixtures::world::{World, OTHER, WEST};
use crate::two_accounts;
use serde_json::json;

use crate::fixtures::{
    assert_code, batch_get_image, by_digest, by_tag, describe_repository, layer_download_url,
    Format, Image, Manifest, OCI_INDEX,
};
use crate::helpers::{
    ecr_client_in, spawn_app_on, spawn_app_with, Backend, TestApp, ACCESS_KEY, ACCOUNT, REGION,
    SECRET_KEY,
};

/// The world, with a schedule that leaves the copies to the test (the job runs once at
/// start-up, before anything is queued).
async fn world(backend: Backend) -> World {
    World::with(backend, |c| {
        c.jobs.replication_interval = Duration::from_secs(3600)
    })
    .await
}

pub(crate) fn destination(account: &str, region: &str) -> ReplicationDestination {
    ReplicationDestination::builder()
        .region(region)
        .registry_id(account)
        .build()
        .expect("destination")
}

fn prefix(filter: &str) -> RepositoryFilter {
    RepositoryFilter::builder()
        .filter(filter)
        .filter_type(RepositoryFilterType::PrefixMatch)
        .build()
        .expect("filter")
}

pub(crate) fn rule(destinations: Vec<ReplicationDestination>, filters: &[&str]) -> ReplicationRule {
    let filters = (!filters.is_empty()).then(|| filters.iter().map(|f| prefix(f)).collect());
    ReplicationRule::builder()
        .set_destinations(Some(destinations))
        .set_repository_filters(filters)
        .build()
        .expect("rule")
}

fn configuration(rules: Vec<ReplicationRule>) -> ReplicationConfiguration {
    ReplicationConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .expect("configuration")
}

pub(crate) async fn put_configuration(app: &TestApp, rules: Vec<ReplicationRule>) {
    app.ecr
        .put_replication_configuration()
        .replication_configuration(configuration(rules))
        .send()
        .await
        .expect("put replication configuration");
}

/// Runs the replication job now, as the schedule would.
async fn replicate_now(app: &TestApp) -> ReplicationRun {
    run_job(&app.service().await).await
}

/// Runs the replication job on `service` now.
pub(crate) async fn run_job(service: &Service) -> ReplicationRun {
    for _ in 0..100 {
        if let Some(run) = service
            .run_replication_job()
            .await
            .expect("replication run")
        {
            return run;
        }
        // The app's own start-up run holds the lease a moment.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the replication job's lease stayed taken");
}

/// (account, region, status, failure code) per destination, sorted.
pub(crate) async fn statuses(
    app: &TestApp,
    repo: &str,
    id: aws_sdk_ecr::types::ImageIdentifier,
) -> Vec<(String, String, String, Option<String>)> {
    let out = app
        .ecr
        .describe_image_replication_status()
        .repository_name(repo)
        .image_id(id)
        .send()
        .await
        .expect("describe image replication status");
    assert_eq!(out.repository_name(), Some(repo));
    let mut all: Vec<_> = out
        .replication_statuses()
        .iter()
        .map(|s| {
            (
                s.registry_id().unwrap_or_default().to_owned(),
                s.region().unwrap_or_default().to_owned(),
                s.status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                s.failure_code().map(str::to_owned),
            )
        })
        .collect();
    all.sort();
    all
}

pub(crate) fn status(
    account: &str,
    region: &str,
    status: ReplicationStatus,
) -> (String, String, String, Option<String>) {
    (account.into(), region.into(), status.as_str().into(), None)
}

/// Pushes `image`'s blobs and manifest to `repo` of the app's own registry.
pub(crate) async fn push(app: &TestApp, repo: &str, image: &Image, tag: Option<&str>) -> String {
    for blob in image.blobs() {
        app.push_blob(repo, blob).await;
    }
    app.put_ok(repo, &image.manifest, tag).await
}

/// The image `id` names at the destination is the same manifest under the same
/// digest, and each of `blobs` downloads there byte for byte.
async fn assert_replica(
    client: &aws_sdk_ecr::Client,
    repo: &str,
    id: aws_sdk_ecr::types::ImageIdentifier,
    manifest: &str,
    digest: &str,
    blobs: &[&[u8]],
) {
    let got = batch_get_image(client, repo, id).await;
    assert!(got.failures().is_empty(), "{:?}", got.failures());
    let image = &got.images()[0];
    assert_eq!(image.image_manifest(), Some(manifest));
    assert_eq!(
        image.image_id().and_then(|i| i.image_digest()),
        Some(digest)
    );
    for blob in blobs {
        let layer = crate::helpers::sha256(blob);
        let url = layer_download_url(client, repo, &layer).await;
        let bytes = reqwest::get(&url)
            .await
            .expect("download")
            .bytes()
            .await
            .expect("body");
        assert_eq!(&bytes[..], *blob, "layer {layer}");
    }
}

async fn configuration_round_trip_and_errors(app: TestApp) {
    let described = app.ecr.describe_registry().send().await.expect("describe");
    assert_eq!(described.registry_id(), Some(ACCOUNT));
    let empty = described
        .replication_configuration()
        .expect("configuration");
    assert!(empty.rules().is_empty());

    let rules = vec![
        rule(vec![destination(ACCOUNT, WEST)], &["prod", "team/ops"]),
        rule(
            vec![destination(OTHER, REGION), destination(OTHER, WEST)],
            &[],
        ),
    ];
    let put = app
        .ecr
        .put_replication_configuration()
        .replication_configuration(configuration(rules.clone()))
        .send()
        .await
        .expect("put");
    assert_eq!(
        put.replication_configuration(),
        Some(&configuration(rules.clone()))
    );
    let described = app.ecr.describe_registry().send().await.expect("describe");
    assert_eq!(
        described.replication_configuration(),
        Some(&configuration(rules.clone()))
    );
    // Another region of the account has its own configuration.
    let west = ecr_client_in(&app.url, ACCESS_KEY, SECRET_KEY, WEST);
    let other = west
        .describe_registry()
        .send()
        .await
        .expect("describe west");
    assert!(other
        .replication_configuration()
        .expect("configuration")
        .rules()
        .is_empty());

    let refused = |rules: Vec<ReplicationRule>| {
        app.ecr
            .put_replication_configuration()
            .replication_configuration(configuration(rules))
            .send()
    };
    // The source registry itself, even among other destinations.
    let own = vec![rule(
        vec![destination(ACCOUNT, WEST), destination(ACCOUNT, REGION)],
        &[],
    )];
    assert_code(
        refused(own).await,
        "InvalidParameterException",
        "the source",
    );
    let eleven = vec![rule(vec![destination(ACCOUNT, WEST)], &[]); 11];
    assert_code(
        refused(eleven).await,
        "InvalidParameterException",
        "11 rules",
    );
    let accounts: Vec<_> = (0..26)
        .map(|i| destination(&format!("{:012}", 300_000 + i), WEST))
        .collect();
    let many = vec![
        rule(accounts[..13].to_vec(), &[]),
        rule(accounts[13..].to_vec(), &[]),
    ];
    assert_code(
        refused(many).await,
        "InvalidParameterException",
        "26 destinations",
    );
    let bad_filter = vec![rule(vec![destination(ACCOUNT, WEST)], &["Upper"])];
    assert_code(
        refused(bad_filter).await,
        "InvalidParameterException",
        "a bad filter",
    );
    let bad_type = ReplicationRule::builder()
        .destinations(destination(ACCOUNT, WEST))
        .repository_filters(
            RepositoryFilter::builder()
                .filter("prod")
                .filter_type(RepositoryFilterType::from("SUFFIX_MATCH"))
                .build()
                .expect("filter"),
        )
        .build()
        .expect("rule");
    assert_code(
        refused(vec![bad_type]).await,
        "InvalidParameterException",
        "a filter type",
    );
    let bad_account = vec![rule(vec![destination("12345", WEST)], &[])];
    assert_code(
        refused(bad_account).await,
        "InvalidParameterException",
        "an account",
    );
    // Nothing refused changed the configuration.
    let described = app.ecr.describe_registry().send().await.expect("describe");
    assert_eq!(
        described.replication_configuration(),
        Some(&configuration(rules))
    );
    // No rules: replication is off again.
    put_configuration(&app, Vec::new()).await;
    let described = app.ecr.describe_registry().send().await.expect("describe");
    assert!(described
        .replication_configuration()
        .expect("configuration")
        .rules()
        .is_empty());
}

async fn replicates_to_regions_and_accounts(w: World) {
    let app = &w.app;
    // The second account lets the first replicate into us-east-1 only.
    let allow = json!({"Version": "2012-10-17", "Statement": [{"Sid": "replication", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": [format!("arn:aws:ecr:{REGION}:{OTHER}:repository/*")]}]});
    w.bob
        .put_registry_policy()
        .policy_text(allow.to_string())
        .send()
        .await
        .expect("registry policy");
    put_configuration(
        app,
        vec![rule(
            vec![
                destination(ACCOUNT, WEST),
                destination(OTHER, REGION),
                destination(OTHER, WEST),
            ],
            &[],
        )],
    )
    .await;
    app.create_repo("team/app").await;
    let image = Image::new(Format::Oci, &[2048, 1024]);
    let digest = push(app, "team/app", &image, Some("v1")).await;
    // An index over two images pushed untagged: its children go first.
    let (a, b) = (
        Image::new(Format::Oci, &[512]),
        Image::new(Format::Oci, &[512]),
    );
    push(app, "team/app", &a, None).await;
    push(app, "team/app", &b, None).await;
    let index = Manifest::index(OCI_INDEX, [a.entry(), b.entry()]).to_string();
    let index_digest = app.put_ok("team/app", &index, Some("multi")).await;

    let mut queued = vec![
        status(OTHER, REGION, ReplicationStatus::InProgress),
        status(OTHER, WEST, ReplicationStatus::InProgress),
        status(ACCOUNT, WEST, ReplicationStatus::InProgress),
    ];
    queued.sort();
    assert_eq!(statuses(app, "team/app", by_tag("v1")).await, queued);
    // Nothing is visible at a destination before the job copies it.
    assert_code(
        w.a_west
            .describe_repositories()
            .repository_names("team/app")
            .send()
            .await,
        "RepositoryNotFoundException",
        "before the copy",
    );

    let run = replicate_now(app).await;
    // Four pushes to three destinations; the second account's us-west-2 refuses all.
    assert_eq!((run.completed, run.failed, run.retrying), (8, 4, 0));
    let mut done = vec![
        status(OTHER, REGION, ReplicationStatus::Complete),
        (
            OTHER.into(),
            WEST.into(),
            ReplicationStatus::Failed.as_str().into(),
            Some("ACCESS_DENIED".into()),
        ),
        status(ACCOUNT, WEST, ReplicationStatus::Complete),
    ];
    done.sort();
    assert_eq!(statuses(app, "team/app", by_tag("v1")).await, done);
    assert_eq!(
        statuses(app, "team/app", by_digest(&index_digest)).await,
        done
    );
    assert_eq!(statuses(app, "team/app", by_digest(&a.digest)).await, done);

    let blobs: Vec<&[u8]> = image.blobs().collect();
    for client in [&w.a_west, &w.bob] {
        assert_replica(
            client,
            "team/app",
            by_tag("v1"),
            &image.manifest,
            &digest,
            &blobs,
        )
        .await;
        assert_replica(
            client,
            "team/app",
            by_tag("multi"),
            &index,
            &index_digest,
            &[],
        )
        .await;
        for child in [&a, &b] {
            let blobs: Vec<&[u8]> = child.blobs().collect();
            let id = by_digest(&child.digest);
            assert_replica(
                client,
                "team/app",
                id,
                &child.manifest,
                &child.digest,
                &blobs,
            )
            .await;
        }
    }
    // The refused destination got nothing, not even the repository.
    assert_code(
        w.bob_west
            .describe_repositories()
            .repository_names("team/app")
            .send()
            .await,
        "RepositoryNotFoundException",
        "the refused destination",
    );
    // Deletes are not replicated.
    app.ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(by_tag("v1"))
        .send()
        .await
        .expect("delete at the source");
    replicate_now(app).await;
    let kept = batch_get_image(&w.a_west, "team/app", by_tag("v1")).await;
    assert_eq!(kept.images().len(), 1);
    // The repository the copy created has the defaults.
    let created = describe_repository(&w.bob, "team/app").await;
    assert_eq!(
        created.image_tag_mutability(),
        Some(&ImageTagMutability::Mutable)
    );
    // Status of an image that is not there.
    assert_code(
        app.ecr
            .describe_image_replication_status()
            .repository_name("team/app")
            .image_id(by_tag("nope"))
            .send()
            .await,
        "ImageNotFoundException",
        "a missing image",
    );
    assert_code(
        app.ecr
            .describe_image_replication_status()
            .repository_name("nowhere")
            .image_id(by_tag("v1"))
            .send()
            .await,
        "RepositoryNotFoundException",
        "a missing repository",
    );
}

async fn filters_and_the_destination_template(w: World) {
    let app = &w.app;
    // The destination's REPLICATION template for prod/ makes tags immutable.
    w.a_west
        .create_repository_creation_template()
        .prefix("prod")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .applied_for(RctAppliedFor::Replication)
        .send()
        .await
        .expect("template");
    put_configuration(app, vec![rule(vec![destination(ACCOUNT, WEST)], &["prod"])]).await;
    for repo in ["prod/api", "dev/api"] {
        app.create_repo(repo).await;
        push(app, repo, &Image::new(Format::Oci, &[256]), Some("v1")).await;
    }
    assert_eq!(
        statuses(app, "prod/api", by_tag("v1")).await,
        vec![status(ACCOUNT, WEST, ReplicationStatus::InProgress)]
    );
    assert!(statuses(app, "dev/api", by_tag("v1")).await.is_empty());
    let run = replicate_now(app).await;
    assert_eq!((run.completed, run.failed), (1, 0));
    assert_eq!(
        statuses(app, "prod/api", by_tag("v1")).await,
        vec![status(ACCOUNT, WEST, ReplicationStatus::Complete)]
    );
    let created = describe_repository(&w.a_west, "prod/api").await;
    assert_eq!(
        created.image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );
    assert_code(
        w.a_west
            .describe_repositories()
            .repository_names("dev/api")
            .send()
            .await,
        "RepositoryNotFoundException",
        "a filtered-out repository",
    );
    // Another image under the same tag: the immutable replica's tag refuses it.
    push(
        app,
        "prod/api",
        &Image::new(Format::Oci, &[256]),
        Some("v1"),
    )
    .await;
    replicate_now(app).await;
    assert_eq!(
        statuses(app, "prod/api", by_tag("v1")).await,
        vec![(
            ACCOUNT.into(),
            WEST.into(),
            ReplicationStatus::Failed.as_str().into(),
            Some("IMAGE_TAG_IMMUTABLE".into())
        )]
    );
}

/// Copies queued by one process are made by the next one on the same store.
async fn queued_copies_survive_a_restart(backend: Backend) {
    let first = spawn_app_with(backend, |c| {
        c.jobs.replication_interval = Duration::from_secs(3600);
    })
    .await;
    put_configuration(&first, vec![rule(vec![destination(ACCOUNT, WEST)], &[])]).await;
    first.create_repo("kept").await;
    let image = Image::new(Format::Docker, &[4096]);
    let digest = push(&first, "kept", &image, Some("v1")).await;
    assert_eq!(
        statuses(&first, "kept", by_tag("v1")).await,
        vec![status(ACCOUNT, WEST, ReplicationStatus::InProgress)]
    );
    // The first process runs its job again only in an hour; the next one runs it as
    // it starts.
    let TestApp {
        data_dir,
        database_url,
        ..
    } = first;
    let second = spawn_app_on(backend, data_dir, database_url, |c| {
        c.jobs.replication_interval = Duration::from_millis(200);
    })
    .await;
    let complete = vec![status(ACCOUNT, WEST, ReplicationStatus::Complete)];
    for _ in 0..100 {
        if statuses(&second, "kept", by_tag("v1")).await == complete {
            let west = ecr_client_in(&second.url, ACCESS_KEY, SECRET_KEY, WEST);
            let blobs: Vec<&[u8]> = image.blobs().collect();
            assert_replica(
                &west,
                "kept",
                by_tag("v1"),
                &image.manifest,
                &digest,
                &blobs,
            )
            .await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the restarted process did not make the queued copy");
}

two_accounts!(
    replicates_to_regions_and_accounts,
    filters_and_the_destination_template,
);

both_stores!(configuration_round_trip_and_errors);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_copies_survive_a_restart_sqlite() {
    queued_copies_survive_a_restart(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_copies_survive_a_restart_postgres() {
    queued_copies_survive_a_restart(Backend::Postgres).await
}
