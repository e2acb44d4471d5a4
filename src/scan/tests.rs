//! Whole scans: real tar layers built in memory (gzip, zstd and plain), streamed in
//! small chunks, inventoried and matched against the OSV fixture in
//! tests/fixtures/scan/osv; the findings are checked exactly.

use std::io::{self, Write};
use std::path::Path;
use std::str::FromStr;

use bytes::Bytes;
use futures_util::stream;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

use super::*;

type Layer = stream::Iter<std::vec::IntoIter<io::Result<Bytes>>>;

/// A tar layer: (path, mode, contents) files, and whiteout markers given as paths.
fn tar(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// The blob as a registry would stream it: in chunks of odd sizes.
fn streamed(blob: Vec<u8>) -> Layer {
    let chunks: Vec<io::Result<Bytes>> = blob
        .chunks(1021)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks)
}

fn db() -> VulnDb {
    VulnDb::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan/osv")).unwrap()
}

/// (id, severity, cvss score, package, installed version, fixed version)
type Row = (
    String,
    Severity,
    Option<f64>,
    String,
    String,
    Option<String>,
);

fn rows(findings: &[Finding]) -> Vec<Row> {
    findings
        .iter()
        .map(|f| {
            (
                f.id.clone(),
                f.severity,
                f.cvss_score,
                f.package.name.clone(),
                f.package.version.clone(),
                f.fixed_version.clone(),
            )
        })
        .collect()
}

fn row(
    id: &str,
    severity: Severity,
    score: Option<f64>,
    package: &str,
    version: &str,
    fixed: Option<&str>,
) -> Row {
    (
        id.into(),
        severity,
        score,
        package.into(),
        version.into(),
        fixed.map(str::to_owned),
    )
}

fn debian_layers() -> Vec<Layer> {
    let lock = br#"{"lockfileVersion":3,"packages":{"":{"name":"app"},
        "node_modules/lodash":{"version":"4.17.20"},"node_modules/@babel/core":{"version":"7.22.0"}}}"#;
    let cargo_lock = b"version = 3\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\n\
        source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
    let old_lock = b"[[package]]\nname = \"time\"\nversion = \"0.1.0\"\n\
        source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
    let go = golang::tests::binary("go1.21.3", golang::tests::MODINFO);
    let base = tar(&[
        ("etc/os-release", 0o644, b"ID=debian\nVERSION_ID=\"12\"\n"),
        (
            "var/lib/dpkg/status",
            0o644,
            dpkg::tests::STATUS_FILE.as_bytes(),
        ),
        (
            "usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA",
            0o644,
            b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\n\nJinja is a template engine.\n",
        ),
        ("app/package-lock.json", 0o644, lock),
        (
            "app/node_modules/minimist/package.json",
            0o644,
            br#"{"name":"minimist","version":"1.2.5"}"#,
        ),
        ("app/Cargo.lock", 0o644, cargo_lock),
        ("opt/old/Cargo.lock", 0o644, old_lock),
        ("usr/local/bin/app", 0o755, &go),
        ("usr/bin/script", 0o755, b"#!/bin/sh\nexit 0\n"),
    ]);
    let upper = tar(&[
        ("app/node_modules/.wh.minimist", 0o644, b""),
        ("opt/old/.wh..wh..opq", 0o644, b""),
        ("opt/old/README", 0o644, b"nothing to see"),
        (
            "var/lib/dpkg/status.d/curl",
            0o644,
            b"Package: curl\nVersion: 7.88.1-10+deb12u5\n",
        ),
        (
            "var/lib/dpkg/status.d/curl.md5sums",
            0o644,
            b"d41d8cd98f00b204e9800998ecf8427e  usr/bin/curl\n",
        ),
    ]);
    let last = tar(&[("home/user/notes.txt", 0o644, b"plain tar layer")]);
    vec![
        streamed(gzip(&base)),
        streamed(zstd(&upper)),
        streamed(last),
    ]
}

