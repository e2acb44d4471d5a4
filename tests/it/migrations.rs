//! A store written by an earlier release upgrades in place: every migration after
//! the first runs over real data, which stays whole and usable, on both dialects.

use std::borrow::Cow;

use sqlx::{AnyPool, Row};

use crate::fixtures::{
    batch_get_image, by_tag, describe_repository, put_image, Descriptor, Manifest, OCI_CONFIG,
    OCI_MANIFEST,
};
use crate::helpers::{
    fresh_postgres_database, sha256, spawn_app_on, Backend, ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_from_0001_upgrades_with_its_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("berth.db").display()
    );
    let seeded = seed_at_first_migration(&url, sqlx::migrate!("migrations/sqlite")).await;
    let app = spawn_app_on(Backend::Sqlite, dir, None, |_| {}).await;
    check_upgraded(&app, &seeded).await;

    // The rebuilt tables reference the final tables, not the rebuild's scaffolding.
    let pool = AnyPool::connect(&url).await.expect("reopen");
    for (table, parents) in [
        ("tags", vec!["manifests", "repositories"]),
        ("manifest_references", vec!["manifests"]),
        ("manifests", vec!["repositories"]),
        ("uploads", vec!["repositories"]),
        ("upload_parts", vec!["uploads"]),
        ("resource_tags", vec!["repositories"]),
        ("repository_blobs", vec!["blobs", "repositories"]),
    ] {
        let mut found: Vec<String> = sqlx::query(&format!(
            "SELECT \"table\" FROM pragma_foreign_key_list('{table}')"
        ))
        .fetch_all(&pool)
        .await
        .expect("foreign keys")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        found.sort();
        assert_eq!(found, parents, "{table}");
    }
    // A push's two busiest tables are their primary keys' B-trees (migration 0019).
    for table in ["tags", "manifest_references"] {
        let sql: String = sqlx::query("SELECT sql FROM sqlite_master WHERE name = $1")
            .bind(table)
            .fetch_one(&pool)
            .await
            .expect("table")
            .get(0);
        assert!(sql.ends_with("WITHOUT ROWID"), "{table}: {sql}");
    }
    let violations = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .expect("check");
    assert!(violations.is_empty());
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_from_0001_upgrades_with_its_data() {
    let url = fresh_postgres_database().await;
    let seeded = seed_at_first_migration(&url, sqlx::migrate!("migrations/postgres")).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app_on(Backend::Postgres, dir, Some(url), |_| {}).await;
    check_upgraded(&app, &seeded).await;
}

struct Seeded {
    manifest: String,
    digest: String,
    layer: String,
}

/// Applies only migration 0001 and writes, as release 0001 did, a repository with a
/// resource tag, a blob, a tagged image and an open upload.
async fn seed_at_first_migration(url: &str, mut migrator: sqlx::migrate::Migrator) -> Seeded {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.expect("connect");
    migrator.migrations = Cow::Owned(migrator.migrations[..1].to_vec());
    migrator.run(&pool).await.expect("migration 0001");

    let layer_bytes = b"a layer from the old days";
    let layer = sha256(layer_bytes);
    let config = Descriptor::new(OCI_CONFIG, &layer, layer_bytes.len());
    let manifest = Manifest::image(OCI_MANIFEST, config, []).to_string();
    let digest = sha256(manifest.as_bytes());
    let statements: Vec<(&str, Vec<Value>)> = vec![
        (
            "INSERT INTO repositories (id, registry_id, name, created_at, tag_mutability) VALUES (7, $1, 'legacy/app', 1700000000000, 'IMMUTABLE')",
            vec![Value::Text(ACCOUNT.into())],
        ),
        (
            "INSERT INTO resource_tags (repository_id, key, value) VALUES (7, 'team', 'old')",
            vec![],
        ),
        (
            "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, 1700000000000)",
            vec![Value::Text(layer.clone()), Value::Int(layer_bytes.len() as i64)],
        ),
        (
            "INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (7, $1, 1700000000000)",
            vec![Value::Text(layer.clone())],
        ),
        (
            "INSERT INTO manifests (id, repository_id, digest, media_type, body, image_size, pushed_at) VALUES (11, 7, $1, 'application/vnd.oci.image.manifest.v1+json', $2, $3, 1700000000000)",
            vec![
                Value::Text(digest.clone()),
                Value::Bytes(manifest.clone().into_bytes()),
                Value::Int(layer_bytes.len() as i64),
            ],
        ),
        (
            "INSERT INTO manifest_references (manifest_id, child_digest, is_manifest, media_type) VALUES (11, $1, 0, 'application/vnd.oci.image.config.v1+json')",
            vec![Value::Text(layer.clone())],
        ),
        (
            "INSERT INTO tags (repository_id, tag, manifest_id, updated_at) VALUES (7, 'v1', 11, 1700000000000)",
            vec![],
        ),
        (
            "INSERT INTO uploads (id, repository_id, created_at) VALUES ('0b9e3c1e-0000-4000-8000-000000000001', 7, 1700000000000)",
            vec![],
        ),
    ];
    for (sql, binds) in statements {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = match b {
                Value::Text(t) => q.bind(t),
                Value::Int(i) => q.bind(i),
                Value::Bytes(b) => q.bind(b),
            };
        }
        q.execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    move_sequences_past_seeded_ids(&pool, url).await;
    pool.close().await;
    Seeded {
        manifest,
        digest,
        layer,
    }
}

