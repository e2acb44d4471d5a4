//! Image scanning through the SDK, boto3 and the aws CLI: the registry's scanning
//! configuration and what it makes of each repository; images built here from real
//! tar layers (a Debian image with dpkg metadata and language packages, an Alpine
//! image, an RPM image whose rpmdb.sqlite holds real CBL-Mariner headers) scanned on
//! push, on request and continuously, against the OSV fixture in
//! tests/fixtures/scan/osv; the findings are checked exactly.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use aws_sdk_ecr::types::{
    FindingSeverity, ImageIdentifier, ImageScanningConfiguration, RegistryScanningRule,
    ScanFrequency, ScanStatus, ScanType, ScanningRepositoryFilter, ScanningRepositoryFilterType,
};
use berth::service::ScanRun;
use sqlx::ConnectOptions as _;

use crate::both_stores;
use crate::cli::{aws, boto3};
use crate::fixtures::{assert_code, by_digest, by_tag, Format, Image, Manifest, OCI_INDEX};
use crate::helpers::{spawn_app_with, Backend, TestApp, REGION};

both_stores!(configuration_and_repository_frequencies);
both_stores!(with super::spawn: basic_scans_on_push, manual_scans_and_their_errors,
    enhanced_scans_rescan_when_the_database_changes, replicas_follow_the_destinations_rules);
both_stores!(with super::spawn_scanning_every_second: boto3_and_the_aws_cli);
both_stores!(scans_without_a_database);

/// Where the app's vulnerability database is: beside its data.
fn db_dir(app: &TestApp) -> PathBuf {
    app.data_dir.path().join("vuln-db")
}

/// An app scanning against a copy of the OSV fixture, with a schedule that leaves the
/// scans to the test (the job runs once at start-up, before anything is queued).
async fn spawn(backend: Backend) -> TestApp {
    spawn_scanning_every(backend, Duration::from_secs(3600)).await
}

/// The same, with the app's own schedule scanning every second (for clients that
/// wait for scans).
async fn spawn_scanning_every_second(backend: Backend) -> TestApp {
    spawn_scanning_every(backend, Duration::from_secs(1)).await
}

