//! The image scanner's analysis: what a scan reads from an image's layers and which
//! advisories its packages match. No I/O beyond the streams and files it is given (and
//! a temporary file for the sqlite rpmdb, which sqlite can only open from a path).
//!
//! `inventory` reads the layers into the few files that name packages (`layers`), then
//! each file's own parser turns it into packages; `VulnDb` holds an OSV directory and
//! `matches` compares each package with its ecosystem's version ordering (`versions`).

mod apk;
mod cargo;
mod dpkg;
mod golang;
mod layers;
mod matching;
mod npm;
mod os_release;
mod osv;
mod python;
mod rpm;
pub mod versions;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Serialize};

pub use matching::matches;
pub use os_release::Os;
pub use osv::VulnDb;

/// One installed package, where it was found and (for OS packages) its source package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    /// The source package it was built from (Debian's `Source`, Alpine's origin, the
    /// source RPM's name): distributions' advisories name source packages.
    pub source: Option<String>,
    /// The source package's version where it differs from the binary's (Debian binNMUs).
    pub source_version: Option<String>,
    /// The file it was found in, relative to the image's root.
    pub path: String,
}

/// A package ecosystem, as OSV's `affected[].package.ecosystem` names it (`osv_name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ecosystem {
    Debian,
    Ubuntu,
    Alpine,
    Rpm(RpmDistro),
    PyPI,
    Npm,
    CratesIo,
    Go,
}

/// The distribution an RPM database belongs to: each has its own advisories in OSV.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RpmDistro {
    RedHat,
    Rocky,
    Alma,
    Fedora,
    AmazonLinux,
    AzureLinux,
    OpenSuse,
    Suse,
    Oracle,
    CentOs,
    /// An os-release `ID` berth does not know; its advisories cannot be told apart.
    Other(String),
}

impl Ecosystem {
    /// OSV's ecosystem name, without the release suffix (`Debian`, not `Debian:12`).
    pub fn osv_name(&self) -> &str {
        match self {
            Ecosystem::Debian => "Debian",
            Ecosystem::Ubuntu => "Ubuntu",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::Rpm(distro) => distro.osv_name(),
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Go => "Go",
        }
    }

    /// Whether OSV splits this ecosystem's advisories by distribution release.
    pub fn is_os(&self) -> bool {
        matches!(
            self,
            Ecosystem::Debian | Ecosystem::Ubuntu | Ecosystem::Alpine | Ecosystem::Rpm(_)
        )
    }

    /// The version ordering of this ecosystem's `ECOSYSTEM` ranges.
    pub fn scheme(&self) -> versions::Scheme {
        match self {
            Ecosystem::Debian | Ecosystem::Ubuntu => versions::Scheme::Dpkg,
            Ecosystem::Alpine => versions::Scheme::Apk,
            Ecosystem::Rpm(_) => versions::Scheme::Rpm,
            Ecosystem::PyPI => versions::Scheme::Pep440,
            Ecosystem::Npm | Ecosystem::CratesIo | Ecosystem::Go => versions::Scheme::Semver,
        }
    }
}

impl RpmDistro {
    /// The distribution for an os-release `ID`.
    pub fn from_os_id(id: &str) -> RpmDistro {
        match id {
            "rhel" => RpmDistro::RedHat,
            "rocky" => RpmDistro::Rocky,
            "almalinux" => RpmDistro::Alma,
            "fedora" => RpmDistro::Fedora,
            "amzn" => RpmDistro::AmazonLinux,
            "mariner" | "azurelinux" => RpmDistro::AzureLinux,
            "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" => RpmDistro::OpenSuse,
            "sles" | "sle-micro" => RpmDistro::Suse,
            "ol" => RpmDistro::Oracle,
            "centos" => RpmDistro::CentOs,
            other => RpmDistro::Other(other.to_owned()),
        }
    }

    pub fn osv_name(&self) -> &str {
        match self {
            RpmDistro::RedHat => "Red Hat",
            RpmDistro::Rocky => "Rocky Linux",
            RpmDistro::Alma => "AlmaLinux",
            RpmDistro::Fedora => "Fedora",
            RpmDistro::AmazonLinux => "Amazon Linux",
            RpmDistro::AzureLinux => "Azure Linux",
            RpmDistro::OpenSuse => "openSUSE",
            RpmDistro::Suse => "SUSE",
            RpmDistro::Oracle => "Oracle Linux",
            RpmDistro::CentOs => "CentOS",
            RpmDistro::Other(id) => id,
        }
    }
}

/// What an image holds: its distribution (from `etc/os-release`) and its packages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub os: Option<Os>,
    pub packages: Vec<Package>,
    /// Files that name packages but could not be read (too large, malformed, an older
    /// format): a scan can say what it left out.
    pub notes: Vec<String>,
}

/// One advisory that affects one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The CVE id where the advisory has one (its id or an alias), else its OSV id.
    pub id: String,
    pub severity: Severity,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    pub package: Package,
    /// The first version that is no longer affected; `fixAvailable` is `is_some()`.
    pub fixed_version: Option<String>,
    pub description: String,
    /// The advisory's first reference.
    pub uri: Option<String>,
}

/// ECR's severity names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Informational,
    Undefined,
}