#[tokio::test]
async fn debian_image_with_language_packages() {
    let inventory = super::inventory(debian_layers(), true).await.unwrap();
    assert_eq!(
        inventory.os,
        Some(Os {
            id: "debian".into(),
            version_id: Some("12".into())
        })
    );
    assert!(inventory.notes.is_empty(), "{:?}", inventory.notes);
    let mut packages: Vec<_> = inventory
        .packages
        .iter()
        .map(|p| {
            (
                p.ecosystem.osv_name(),
                p.name.as_str(),
                p.version.as_str(),
                p.path.as_str(),
            )
        })
        .collect();
    packages.sort();
    assert_eq!(
        packages,
        vec![
            ("Debian", "bash", "5.2.15-2+b2", "var/lib/dpkg/status"),
            (
                "Debian",
                "curl",
                "7.88.1-10+deb12u5",
                "var/lib/dpkg/status.d/curl"
            ),
            (
                "Debian",
                "libssl3",
                "3.0.11-1~deb12u2",
                "var/lib/dpkg/status"
            ),
            (
                "Debian",
                "zlib1g",
                "1:1.2.13.dfsg-1+b1",
                "var/lib/dpkg/status"
            ),
            (
                "Go",
                "github.com/new/yaml",
                "v2.4.0+incompatible",
                "usr/local/bin/app"
            ),
            ("Go", "golang.org/x/net", "v0.7.0", "usr/local/bin/app"),
            ("Go", "stdlib", "1.21.3", "usr/local/bin/app"),
            (
                "PyPI",
                "Jinja2",
                "3.1.2",
                "usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA"
            ),
            ("crates.io", "smallvec", "1.6.0", "app/Cargo.lock"),
            ("npm", "@babel/core", "7.22.0", "app/package-lock.json"),
            ("npm", "lodash", "4.17.20", "app/package-lock.json"),
        ]
    );

    let findings = matches(&db(), &inventory);
    use Severity::*;
    assert_eq!(
        rows(&findings),
        vec![
            row(
                "CVE-2021-25900",
                Critical,
                Some(9.8),
                "smallvec",
                "1.6.0",
                Some("1.6.1")
            ),
            row(
                "CVE-2021-23337",
                High,
                Some(7.2),
                "lodash",
                "4.17.20",
                Some("4.17.21")
            ),
            row(
                "CVE-2023-5678",
                High,
                Some(7.5),
                "libssl3",
                "3.0.11-1~deb12u2",
                Some("3.0.13-1~deb12u1")
            ),
            row(
                "CVE-2024-22195",
                Medium,
                Some(5.4),
                "Jinja2",
                "3.1.2",
                Some("3.1.3")
            ),
            row(
                "CVE-2022-37434",
                Low,
                None,
                "zlib1g",
                "1:1.2.13.dfsg-1+b1",
                Some("1:1.2.13.dfsg-3")
            ),
            row(
                "CVE-2023-3978",
                Undefined,
                None,
                "golang.org/x/net",
                "v0.7.0",
                Some("0.13.0")
            ),
            row(
                "CVE-2023-45283",
                Undefined,
                None,
                "stdlib",
                "1.21.3",
                Some("1.21.4")
            ),
        ]
    );
    let openssl = &findings[2];
    assert_eq!(openssl.package.source.as_deref(), Some("openssl"));
    assert_eq!(
        openssl.cvss_vector.as_deref(),
        Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H")
    );
    assert_eq!(
        openssl.uri.as_deref(),
        Some("https://security-tracker.debian.org/tracker/CVE-2023-5678")
    );
    assert!(openssl
        .description
        .starts_with("Generating excessively long"));
}

#[tokio::test]
async fn basic_scans_read_os_packages_only() {
    let inventory = super::inventory(debian_layers(), false).await.unwrap();
    assert!(inventory
        .packages
        .iter()
        .all(|p| p.ecosystem == Ecosystem::Debian));
    assert_eq!(inventory.packages.len(), 4);
    let ids: Vec<_> = matches(&db(), &inventory)
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, ["CVE-2023-5678", "CVE-2022-37434"]);
}

#[tokio::test]
async fn alpine_image() {
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
    let inventory = super::inventory(vec![streamed(gzip(&layer))], false)
        .await
        .unwrap();
    use Severity::*;
    assert_eq!(
        rows(&matches(&db(), &inventory)),
        vec![
            row(
                "CVE-2023-5678",
                Medium,
                Some(5.3),
                "libcrypto3",
                "3.1.4-r1",
                Some("3.1.4-r3")
            ),
            row("CVE-2099-0001", Medium, None, "busybox", "1.36.1-r15", None),
        ]
    );
}