async fn spawn_scanning_every(backend: Backend, interval: Duration) -> TestApp {
    let app = spawn_app_with(backend, |c| {
        c.vuln_db = Some(c.store.data_dir.join("vuln-db"));
        c.jobs.scan_interval = interval;
    })
    .await;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan/osv");
    copy_dir(&fixture, &db_dir(&app));
    app
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Runs the scanning job now, as the schedule would, with the app's database.
async fn scan_now(app: &TestApp) -> ScanRun {
    let service = app.service_scanning_with(&db_dir(app)).await;
    for _ in 0..100 {
        if let Some(run) = service.run_scanning_job().await.expect("scanning run") {
            return run;
        }
        // The app's own start-up run holds the lease a moment.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the scanning job's lease stayed taken");
}

// ---- layers -------------------------------------------------------------------------

/// A tar layer of (path, mode, contents) files.
fn tar(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, *data)
            .expect("tar entry");
    }
    builder.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

const DPKG_STATUS: &str = "\
Package: libssl3
Status: install ok installed
Source: openssl
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1+b1

Package: bash
Status: install ok installed
Version: 5.2.15-2+b2
";

/// A Debian 12 image: dpkg's status file in a gzip layer; an npm lockfile and a
/// Python package (read by ENHANCED scans only) in a zstd one; a plain tar on top.
fn debian_image() -> Image {
    let base = tar(&[
        ("etc/os-release", 0o644, b"ID=debian\nVERSION_ID=\"12\"\n"),
        ("var/lib/dpkg/status", 0o644, DPKG_STATUS.as_bytes()),
    ]);
    let app = tar(&[
        (
            "app/package-lock.json",
            0o644,
            br#"{"lockfileVersion":3,"packages":{"":{"name":"app"},"node_modules/lodash":{"version":"4.17.20"}}}"#,
        ),
        (
            "usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA",
            0o644,
            b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\n",
        ),
    ]);
    let top = tar(&[("home/notes.txt", 0o644, b"plain")]);
    Image::over(
        Format::Oci,
        vec![
            gzip(&base),
            zstd::encode_all(app.as_slice(), 3).expect("zstd"),
            top,
        ],
    )
}

fn alpine_image() -> Image {
    let installed =
        b"C:Q1=\nP:libcrypto3\nV:3.1.4-r1\no:openssl\n\nP:busybox\nV:1.36.1-r15\no:busybox\n\n";
    let layer = tar(&[
        (
            "etc/os-release",
            0o644,
            b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n",
        ),
        ("lib/apk/db/installed", 0o644, installed),
    ]);
    Image::over(Format::Docker, vec![gzip(&layer)])
}

/// A Rocky Linux 9 image whose rpmdb.sqlite holds three package headers taken from a
/// real image (libssh2, xz-libs, zstd-libs), as rpm writes the database.
async fn rpm_image() -> Image {
    let headers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan/rpm");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rpmdb.sqlite");
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .expect("options")
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .expect("rpmdb");
    sqlx::query(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .expect("table");
    for name in ["libssh2", "xz-libs", "zstd-libs"] {
        let blob = std::fs::read(headers.join(format!("{name}.hdr"))).expect("header");
        sqlx::query("INSERT INTO Packages (blob) VALUES (?)")
            .bind(blob)
            .execute(&mut conn)
            .await
            .expect("insert");
    }
    drop(conn);
    let db = std::fs::read(&path).expect("read rpmdb");
    let layer = tar(&[
        (
            "etc/os-release",
            0o644,
            b"ID=\"rocky\"\nVERSION_ID=\"9.3\"\n",
        ),
        ("var/lib/rpm/rpmdb.sqlite", 0o644, &db),
    ]);
    Image::over(Format::Oci, vec![gzip(&layer)])
}

/// Pushes `image` to `repo` under `tag` through the SDK; returns its digest.
async fn push(app: &TestApp, repo: &str, image: Image, tag: &str) -> String {
    let image = app.push_blobs(repo, image).await;
    app.put_ok(repo, &image.manifest, Some(tag)).await
}

async fn create_scanned_on_push(app: &TestApp, name: &str) {
    app.ecr
        .create_repository()
        .repository_name(name)
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .send()
        .await
        .expect("create repository");
}

// ---- reading findings ----------------------------------------------------------------

/// (name, severity, package, installed version, fixed version, CVSS3 score) of a BASIC
/// finding, from its attributes.
type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn row(
    name: &str,
    severity: &str,
    package: &str,
    version: &str,
    fixed: Option<&str>,
    score: Option<&str>,
) -> Row {
    (
        name.into(),
        severity.into(),
        package.into(),
        version.into(),
        fixed.map(Into::into),
        score.map(Into::into),
    )
}

/// Every finding of the image's scan, page by page (`page` at a time), as rows.
async fn basic_findings(app: &TestApp, repo: &str, tag: &str, page: i32) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut token = None;
    loop {
        let out = app
            .ecr
            .describe_image_scan_findings()
            .repository_name(repo)
            .image_id(by_tag(tag))
            .max_results(page)
            .set_next_token(token)
            .send()
            .await
            .expect("describe findings");
        let findings = out.image_scan_findings().expect("findings");
        assert!(findings.enhanced_findings().is_empty());
        for f in findings.findings() {
            let attr = |key: &str| {
                f.attributes()
                    .iter()
                    .find(|a| a.key() == key)
                    .and_then(|a| a.value().map(str::to_owned))
            };
            rows.push((
                f.name().unwrap_or_default().to_owned(),
                f.severity()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                attr("package_name").unwrap_or_default(),
                attr("package_version").unwrap_or_default(),
                attr("fixed_in_version"),
                attr("CVSS3_SCORE"),
            ));
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return rows;
        }
    }
}

/// The scan status DescribeImages shows, and its summary's counts by severity.
async fn described_scan(
    app: &TestApp,
    repo: &str,
    tag: &str,
) -> (Option<ScanStatus>, HashMap<FindingSeverity, i32>) {
    let out = app
        .ecr
        .describe_images()
        .repository_name(repo)
        .image_ids(by_tag(tag))
        .send()
        .await
        .expect("describe images");
    let detail = &out.image_details()[0];
    (
        detail.image_scan_status().and_then(|s| s.status()).cloned(),
        detail
            .image_scan_findings_summary()
            .and_then(|s| s.finding_severity_counts())
            .cloned()
            .unwrap_or_default(),
    )
}

fn counts(pairs: &[(FindingSeverity, i32)]) -> HashMap<FindingSeverity, i32> {
    pairs.iter().cloned().collect()
}

fn filter(f: &str) -> ScanningRepositoryFilter {
    ScanningRepositoryFilter::builder()
        .filter(f)
        .filter_type(ScanningRepositoryFilterType::Wildcard)
        .build()
        .expect("filter")
}

fn rule(frequency: ScanFrequency, filters: &[&str]) -> RegistryScanningRule {
    RegistryScanningRule::builder()
        .scan_frequency(frequency)
        .set_repository_filters(Some(filters.iter().map(|f| filter(f)).collect()))
        .build()
        .expect("rule")
}

