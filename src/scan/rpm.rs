//! RPM distributions' database: the sqlite rpmdb (`var/lib/rpm/rpmdb.sqlite`, or
//! `usr/lib/sysimage/rpm/rpmdb.sqlite` on newer Fedora and SUSE), whose `Packages`
//! table holds one RPM header blob per installed package. The blob is the header
//! format without its leading magic: entry count and data length (big-endian u32s),
//! the entries (tag, type, offset, count), then the data they point into.

use std::path::Path;
use std::str::FromStr;

use futures_util::TryStreamExt;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

use super::{Ecosystem, Package, RpmDistro, ScanError};

const PATHS: [&str; 2] = [
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
];

pub(crate) fn wants(path: &str) -> bool {
    PATHS.contains(&path)
}

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_SOURCERPM: i32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

/// The fields of an installed package's header that a scan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<u32>,
    pub source_rpm: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum HeaderError {
    #[error("the header is truncated")]
    Truncated,
    #[error("tag {0} is missing or not a string")]
    Missing(i32),
}

struct Entry {
    tag: i32,
    kind: u32,
    offset: usize,
}

fn be_u32(bytes: &[u8], at: usize) -> Result<u32, HeaderError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(HeaderError::Truncated)
}

/// Parses one header blob.
pub(crate) fn parse_header(blob: &[u8]) -> Result<Header, HeaderError> {
    let count = be_u32(blob, 0)? as usize;
    let data_len = be_u32(blob, 4)? as usize;
    let data_start = count
        .checked_mul(16)
        .and_then(|n| n.checked_add(8))
        .ok_or(HeaderError::Truncated)?;
    let data = blob
        .get(data_start..data_start.saturating_add(data_len))
        .ok_or(HeaderError::Truncated)?;
    let entries = (0..count)
        .map(|i| {
            let at = 8 + i * 16;
            Ok(Entry {
                tag: be_u32(blob, at)? as i32,
                kind: be_u32(blob, at + 4)?,
                offset: be_u32(blob, at + 8)? as usize,
            })
        })
        .collect::<Result<Vec<_>, HeaderError>>()?;
    let find = |tag: i32| entries.iter().find(|e| e.tag == tag);
    let string = |tag: i32| -> Option<String> {
        let entry = find(tag)?;
        if entry.kind != TYPE_STRING && entry.kind != TYPE_I18NSTRING {
            return None;
        }
        let rest = data.get(entry.offset..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let required = |tag: i32| string(tag).ok_or(HeaderError::Missing(tag));
    let epoch = match find(TAG_EPOCH) {
        Some(entry) if entry.kind == TYPE_INT32 => Some(be_u32(data, entry.offset)?),
        _ => None,
    };
    Ok(Header {
        name: required(TAG_NAME)?,
        version: required(TAG_VERSION)?,
        release: required(TAG_RELEASE)?,
        epoch,
        source_rpm: string(TAG_SOURCERPM),
    })
}

impl Header {
    /// `epoch:version-release`, the epoch only where the package has one.
    pub(crate) fn evr(&self) -> String {
        match self.epoch {
            Some(epoch) => format!("{epoch}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// The source package's name: `xz` of `xz-5.2.5-1.cm2.src.rpm`.
    pub(crate) fn source_name(&self) -> Option<String> {
        let file = self.source_rpm.as_deref()?;
        let stem = file
            .strip_suffix(".src.rpm")
            .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
        let mut parts = stem.rsplitn(3, '-');
        let (_release, _version, name) = (parts.next()?, parts.next()?, parts.next()?);
        Some(name.to_owned())
    }
}

/// The packages of an rpmdb written to `file`, and how many headers could not be read.
pub(crate) async fn read_db(
    file: &Path,
    path: &str,
    distro: &RpmDistro,
) -> Result<(Vec<Package>, usize), ScanError> {
    let failed = |e: sqlx::Error| ScanError::RpmDb {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(failed)?
        .filename(file)
        .read_only(true)
        // The copy is ours alone: no locks, no journal to recover.
        .immutable(true);
    let mut conn = options.connect().await.map_err(failed)?;
    let mut rows = sqlx::query("SELECT blob FROM Packages").fetch(&mut conn);
    let mut packages = Vec::new();
    let mut skipped = 0;
    while let Some(row) = rows.try_next().await.map_err(failed)? {
        let blob: Vec<u8> = row.try_get(0).map_err(failed)?;
        match parse_header(&blob) {
            // The keyring's public keys are stored as packages too.
            Ok(header) if header.name == "gpg-pubkey" => {}
            Ok(header) => packages.push(Package {
                ecosystem: Ecosystem::Rpm(distro.clone()),
                version: header.evr(),
                source: header.source_name(),
                source_version: None,
                name: header.name,
                path: path.to_owned(),
            }),
            Err(_) => skipped += 1,
        }
    }
    Ok((packages, skipped))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header blob as rpm writes it, with the given string and int32 tags.
    pub(crate) fn header_blob(strings: &[(i32, &str)], ints: &[(i32, u32)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, value) in ints {
            while data.len() % 4 != 0 {
                data.push(0);
            }
            index.push((*tag, TYPE_INT32, data.len()));
            data.extend_from_slice(&value.to_be_bytes());
        }
        for (tag, value) in strings {
            index.push((*tag, TYPE_STRING, data.len()));
            data.extend_from_slice(value.as_bytes());
            data.push(0);
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(index.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        for (tag, kind, offset) in index {
            blob.extend_from_slice(&tag.to_be_bytes());
            blob.extend_from_slice(&kind.to_be_bytes());
            blob.extend_from_slice(&(offset as u32).to_be_bytes());
            blob.extend_from_slice(&1u32.to_be_bytes());
        }
        blob.extend_from_slice(&data);
        blob
    }

    pub(crate) fn package_blob(
        name: &str,
        version: &str,
        release: &str,
        epoch: Option<u32>,
        source: &str,
    ) -> Vec<u8> {
        let strings = [
            (TAG_NAME, name),
            (TAG_VERSION, version),
            (TAG_RELEASE, release),
            (TAG_SOURCERPM, source),
        ];
        let ints: Vec<(i32, u32)> = epoch.map(|e| (TAG_EPOCH, e)).into_iter().collect();
        header_blob(&strings, &ints)
    }

    /// Real header blobs from a CBL-Mariner 2.0 image's rpmdb.sqlite.
    pub(crate) const MARINER: [(&str, &[u8]); 3] = [
        (
            "libssh2",
            include_bytes!("../../tests/fixtures/scan/rpm/libssh2.hdr"),
        ),
        (
            "xz-libs",
            include_bytes!("../../tests/fixtures/scan/rpm/xz-libs.hdr"),
        ),
        (
            "zstd-libs",
            include_bytes!("../../tests/fixtures/scan/rpm/zstd-libs.hdr"),
        ),
    ];

    #[test]
    fn parses_real_headers() {
        let got: Vec<_> = MARINER
            .iter()
            .map(|(_, blob)| {
                let h = parse_header(blob).unwrap();
                (h.name.clone(), h.evr(), h.source_name())
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "libssh2".into(),
                    "1.9.0-1.cm2".into(),
                    Some("libssh2".into())
                ),
                ("xz-libs".into(), "5.2.5-1.cm2".into(), Some("xz".into())),
                (
                    "zstd-libs".into(),
                    "1.5.0-1.cm2".into(),
                    Some("zstd".into())
                ),
            ]
        );
    }

    #[test]
    fn parses_epochs_and_rejects_truncated_headers() {
        let blob = package_blob(
            "openssl-libs",
            "3.0.7",
            "24.el9",
            Some(1),
            "openssl-3.0.7-24.el9.src.rpm",
        );
        let h = parse_header(&blob).unwrap();
        assert_eq!(h.evr(), "1:3.0.7-24.el9");
        assert_eq!(h.source_name().as_deref(), Some("openssl"));
        assert_eq!(
            parse_header(&blob[..blob.len() - 3]),
            Err(HeaderError::Truncated)
        );
        assert_eq!(parse_header(&[0, 0]), Err(HeaderError::Truncated));
        let nameless = header_blob(&[(TAG_VERSION, "1")], &[]);
        assert_eq!(parse_header(&nameless), Err(HeaderError::Missing(TAG_NAME)));
    }
}
