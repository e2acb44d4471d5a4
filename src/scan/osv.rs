//! The vulnerability database: a directory of OSV JSON files (read recursively; a file
//! holds one advisory or an array of them), indexed by ecosystem and package name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ScanError;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Vulnerability {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub upstream: Vec<String>,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub details: String,
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SeverityScore {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Affected {
    pub package: Option<AffectedPackage>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AffectedPackage {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Event {
    pub introduced: Option<String>,
    pub fixed: Option<String>,
    pub last_affected: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Reference {
    pub url: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Box<Vulnerability>),
    Many(Vec<Vulnerability>),
}

/// An OSV database in memory, indexed for matching.
#[derive(Debug, Default)]
pub struct VulnDb {
    pub(crate) vulnerabilities: Vec<Vulnerability>,
    /// (ecosystem without its release, normalized package name) → (advisory, affected).
    pub(crate) index: HashMap<(String, String), Vec<(usize, usize)>>,
    fingerprint: String,
}

impl VulnDb {
    /// Loads every `*.json` file under `dir`. A file that is not OSV JSON fails the
    /// load, naming the file: a database is used whole or not at all.
    pub fn load(dir: &Path) -> Result<VulnDb, ScanError> {
        let mut files = Vec::new();
        collect(dir, &mut files)?;
        files.sort();
        let mut hasher = Sha256::new();
        let mut db = VulnDb::default();
        for file in files {
            let io_error = |source| ScanError::VulnDbIo {
                path: file.display().to_string(),
                source,
            };
            let bytes = std::fs::read(&file).map_err(io_error)?;
            let relative = file.strip_prefix(dir).unwrap_or(&file);
            hasher.update(relative.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(&bytes);
            let parsed: OneOrMany =
                serde_json::from_slice(&bytes).map_err(|e| ScanError::VulnDbFormat {
                    path: file.display().to_string(),
                    reason: e.to_string(),
                })?;
            match parsed {
                OneOrMany::One(vulnerability) => db.add(*vulnerability),
                OneOrMany::Many(vulnerabilities) => {
                    vulnerabilities.into_iter().for_each(|v| db.add(v))
                }
            }
        }
        db.fingerprint = hex::encode(hasher.finalize());
        Ok(db)
    }

    /// A digest of the files' names and contents: it changes when the database does.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// How many advisories it holds.
    pub fn len(&self) -> usize {
        self.vulnerabilities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vulnerabilities.is_empty()
    }

    fn add(&mut self, vulnerability: Vulnerability) {
        let at = self.vulnerabilities.len();
        for (i, affected) in vulnerability.affected.iter().enumerate() {
            if let Some(package) = &affected.package {
                let ecosystem = base_ecosystem(&package.ecosystem).to_owned();
                let name = normalize_name(&ecosystem, &package.name);
                self.index
                    .entry((ecosystem, name))
                    .or_default()
                    .push((at, i));
            }
        }
        self.vulnerabilities.push(vulnerability);
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ScanError> {
    let io_error = |source| ScanError::VulnDbIo {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_error)?;
        if kind.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    Ok(())
}

/// `Debian` of `Debian:12`.
pub(crate) fn base_ecosystem(ecosystem: &str) -> &str {
    ecosystem.split(':').next().unwrap_or(ecosystem)
}

/// The release an ecosystem names, if any: `12` of `Debian:12`, `v3.19` of
/// `Alpine:v3.19`, `22.04` of `Ubuntu:22.04:LTS`, `9` of
/// `Red Hat:enterprise_linux:9::appstream` (the first part that starts with a digit,
/// or `v` and a digit).
pub(crate) fn release(ecosystem: &str) -> Option<&str> {
    ecosystem.split(':').skip(1).find(|part| {
        let digits = part.strip_prefix('v').unwrap_or(part);
        digits.starts_with(|c: char| c.is_ascii_digit())
    })
}

/// Package names as OSV's ecosystems match them: PyPI's are PEP 503-normalized.
pub(crate) fn normalize_name(ecosystem: &str, name: &str) -> String {
    if ecosystem == "PyPI" {
        super::python::normalize(name)
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ecosystem_releases() {
        assert_eq!(release("Debian:12"), Some("12"));
        assert_eq!(release("Alpine:v3.19"), Some("v3.19"));
        assert_eq!(release("Ubuntu:22.04:LTS"), Some("22.04"));
        assert_eq!(release("Red Hat:enterprise_linux:9::appstream"), Some("9"));
        assert_eq!(release("Rocky Linux:9"), Some("9"));
        assert_eq!(release("Debian"), None);
        assert_eq!(release("npm"), None);
        assert_eq!(base_ecosystem("Ubuntu:Pro:18.04:LTS"), "Ubuntu");
    }

    #[test]
    fn loads_recursively_and_fingerprints_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("npm")).unwrap();
        let one = r#"{"id":"GHSA-1","affected":[{"package":{"ecosystem":"npm","name":"x"}}]}"#;
        std::fs::write(dir.path().join("npm/GHSA-1.json"), one).unwrap();
        std::fs::write(dir.path().join("README.md"), "not json").unwrap();
        let db = VulnDb::load(dir.path()).unwrap();
        assert_eq!(db.len(), 1);
        let first = db.fingerprint();
        assert_eq!(VulnDb::load(dir.path()).unwrap().fingerprint(), first);
        std::fs::write(dir.path().join("many.json"), format!("[{one}]")).unwrap();
        let db = VulnDb::load(dir.path()).unwrap();
        assert_eq!(db.len(), 2);
        assert_ne!(db.fingerprint(), first);
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        let err = VulnDb::load(dir.path()).unwrap_err();
        assert!(
            matches!(err, ScanError::VulnDbFormat { ref path, .. } if path.ends_with("bad.json")),
            "{err}"
        );
        assert!(VulnDb::load(&dir.path().join("missing")).is_err());
    }
}