async fn put_configuration(app: &TestApp, scan_type: ScanType, rules: Vec<RegistryScanningRule>) {
    app.ecr
        .put_registry_scanning_configuration()
        .scan_type(scan_type)
        .set_rules(Some(rules))
        .send()
        .await
        .expect("put registry scanning configuration");
}

// ---- the cases -----------------------------------------------------------------------

async fn configuration_and_repository_frequencies(app: TestApp) {
    // None put: BASIC with no rules.
    let got = app
        .ecr
        .get_registry_scanning_configuration()
        .send()
        .await
        .expect("get");
    assert_eq!(got.registry_id(), Some(crate::helpers::ACCOUNT));
    let config = got.scanning_configuration().expect("configuration");
    assert_eq!(config.scan_type(), Some(&ScanType::Basic));
    assert!(config.rules().is_empty());

    for name in ["prod-api", "team/web", "other"] {
        app.create_repo(name).await;
    }
    create_scanned_on_push(&app, "flagged").await;
    let frequencies = |out: aws_sdk_ecr::operation::batch_get_repository_scanning_configuration::BatchGetRepositoryScanningConfigurationOutput| {
        let mut got: Vec<(String, String, bool, Vec<String>)> = out
            .scanning_configurations()
            .iter()
            .map(|c| {
                (
                    c.repository_name().unwrap_or_default().to_owned(),
                    c.scan_frequency().map(|f| f.as_str().to_owned()).unwrap_or_default(),
                    c.scan_on_push(),
                    c.applied_scan_filters()
                        .iter()
                        .map(|f| f.filter().to_owned())
                        .collect(),
                )
            })
            .collect();
        got.sort();
        let failures: Vec<(String, String)> = out
            .failures()
            .iter()
            .map(|f| {
                (
                    f.repository_name().unwrap_or_default().to_owned(),
                    f.failure_code().map(|c| c.as_str().to_owned()).unwrap_or_default(),
                )
            })
            .collect();
        (got, failures)
    };
    let batch = || {
        app.ecr
            .batch_get_repository_scanning_configuration()
            .repository_names("prod-api")
            .repository_names("team/web")
            .repository_names("other")
            .repository_names("flagged")
            .repository_names("missing")
    };
    let s = |v: &str| v.to_owned();
    // BASIC: the repository's own flag scans on push.
    let (got, failures) = frequencies(batch().send().await.expect("batch get"));
    assert_eq!(
        got,
        vec![
            (s("flagged"), s("SCAN_ON_PUSH"), true, vec![]),
            (s("other"), s("MANUAL"), false, vec![]),
            (s("prod-api"), s("MANUAL"), false, vec![]),
            (s("team/web"), s("MANUAL"), false, vec![]),
        ]
    );
    assert_eq!(failures, vec![(s("missing"), s("REPOSITORY_NOT_FOUND"))]);

    // ENHANCED: continuous wins over scan on push; a filter without `*` matches names
    // containing it; the repository's own flag no longer scans.
    put_configuration(
        &app,
        ScanType::Enhanced,
        vec![
            rule(ScanFrequency::ScanOnPush, &["web", "nothing"]),
            rule(ScanFrequency::ContinuousScan, &["prod*", "*web"]),
        ],
    )
    .await;
    let config = app
        .ecr
        .get_registry_scanning_configuration()
        .send()
        .await
        .expect("get");
    let config = config.scanning_configuration().expect("configuration");
    assert_eq!(config.scan_type(), Some(&ScanType::Enhanced));
    assert_eq!(
        config
            .rules()
            .iter()
            .map(|r| (
                r.scan_frequency().as_str().to_owned(),
                r.repository_filters()
                    .iter()
                    .map(|f| f.filter().to_owned())
                    .collect::<Vec<_>>()
            ))
            .collect::<Vec<_>>(),
        vec![
            (s("SCAN_ON_PUSH"), vec![s("web"), s("nothing")]),
            (s("CONTINUOUS_SCAN"), vec![s("prod*"), s("*web")]),
        ]
    );
    let (got, _) = frequencies(batch().send().await.expect("batch get"));
    assert_eq!(
        got,
        vec![
            (s("flagged"), s("MANUAL"), true, vec![]),
            (s("other"), s("MANUAL"), false, vec![]),
            (s("prod-api"), s("CONTINUOUS_SCAN"), false, vec![s("prod*")]),
            (s("team/web"), s("CONTINUOUS_SCAN"), false, vec![s("*web")]),
        ]
    );

    // Refusals change nothing.
    let refused = |scan_type: ScanType, rules: Vec<RegistryScanningRule>| {
        app.ecr
            .put_registry_scanning_configuration()
            .scan_type(scan_type)
            .set_rules(Some(rules))
            .send()
    };
    let bad = refused(
        ScanType::Basic,
        vec![rule(ScanFrequency::ContinuousScan, &["*"])],
    )
    .await;
    assert_code(bad, "InvalidParameterException", "continuous under BASIC");
    let bad = refused(
        ScanType::Basic,
        vec![rule(ScanFrequency::ScanOnPush, &["Not-Lower"])],
    )
    .await;
    assert_code(bad, "InvalidParameterException", "a filter off the pattern");
    let bad = refused(
        ScanType::Enhanced,
        vec![
            rule(ScanFrequency::ScanOnPush, &["a"]),
            rule(ScanFrequency::ContinuousScan, &["b"]),
            rule(ScanFrequency::Manual, &["c"]),
        ],
    )
    .await;
    assert_code(bad, "InvalidParameterException", "three rules");
    let still = app
        .ecr
        .get_registry_scanning_configuration()
        .send()
        .await
        .expect("get");
    assert_eq!(
        still.scanning_configuration().and_then(|c| c.scan_type()),
        Some(&ScanType::Enhanced)
    );
}