enum Value {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
}

async fn check_upgraded(app: &crate::helpers::TestApp, seeded: &Seeded) {
    let repo = describe_repository(&app.ecr, "legacy/app").await;
    assert_eq!(
        repo.repository_arn(),
        Some(format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/legacy/app").as_str())
    );
    assert_eq!(
        repo.image_tag_mutability().map(|m| m.as_str()),
        Some("IMMUTABLE")
    );
    let got = batch_get_image(&app.ecr, "legacy/app", by_tag("v1")).await;
    assert_eq!(
        got.images()[0].image_manifest(),
        Some(seeded.manifest.as_str())
    );
    assert_eq!(
        got.images()[0].image_id().and_then(|i| i.image_digest()),
        Some(seeded.digest.as_str())
    );
    let tags = app
        .ecr
        .list_tags_for_resource()
        .resource_arn(repo.repository_arn().expect("arn"))
        .send()
        .await
        .expect("tags");
    assert_eq!(tags.tags()[0].key(), "team");
    let layers = app
        .ecr
        .batch_check_layer_availability()
        .repository_name("legacy/app")
        .layer_digests(&seeded.layer)
        .send()
        .await
        .expect("layers");
    assert_eq!(layers.layers().len(), 1);
    // The immutable tag still holds.
    let other = app.image_manifest("legacy/app", 1).await;
    let refused = put_image(&app.ecr, "legacy/app", &other, Some("v1")).await;
    assert!(refused.is_err());
    put_image(&app.ecr, "legacy/app", &other, Some("v2"))
        .await
        .expect("new images go in beside the old");

    // The public namespace is new, and a namesake there is another repository.
    app.ecr_public
        .create_repository()
        .repository_name("legacy/app")
        .send()
        .await
        .expect("public namesake");
    // Deleting cascades through the rebuilt references.
    app.ecr
        .delete_repository()
        .repository_name("legacy/app")
        .force(true)
        .send()
        .await
        .expect("delete");
    let images = app
        .ecr_public
        .describe_images()
        .repository_name("legacy/app")
        .send()
        .await
        .expect("the public namesake is untouched");
    assert!(images.image_details().is_empty());
}

/// A store written by the release before regions (migration 0007) keeps its
/// repositories in the configured region, its public ones where ECR Public lives, and
/// SQLite's rebuilt table keeps every reference to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_from_0007_moves_into_the_configured_region() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("berth.db").display()
    );
    let manifest = seed_before_regions(&url, sqlx::migrate!("migrations/sqlite")).await;
    let app = spawn_app_on(Backend::Sqlite, dir, None, |c| {
        c.store.region = berth::domain::Region::parse(HOME).expect("region")
    })
    .await;
    check_regions(&app, &manifest).await;
    let pool = AnyPool::connect(&url).await.expect("reopen");
    let violations = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .expect("check");
    assert!(violations.is_empty());
    let parents: Vec<String> =
        sqlx::query("SELECT \"table\" FROM pragma_foreign_key_list('manifests')")
            .fetch_all(&pool)
            .await
            .expect("foreign keys")
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
    assert_eq!(parents, ["repositories"]);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_from_0007_moves_into_the_configured_region() {
    let url = fresh_postgres_database().await;
    let manifest = seed_before_regions(&url, sqlx::migrate!("migrations/postgres")).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app_on(Backend::Postgres, dir, Some(url), |c| {
        c.store.region = berth::domain::Region::parse(HOME).expect("region")
    })
    .await;
    check_regions(&app, &manifest).await;
}