impl Severity {
    /// The name ECR gives it (`CRITICAL` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Informational => "INFORMATIONAL",
            Severity::Undefined => "UNDEFINED",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading layer {layer}: {source}")]
    Layer {
        layer: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the rpm database {path}: {reason}")]
    RpmDb { path: String, reason: String },
    #[error("reading the vulnerability database at {path}: {source}")]
    VulnDbIo {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the vulnerability database file {path} is not OSV JSON: {reason}")]
    VulnDbFormat { path: String, reason: String },
    #[error("the layer reader stopped: {0}")]
    Task(String),
}

/// Reads an image's layers in order (each a stream of its blob bytes, gzip / zstd /
/// uncompressed tar detected from the bytes), applying whiteouts (`.wh.<name>`,
/// `.wh..wh..opq`), and inventories OS packages (always) and language packages (when
/// `languages`). Never holds a whole layer in memory: only the files that name packages
/// are read, each bounded in size.
pub async fn inventory<S>(layers: Vec<S>, languages: bool) -> Result<Inventory, ScanError>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
{
    let classify: layers::Classifier<FileKind> =
        Arc::new(move |path: &str, mode: u32| FileKind::of(path, mode, languages));
    let tree = layers::read_layers(layers, classify).await?;
    let mut notes = tree.notes;

    let os = [os_release::PATH, os_release::FALLBACK_PATH]
        .iter()
        .find_map(|path| match tree.files.get(*path) {
            Some(layers::Found {
                content: layers::Content::Bytes(bytes),
                ..
            }) => Some(Os::parse(&String::from_utf8_lossy(bytes))),
            _ => None,
        });
    let os_id = os.as_ref().map(|os| os.id.as_str()).unwrap_or_default();

    let mut packages = Vec::new();
    for (path, found) in &tree.files {
        match (&found.kind, &found.content) {
            (FileKind::OsRelease, _) => {}
            (FileKind::Dpkg, layers::Content::Bytes(bytes)) => {
                let ecosystem = if os_id == "ubuntu" {
                    Ecosystem::Ubuntu
                } else {
                    Ecosystem::Debian
                };
                packages.extend(dpkg::parse(
                    &String::from_utf8_lossy(bytes),
                    path,
                    &ecosystem,
                ));
            }
            (FileKind::Apk, layers::Content::Bytes(bytes)) => {
                packages.extend(apk::parse(&String::from_utf8_lossy(bytes), path));
            }
            (FileKind::RpmDb, layers::Content::File(file)) => {
                let distro = RpmDistro::from_os_id(os_id);
                match rpm::read_db(file, path, &distro).await {
                    Ok((found, skipped)) => {
                        packages.extend(found);
                        if skipped > 0 {
                            notes.push(format!("{path}: {skipped} unreadable rpm headers"));
                        }
                    }
                    Err(e) => notes.push(e.to_string()),
                }
            }
            (FileKind::PythonMetadata, layers::Content::Bytes(bytes)) => {
                packages.extend(python::parse(&String::from_utf8_lossy(bytes), path));
            }
            (FileKind::NpmLock, layers::Content::Bytes(bytes)) => {
                match npm::parse_lock(bytes, path) {
                    Ok(found) => packages.extend(found),
                    Err(e) => notes.push(format!("{path}: {e}")),
                }
            }
            (FileKind::NpmPackage, layers::Content::Bytes(bytes)) => {
                packages.extend(npm::parse_package(bytes, path));
            }
            (FileKind::CargoLock, layers::Content::Bytes(bytes)) => {
                match cargo::parse(&String::from_utf8_lossy(bytes), path) {
                    Ok(found) => packages.extend(found),
                    Err(e) => notes.push(format!("{path}: {e}")),
                }
            }
            (FileKind::Executable, layers::Content::Bytes(bytes)) => {
                match golang::parse(bytes, path) {
                    Ok(found) => packages.extend(found),
                    Err(e) => notes.push(format!("{path}: {e}")),
                }
            }
            // Shadowed by an upper layer or too large: already noted by the reader.
            (_, layers::Content::Gone) => {}
            (kind, _) => notes.push(format!("{path}: unexpected content for {kind:?}")),
        }
    }
    packages.sort();
    packages.dedup();
    Ok(Inventory {
        os,
        packages,
        notes,
    })
}

/// The files a scan reads, by path (and, for executables, mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    OsRelease,
    Dpkg,
    Apk,
    RpmDb,
    PythonMetadata,
    NpmLock,
    NpmPackage,
    CargoLock,
    /// An executable that may carry Go build info; only that section is kept.
    Executable,
}

const MIB: u64 = 1024 * 1024;

impl FileKind {
    fn of(path: &str, mode: u32, languages: bool) -> Option<(FileKind, layers::Want)> {
        use layers::Want;
        let kind = if path == os_release::PATH || path == os_release::FALLBACK_PATH {
            FileKind::OsRelease
        } else if dpkg::wants(path) {
            FileKind::Dpkg
        } else if apk::wants(path) {
            FileKind::Apk
        } else if rpm::wants(path) {
            FileKind::RpmDb
        } else if !languages {
            return None;
        } else if python::wants(path) {
            FileKind::PythonMetadata
        } else if npm::wants_lock(path) {
            FileKind::NpmLock
        } else if npm::wants_package(path) {
            FileKind::NpmPackage
        } else if cargo::wants(path) {
            FileKind::CargoLock
        } else if mode & 0o111 != 0 {
            FileKind::Executable
        } else {
            return None;
        };
        let want = match kind {
            FileKind::OsRelease => Want::Bytes { max: 64 * 1024 },
            FileKind::Dpkg | FileKind::Apk => Want::Bytes { max: 64 * MIB },
            FileKind::RpmDb => Want::TempFile { max: 512 * MIB },
            FileKind::PythonMetadata | FileKind::NpmPackage => Want::Bytes { max: MIB },
            FileKind::NpmLock | FileKind::CargoLock => Want::Bytes { max: 32 * MIB },
            FileKind::Executable => Want::Scan(golang::extract),
        };
        Some((kind, want))
    }
}

#[cfg(test)]
mod tests;