async fn basic_scans_on_push(app: TestApp) {
    for repo in ["debian", "alpine", "rocky"] {
        create_scanned_on_push(&app, repo).await;
    }
    app.create_repo("unscanned").await;
    push(&app, "debian", debian_image(), "12").await;
    push(&app, "alpine", alpine_image(), "3.19").await;
    push(&app, "rocky", rpm_image().await, "9").await;
    push(&app, "unscanned", alpine_image(), "v1").await;

    // Queued with the push: in progress, no findings yet.
    let (status, summary) = described_scan(&app, "debian", "12").await;
    assert_eq!(status, Some(ScanStatus::InProgress));
    assert!(summary.is_empty());
    let queued = app
        .ecr
        .describe_image_scan_findings()
        .repository_name("debian")
        .image_id(by_tag("12"))
        .send()
        .await
        .expect("describe findings while queued");
    assert_eq!(
        queued.image_scan_status().and_then(|s| s.status()),
        Some(&ScanStatus::InProgress)
    );
    assert!(queued.image_scan_findings().is_none());

    let run = scan_now(&app).await;
    assert_eq!(
        (run.scanned, run.failed, run.retrying),
        (3, 0, 0),
        "{run:?}"
    );

    // Debian: the advisories for libssl3 (by its source, openssl) and zlib1g; bash's
    // ends before the installed build; the language packages are ENHANCED's.
    assert_eq!(
        basic_findings(&app, "debian", "12", 1).await,
        vec![
            row(
                "CVE-2023-5678",
                "HIGH",
                "libssl3",
                "3.0.11-1~deb12u2",
                Some("3.0.13-1~deb12u1"),
                Some("7.5")
            ),
            row(
                "CVE-2022-37434",
                "LOW",
                "zlib1g",
                "1:1.2.13.dfsg-1+b1",
                Some("1:1.2.13.dfsg-3"),
                None
            ),
        ]
    );
    assert_eq!(
        described_scan(&app, "debian", "12").await,
        (
            Some(ScanStatus::Complete),
            counts(&[(FindingSeverity::High, 1), (FindingSeverity::Low, 1)])
        )
    );
    assert_eq!(
        basic_findings(&app, "alpine", "3.19", 100).await,
        vec![
            row(
                "CVE-2023-5678",
                "MEDIUM",
                "libcrypto3",
                "3.1.4-r1",
                Some("3.1.4-r3"),
                Some("5.3")
            ),
            row(
                "CVE-2099-0001",
                "MEDIUM",
                "busybox",
                "1.36.1-r15",
                None,
                None
            ),
        ]
    );
    assert_eq!(
        basic_findings(&app, "rocky", "9", 100).await,
        vec![row(
            "CVE-2022-1271",
            "HIGH",
            "xz-libs",
            "5.2.5-1.cm2",
            Some("5.2.5-8.el9_0"),
            Some("7.8")
        )]
    );
    let out = app
        .ecr
        .describe_image_scan_findings()
        .repository_name("rocky")
        .image_id(by_tag("9"))
        .send()
        .await
        .expect("describe findings");
    let findings = out.image_scan_findings().expect("findings");
    assert!(findings.image_scan_completed_at().is_some());
    assert!(findings.vulnerability_source_updated_at().is_some());
    let finding = &findings.findings()[0];
    assert_eq!(finding.description(), Some("Important: xz security update"));
    let vector = finding
        .attributes()
        .iter()
        .find(|a| a.key() == "CVSS3_VECTOR")
        .and_then(|a| a.value());
    assert_eq!(vector, Some("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"));
    let fix = finding
        .attributes()
        .iter()
        .find(|a| a.key() == "fix_available")
        .and_then(|a| a.value());
    assert_eq!(fix, Some("YES"));

    // A repository that scans neither on push nor by rule has no scan.
    assert_eq!(described_scan(&app, "unscanned", "v1").await.0, None);
    let none = app
        .ecr
        .describe_image_scan_findings()
        .repository_name("unscanned")
        .image_id(by_tag("v1"))
        .send()
        .await;
    assert_code(none, "ScanNotFoundException", "never scanned");

    // A registry rule scans on push where the repository's flag does not.
    put_configuration(
        &app,
        ScanType::Basic,
        vec![rule(ScanFrequency::ScanOnPush, &["unscan"])],
    )
    .await;
    push(&app, "unscanned", debian_image(), "v2").await;
    assert_eq!(scan_now(&app).await.scanned, 1);
    assert_eq!(
        described_scan(&app, "unscanned", "v2").await,
        (
            Some(ScanStatus::Complete),
            counts(&[(FindingSeverity::High, 1), (FindingSeverity::Low, 1)])
        )
    );
}