/// The region the upgraded store is configured with.
const HOME: &str = "us-west-2";

/// Applies migrations 0001 to 0007 and writes a private repository with a tagged image
/// and a public namesake, as that release did; returns the image's manifest.
async fn seed_before_regions(url: &str, mut migrator: sqlx::migrate::Migrator) -> String {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.expect("connect");
    migrator.migrations = Cow::Owned(migrator.migrations[..7].to_vec());
    migrator.run(&pool).await.expect("migrations 0001-0007");
    let layer_bytes = b"a layer from before regions";
    let layer = sha256(layer_bytes);
    let config = Descriptor::new(OCI_CONFIG, &layer, layer_bytes.len());
    let manifest = Manifest::image(OCI_MANIFEST, config, []).to_string();
    let digest = sha256(manifest.as_bytes());
    for (sql, text) in [
        ("INSERT INTO repositories (id, registry_id, namespace, name, created_at, tag_mutability) VALUES (7, $1, 'private', 'legacy/app', 1700000000000, 'MUTABLE')", ACCOUNT.to_owned()),
        ("INSERT INTO repositories (id, registry_id, namespace, name, created_at, tag_mutability) VALUES (8, $1, 'public', 'legacy/app', 1700000000000, 'MUTABLE')", ACCOUNT.to_owned()),
        ("INSERT INTO blobs (digest, size, created_at) VALUES ($1, 27, 1700000000000)", layer.clone()),
        ("INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (7, $1, 1700000000000)", layer.clone()),
    ] {
        sqlx::query(sql).bind(text).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    sqlx::query("INSERT INTO manifests (id, repository_id, digest, media_type, body, image_size, pushed_at) VALUES (11, 7, $1, 'application/vnd.oci.image.manifest.v1+json', $2, 27, 1700000000000)")
        .bind(&digest)
        .bind(manifest.clone().into_bytes())
        .execute(&pool)
        .await
        .expect("manifest");
    for sql in [
        format!("INSERT INTO manifest_references (manifest_id, child_digest, is_manifest, media_type) VALUES (11, '{layer}', 0, '{OCI_CONFIG}')"),
        "INSERT INTO tags (repository_id, tag, manifest_id, updated_at) VALUES (7, 'v1', 11, 1700000000000)".to_owned(),
    ] {
        sqlx::query(&sql).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    move_sequences_past_seeded_ids(&pool, url).await;
    pool.close().await;
    manifest
}

async fn check_regions(app: &crate::helpers::TestApp, manifest: &str) {
    let home = crate::helpers::ecr_client_in(&app.url, ACCESS_KEY, SECRET_KEY, HOME);
    let repo = describe_repository(&home, "legacy/app").await;
    assert_eq!(
        repo.repository_arn(),
        Some(format!("arn:aws:ecr:{HOME}:{ACCOUNT}:repository/legacy/app").as_str())
    );
    let got = batch_get_image(&home, "legacy/app", by_tag("v1")).await;
    assert_eq!(got.images()[0].image_manifest(), Some(manifest));
    // The region the test app's client signs for holds none of it.
    let elsewhere = app
        .ecr
        .describe_repositories()
        .send()
        .await
        .expect("describe");
    assert!(elsewhere.repositories().is_empty());
    let public = app
        .ecr_public
        .describe_repositories()
        .send()
        .await
        .expect("public");
    assert_eq!(public.repositories().len(), 1);
    // Names are now unique per region: the same name again in another region.
    app.ecr
        .create_repository()
        .repository_name("legacy/app")
        .send()
        .await
        .expect("a namesake in another region");
}

/// Postgres sequences must move past the explicit ids the seeds wrote, as they would
/// have.
async fn move_sequences_past_seeded_ids(pool: &AnyPool, url: &str) {
    if url.starts_with("postgres") {
        for table in ["repositories", "manifests"] {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            ))
            .execute(pool)
            .await
            .expect("setval");
        }
    }
}