/// An rpmdb.sqlite as rpm writes it (the Packages table of header blobs), holding a
/// built header with an epoch and real headers taken from a CBL-Mariner image.
async fn rpmdb(blobs: &[Vec<u8>]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rpmdb.sqlite");
    let mut conn = SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for blob in blobs {
        sqlx::query("INSERT INTO Packages (blob) VALUES (?)")
            .bind(blob)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    drop(conn);
    std::fs::read(&path).unwrap()
}

#[tokio::test]
async fn rpm_image() {
    let mut blobs = vec![
        rpm::tests::package_blob(
            "openssl-libs",
            "3.0.7",
            "24.el9",
            Some(1),
            "openssl-3.0.7-24.el9.src.rpm",
        ),
        rpm::tests::package_blob("gpg-pubkey", "350d275d", "6279464b", None, "(none)"),
        b"\0\0\0\x09truncated".to_vec(),
    ];
    blobs.extend(rpm::tests::MARINER.iter().map(|(_, blob)| blob.to_vec()));
    let db_bytes = rpmdb(&blobs).await;
    let layer = tar(&[
        (
            "etc/os-release",
            0o644,
            b"ID=\"rocky\"\nVERSION_ID=\"9.3\"\n",
        ),
        ("var/lib/rpm/rpmdb.sqlite", 0o644, &db_bytes),
    ]);
    let inventory = super::inventory(vec![streamed(zstd(&layer))], false)
        .await
        .unwrap();
    assert_eq!(
        inventory.notes,
        ["var/lib/rpm/rpmdb.sqlite: 1 unreadable rpm headers"]
    );
    let packages: Vec<_> = inventory
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.source.as_deref()))
        .collect();
    assert_eq!(
        packages,
        vec![
            ("libssh2", "1.9.0-1.cm2", Some("libssh2")),
            ("openssl-libs", "1:3.0.7-24.el9", Some("openssl")),
            ("xz-libs", "5.2.5-1.cm2", Some("xz")),
            ("zstd-libs", "1.5.0-1.cm2", Some("zstd")),
        ]
    );
    assert!(inventory
        .packages
        .iter()
        .all(|p| p.ecosystem == Ecosystem::Rpm(RpmDistro::Rocky)));
    use Severity::*;
    assert_eq!(
        rows(&matches(&db(), &inventory)),
        vec![
            row(
                "CVE-2022-1271",
                High,
                Some(7.8),
                "xz-libs",
                "5.2.5-1.cm2",
                Some("5.2.5-8.el9_0")
            ),
            row(
                "CVE-2023-5678",
                Medium,
                None,
                "openssl-libs",
                "1:3.0.7-24.el9",
                Some("1:3.0.7-25.el9_3")
            ),
        ]
    );
}

#[tokio::test]
async fn whiteouts_and_replacements_remove_lower_files() {
    let status = b"Package: a\nStatus: install ok installed\nVersion: 1\n";
    let lower = tar(&[
        ("etc/os-release", 0o644, b"ID=debian\nVERSION_ID=12\n"),
        ("var/lib/dpkg/status", 0o644, status),
        (
            "var/lib/dpkg/status.d/b",
            0o644,
            b"Package: b\nVersion: 2\n",
        ),
    ]);
    // A whited-out directory takes what is beneath it; a new file replaces the old.
    let upper = tar(&[
        ("var/lib/dpkg/.wh.status.d", 0o644, b""),
        (
            "var/lib/dpkg/status",
            0o644,
            b"Package: c\nStatus: install ok installed\nVersion: 3\n",
        ),
    ]);
    let inventory = super::inventory(vec![streamed(lower.clone()), streamed(upper)], false)
        .await
        .unwrap();
    let names: Vec<_> = inventory.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["c"]);
    // An opaque root-level directory hides the lower layers' copy.
    let opaque = tar(&[("var/.wh..wh..opq", 0o644, b"")]);
    let inventory = super::inventory(vec![streamed(lower), streamed(opaque)], false)
        .await
        .unwrap();
    assert!(inventory.packages.is_empty());
    assert!(inventory.os.is_some());
}

#[tokio::test]
async fn unreadable_layers_fail_and_empty_layers_are_empty() {
    let broken: Layer = stream::iter(vec![
        Ok(Bytes::from_static(&[0x1f, 0x8b, 8, 0])),
        Err(io::Error::other("connection reset")),
    ]);
    let err = super::inventory(vec![broken], false).await.unwrap_err();
    assert!(matches!(err, ScanError::Layer { layer: 0, .. }), "{err}");
    let empty: Layer = stream::iter(vec![]);
    let inventory = super::inventory(vec![empty], true).await.unwrap();
    assert_eq!(inventory, Inventory::default());
}