async fn manual_scans_and_their_errors(app: TestApp) {
    let start = |repo: &'static str, id: ImageIdentifier| {
        app.ecr
            .start_image_scan()
            .repository_name(repo)
            .image_id(id)
            .send()
    };
    app.create_repo("manual").await;
    let digest = push(&app, "manual", alpine_image(), "v1").await;
    let none = app
        .ecr
        .describe_image_scan_findings()
        .repository_name("manual")
        .image_id(by_digest(&digest))
        .send()
        .await;
    assert_code(none, "ScanNotFoundException", "before any scan");

    let started = start("manual", by_tag("v1"))
        .await
        .expect("start image scan");
    assert_eq!(
        started.image_id().and_then(|i| i.image_digest()),
        Some(digest.as_str())
    );
    assert_eq!(
        started.image_scan_status().and_then(|s| s.status()),
        Some(&ScanStatus::InProgress)
    );
    // Once a day per image.
    let again = start("manual", by_digest(&digest)).await;
    assert_code(
        again,
        "LimitExceededException",
        "a second scan the same day",
    );
    assert_eq!(scan_now(&app).await.scanned, 1);
    assert_eq!(
        described_scan(&app, "manual", "v1").await,
        (
            Some(ScanStatus::Complete),
            counts(&[(FindingSeverity::Medium, 2)])
        )
    );
    let again = start("manual", by_digest(&digest)).await;
    assert_code(
        again,
        "LimitExceededException",
        "after the scan, the same day",
    );

    // An index cannot be scanned; its images can.
    let image = app.push_blobs("manual", debian_image()).await;
    app.put_ok("manual", &image.manifest, Some("debian")).await;
    let index = Manifest::index(OCI_INDEX, [image.entry()]).to_string();
    app.put_ok("manual", &index, Some("multi")).await;
    let unsupported = start("manual", by_tag("multi")).await;
    assert_code(unsupported, "UnsupportedImageTypeException", "an index");
    let missing = start("manual", by_tag("nope")).await;
    assert_code(missing, "ImageNotFoundException", "no such tag");
    let missing = start("nowhere", by_tag("v1")).await;
    assert_code(missing, "RepositoryNotFoundException", "no such repository");
    let bad = app
        .ecr
        .describe_image_scan_findings()
        .repository_name("manual")
        .image_id(by_tag("v1"))
        .max_results(1001)
        .send()
        .await;
    assert_code(bad, "InvalidParameterException", "maxResults over 1000");

    // ENHANCED registries scan on push or continuously, never on request.
    put_configuration(
        &app,
        ScanType::Enhanced,
        vec![rule(ScanFrequency::ScanOnPush, &["*"])],
    )
    .await;
    let refused = start("manual", by_tag("debian")).await;
    assert_code(
        refused,
        "ValidationException",
        "a manual scan under ENHANCED",
    );
}

/// (vulnerability id, severity, package, package manager, fixed in, fix available) of
/// each ENHANCED finding, and the whole first finding as JSON-ish fields to check.
type EnhancedRow = (String, String, String, String, String, String);

async fn enhanced_rows(app: &TestApp, repo: &str, tag: &str) -> Vec<EnhancedRow> {
    let out = app
        .ecr
        .describe_image_scan_findings()
        .repository_name(repo)
        .image_id(by_tag(tag))
        .send()
        .await
        .expect("describe findings");
    let findings = out.image_scan_findings().expect("findings");
    assert!(findings.findings().is_empty());
    let mut rows: Vec<EnhancedRow> = findings
        .enhanced_findings()
        .iter()
        .map(|f| {
            let details = f.package_vulnerability_details().expect("details");
            let package = &details.vulnerable_packages()[0];
            (
                details.vulnerability_id().unwrap_or_default().to_owned(),
                f.severity().unwrap_or_default().to_owned(),
                package.name().unwrap_or_default().to_owned(),
                package.package_manager().unwrap_or_default().to_owned(),
                package.fixed_in_version().unwrap_or_default().to_owned(),
                f.fix_available().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn enhanced_row(
    id: &str,
    severity: &str,
    package: &str,
    manager: &str,
    fixed: &str,
) -> EnhancedRow {
    let fix = if fixed == "NotAvailable" { "NO" } else { "YES" };
    (
        id.into(),
        severity.into(),
        package.into(),
        manager.into(),
        fixed.into(),
        fix.into(),
    )
}

async fn enhanced_scans_rescan_when_the_database_changes(app: TestApp) {
    app.create_repo("prod/web").await;
    app.create_repo("dev/web").await;
    // Pushed before the registry scans continuously: the sweep finds it.
    push(&app, "prod/web", debian_image(), "v1").await;
    put_configuration(
        &app,
        ScanType::Enhanced,
        vec![
            rule(ScanFrequency::ContinuousScan, &["prod/*"]),
            rule(ScanFrequency::ScanOnPush, &["dev/*"]),
        ],
    )
    .await;
    push(&app, "dev/web", debian_image(), "v1").await;
    let (status, _) = described_scan(&app, "dev/web", "v1").await;
    assert_eq!(status, Some(ScanStatus::Pending));

    let run = scan_now(&app).await;
    assert_eq!((run.rescans_queued, run.scanned), (1, 2), "{run:?}");
    let expected = vec![
        enhanced_row("CVE-2021-23337", "HIGH", "lodash", "NPM", "4.17.21"),
        enhanced_row("CVE-2022-37434", "LOW", "zlib1g", "OS", "1:1.2.13.dfsg-3"),
        enhanced_row("CVE-2023-5678", "HIGH", "libssl3", "OS", "3.0.13-1~deb12u1"),
        enhanced_row("CVE-2024-22195", "MEDIUM", "Jinja2", "PYTHONPKG", "3.1.3"),
    ];
    assert_eq!(enhanced_rows(&app, "prod/web", "v1").await, expected);
    assert_eq!(enhanced_rows(&app, "dev/web", "v1").await, expected);
    assert_eq!(
        described_scan(&app, "prod/web", "v1").await.0,
        Some(ScanStatus::Active)
    );
    assert_eq!(
        described_scan(&app, "dev/web", "v1").await.0,
        Some(ScanStatus::Complete)
    );

    // The finding in Inspector's shape: what it is about, where, and what fixes it.
    let out = app
        .ecr
        .describe_image_scan_findings()
        .repository_name("prod/web")
        .image_id(by_tag("v1"))
        .send()
        .await
        .expect("describe findings");
    let digest = out
        .image_id()
        .and_then(|i| i.image_digest())
        .expect("digest")
        .to_owned();
    let findings = out.image_scan_findings().expect("findings");
    let openssl = findings
        .enhanced_findings()
        .iter()
        .find(|f| f.title() == Some("CVE-2023-5678 - libssl3"))
        .expect("the openssl finding");
    assert_eq!(openssl.r#type(), Some("PACKAGE_VULNERABILITY"));
    assert_eq!(openssl.status(), Some("ACTIVE"));
    assert_eq!(openssl.score(), 7.5);
    assert!(openssl
        .finding_arn()
        .is_some_and(|a| a.starts_with(&format!("arn:aws:inspector2:{REGION}:"))));
    let cvss = &openssl
        .package_vulnerability_details()
        .expect("details")
        .cvss()[0];
    assert_eq!(
        (cvss.base_score(), cvss.scoring_vector(), cvss.version()),
        (
            7.5,
            Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
            Some("3.1")
        )
    );
    let package = &openssl
        .package_vulnerability_details()
        .expect("details")
        .vulnerable_packages()[0];
    assert_eq!(
        (package.version(), package.file_path()),
        (Some("3.0.11-1~deb12u2"), Some("var/lib/dpkg/status"))
    );
    let resource = &openssl.resources()[0];
    assert_eq!(resource.r#type(), Some("AWS_ECR_CONTAINER_IMAGE"));
    let image = resource
        .details()
        .and_then(|d| d.aws_ecr_container_image())
        .expect("image details");
    assert_eq!(image.image_hash(), Some(digest.as_str()));
    assert_eq!(image.repository_name(), Some("prod/web"));
    assert_eq!(image.image_tags(), ["v1".to_owned()]);
    let first_seen = openssl.first_observed_at().expect("first observed").secs();

    // Nothing changed: nothing to rescan.
    let run = scan_now(&app).await;
    assert_eq!((run.rescans_queued, run.scanned), (0, 0), "{run:?}");

    // A new advisory: the continuously scanned image is rescanned and gains it, the
    // scanned-on-push one keeps its findings; what was seen before keeps its date.
    std::fs::write(
        db_dir(&app).join("debian/DEBIAN-CVE-2099-7777.json"),
        serde_json::json!({
            "id": "DEBIAN-CVE-2099-7777",
            "upstream": ["CVE-2099-7777"],
            "details": "bash: an advisory the test adds.",
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": "bash"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                "ecosystem_specific": {"urgency": "high"}
            }]
        })
        .to_string(),
    )
    .expect("write advisory");
    let run = scan_now(&app).await;
    assert_eq!((run.rescans_queued, run.scanned), (1, 1), "{run:?}");
    let rescanned = enhanced_rows(&app, "prod/web", "v1").await;
    assert_eq!(rescanned.len(), 5, "{rescanned:?}");
    assert!(rescanned
        .iter()
        .any(|r| r.0 == "CVE-2099-7777" && r.2 == "bash" && r.4 == "NotAvailable" && r.5 == "NO"));
    assert_eq!(enhanced_rows(&app, "dev/web", "v1").await, expected);
    let out = app
        .ecr
        .describe_image_scan_findings()
        .repository_name("prod/web")
        .image_id(by_tag("v1"))
        .send()
        .await
        .expect("describe findings");
    let openssl = out
        .image_scan_findings()
        .expect("findings")
        .enhanced_findings()
        .iter()
        .find(|f| f.title() == Some("CVE-2023-5678 - libssl3"))
        .expect("the openssl finding")
        .clone();
    assert_eq!(
        openssl.first_observed_at().expect("first observed").secs(),
        first_seen
    );
}

async fn scans_without_a_database(app: TestApp) {
    create_scanned_on_push(&app, "nodb").await;
    push(&app, "nodb", debian_image(), "v1").await;
    let service = app.service().await;
    let run = loop {
        if let Some(run) = service.run_scanning_job().await.expect("scanning run") {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run.scanned, 1, "{run:?}");
    let out = app
        .ecr
        .describe_image_scan_findings()
        .repository_name("nodb")
        .image_id(by_tag("v1"))
        .send()
        .await
        .expect("describe findings");
    let status = out.image_scan_status().expect("status");
    assert_eq!(status.status(), Some(&ScanStatus::Complete));
    let description = status.description().unwrap_or_default();
    assert!(
        description.contains("BERTH_VULN_DB") && description.contains("3 packages"),
        "{description}"
    );
    let findings = out.image_scan_findings().expect("findings");
    assert!(findings.findings().is_empty());
    assert!(findings
        .finding_severity_counts()
        .is_none_or(HashMap::is_empty));
}

/// boto3's waiter and paginator, and the aws CLI's commands and waiter, on an app
/// whose own schedule scans every second.
async fn boto3_and_the_aws_cli(app: TestApp) {
    create_scanned_on_push(&app, "cli").await;
    push(&app, "cli", debian_image(), "v1").await;

    // boto3: wait for the scan, then page through the findings one at a time.
    let got = boto3(
        &app,
        r#"
image = {"imageTag": "v1"}
ecr.get_waiter("image_scan_complete").wait(repositoryName="cli", imageId=image,
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
pages = ecr.get_paginator("describe_image_scan_findings").paginate(
    repositoryName="cli", imageId=image, PaginationConfig={"PageSize": 1})
names = [f["name"] for page in pages for f in page["imageScanFindings"]["findings"]]
detail = ecr.describe_images(repositoryName="cli")["imageDetails"][0]
registry = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
repository = ecr.batch_get_repository_scanning_configuration(
    repositoryNames=["cli"])["scanningConfigurations"][0]
print(json.dumps({"names": names,
                  "counts": detail["imageScanFindingsSummary"]["findingSeverityCounts"],
                  "registry": registry,
                  "repository": [repository["scanFrequency"], repository["scanOnPush"]]}))
"#,
    )
    .expect("boto3");
    assert_eq!(
        got,
        serde_json::json!({"names": ["CVE-2023-5678", "CVE-2022-37434"],
                           "counts": {"HIGH": 1, "LOW": 1},
                           "registry": {"scanType": "BASIC", "rules": []},
                           "repository": ["SCAN_ON_PUSH", true]})
    );

    // The aws CLI: every scanning command.
    let cli = |args: &[&str]| aws(&app, args).unwrap_or_else(|e| panic!("aws {args:?}: {e}"));
    let findings = cli(&[
        "describe-image-scan-findings",
        "--repository-name",
        "cli",
        "--image-id",
        "imageTag=v1",
    ]);
    assert_eq!(findings["imageScanStatus"]["status"], "COMPLETE");
    let names: Vec<&str> = findings["imageScanFindings"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["CVE-2023-5678", "CVE-2022-37434"]);
    let refused = aws(
        &app,
        &[
            "start-image-scan",
            "--repository-name",
            "cli",
            "--image-id",
            "imageTag=v1",
        ],
    );
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("LimitExceededException")),
        "{refused:?}"
    );
    app.create_repo("cli-manual").await;
    push(&app, "cli-manual", alpine_image(), "v1").await;
    let started = cli(&[
        "start-image-scan",
        "--repository-name",
        "cli-manual",
        "--image-id",
        "imageTag=v1",
    ]);
    assert_eq!(started["imageScanStatus"]["status"], "IN_PROGRESS");
    cli(&[
        "wait",
        "image-scan-complete",
        "--repository-name",
        "cli-manual",
        "--image-id",
        "imageTag=v1",
    ]);
    let images = cli(&["describe-images", "--repository-name", "cli-manual"]);
    assert_eq!(
        images["imageDetails"][0]["imageScanFindingsSummary"]["findingSeverityCounts"],
        serde_json::json!({"MEDIUM": 2})
    );
    let put = cli(&[
        "put-registry-scanning-configuration",
        "--scan-type",
        "BASIC",
        "--rules",
        r#"[{"scanFrequency":"SCAN_ON_PUSH","repositoryFilters":[{"filter":"cli*","filterType":"WILDCARD"}]}]"#,
    ]);
    assert_eq!(put["registryScanningConfiguration"]["scanType"], "BASIC");
    let got = cli(&["get-registry-scanning-configuration"]);
    assert_eq!(
        got["scanningConfiguration"]["rules"][0]["repositoryFilters"][0]["filter"],
        "cli*"
    );
    let batch = cli(&[
        "batch-get-repository-scanning-configuration",
        "--repository-names",
        "cli-manual",
        "missing",
    ]);
    assert_eq!(
        batch["scanningConfigurations"][0]["scanFrequency"],
        "SCAN_ON_PUSH"
    );
    assert_eq!(
        batch["scanningConfigurations"][0]["appliedScanFilters"][0]["filter"],
        "cli*"
    );
    assert_eq!(batch["failures"][0]["failureCode"], "REPOSITORY_NOT_FOUND");
}

/// A replica is scanned by its destination registry's rules, not its source's.
async fn replicas_follow_the_destinations_rules(app: TestApp) {
    use crate::fixtures::world::WEST;
    let west = crate::helpers::ecr_client_in(
        &app.url,
        crate::helpers::ACCESS_KEY,
        crate::helpers::SECRET_KEY,
        WEST,
    );
    west.put_registry_scanning_configuration()
        .scan_type(ScanType::Basic)
        .rules(rule(ScanFrequency::ScanOnPush, &["team"]))
        .send()
        .await
        .expect("west's scanning configuration");
    crate::replication::put_configuration(
        &app,
        vec![crate::replication::rule(
            vec![crate::replication::destination(
                crate::helpers::ACCOUNT,
                WEST,
            )],
            &[],
        )],
    )
    .await;
    app.create_repo("team/app").await;
    push(&app, "team/app", alpine_image(), "v1").await;
    let copied = crate::replication::run_job(&app.service().await).await;
    assert_eq!(copied.completed, 1, "{copied:?}");
    // Not scanned where it was pushed; queued where it was copied to.
    assert_eq!(described_scan(&app, "team/app", "v1").await.0, None);
    assert_eq!(scan_now(&app).await.scanned, 1);
    let out = west
        .describe_images()
        .repository_name("team/app")
        .image_ids(by_tag("v1"))
        .send()
        .await
        .expect("describe the replica");
    let summary = out.image_details()[0]
        .image_scan_findings_summary()
        .and_then(|s| s.finding_severity_counts())
        .cloned();
    assert_eq!(summary, Some(counts(&[(FindingSeverity::Medium, 2)])));
}
