//! npm packages: `package-lock.json` (lockfile v1's nested `dependencies`, v2 and v3's
//! `packages` keyed by install path) and each `node_modules/**/package.json`.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::{Ecosystem, Package};

const LOCKFILE: &str = "package-lock.json";
const MODULES: &str = "node_modules/";

pub(crate) fn wants_lock(path: &str) -> bool {
    path == LOCKFILE || path.ends_with("/package-lock.json")
}

/// `node_modules/<name>/package.json` or `node_modules/@scope/<name>/package.json`, at
/// any depth, not a package's own nested files.
pub(crate) fn wants_package(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/package.json") else {
        return false;
    };
    let Some(index) = dir.rfind(MODULES) else {
        return false;
    };
    if index > 0 && !dir[..index].ends_with('/') {
        return false;
    }
    let name = &dir[index + MODULES.len()..];
    match name.split_once('/') {
        None => !name.is_empty(),
        Some((scope, rest)) => scope.starts_with('@') && !rest.is_empty() && !rest.contains('/'),
    }
}

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    packages: BTreeMap<String, LockPackage>,
    #[serde(default)]
    dependencies: BTreeMap<String, LockDependency>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    link: bool,
}

#[derive(Deserialize)]
struct LockDependency {
    version: Option<String>,
    #[serde(default)]
    dependencies: BTreeMap<String, LockDependency>,
}

#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
}

fn package(name: &str, version: &str, path: &str) -> Package {
    Package {
        ecosystem: Ecosystem::Npm,
        name: name.to_owned(),
        version: version.to_owned(),
        source: None,
        source_version: None,
        path: path.to_owned(),
    }
}

pub(crate) fn parse_lock(bytes: &[u8], path: &str) -> Result<Vec<Package>, serde_json::Error> {
    let lock: Lock = serde_json::from_slice(bytes)?;
    let mut found = Vec::new();
    if !lock.packages.is_empty() {
        for (install_path, entry) in &lock.packages {
            // "" is the project itself; links point at a workspace's own folders.
            let Some(index) = install_path.rfind(MODULES) else {
                continue;
            };
            if entry.link {
                continue;
            }
            let name = entry
                .name
                .as_deref()
                .unwrap_or(&install_path[index + MODULES.len()..]);
            if let Some(version) = &entry.version {
                found.push(package(name, version, path));
            }
        }
    } else {
        let mut stack: Vec<(&String, &LockDependency)> = lock.dependencies.iter().collect();
        while let Some((name, dependency)) = stack.pop() {
            // v1 writes a git or file dependency's version as its source URL.
            if let Some(version) = dependency.version.as_deref().filter(|v| !v.contains(':')) {
                found.push(package(name, version, path));
            }
            stack.extend(dependency.dependencies.iter());
        }
    }
    Ok(found)
}

pub(crate) fn parse_package(bytes: &[u8], path: &str) -> Option<Package> {
    let manifest: Manifest = serde_json::from_slice(bytes).ok()?;
    Some(package(&manifest.name?, &manifest.version?, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(mut packages: Vec<Package>) -> Vec<(String, String)> {
        packages.sort();
        packages.into_iter().map(|p| (p.name, p.version)).collect()
    }

    #[test]
    fn reads_lockfile_v3_packages() {
        let lock = br#"{"name":"app","lockfileVersion":3,"packages":{
            "":{"name":"app","version":"1.0.0"},
            "node_modules/lodash":{"version":"4.17.20"},
            "node_modules/@babel/core":{"version":"7.22.0"},
            "node_modules/a/node_modules/minimist":{"version":"1.2.5"},
            "node_modules/alias":{"name":"semver","version":"7.5.1"},
            "node_modules/local":{"resolved":"packages/local","link":true}}}"#;
        assert_eq!(
            pairs(parse_lock(lock, "app/package-lock.json").unwrap()),
            vec![
                ("@babel/core".into(), "7.22.0".into()),
                ("lodash".into(), "4.17.20".into()),
                ("minimist".into(), "1.2.5".into()),
                ("semver".into(), "7.5.1".into()),
            ]
        );
    }

    #[test]
    fn reads_lockfile_v1_nested_dependencies() {
        let lock = br#"{"lockfileVersion":1,"dependencies":{
            "lodash":{"version":"4.17.20"},
            "a":{"version":"1.0.0","dependencies":{"minimist":{"version":"0.0.8"}}},
            "g":{"version":"git+https://example.invalid/g.git#abc"}}}"#;
        assert_eq!(
            pairs(parse_lock(lock, LOCKFILE).unwrap()),
            vec![
                ("a".into(), "1.0.0".into()),
                ("lodash".into(), "4.17.20".into()),
                ("minimist".into(), "0.0.8".into()),
            ]
        );
        assert!(parse_lock(b"not json", LOCKFILE).is_err());
    }

    #[test]
    fn wants_installed_package_manifests_only() {
        assert!(wants_package("app/node_modules/lodash/package.json"));
        assert!(wants_package("node_modules/@babel/core/package.json"));
        assert!(wants_package("node_modules/a/node_modules/b/package.json"));
        assert!(!wants_package("node_modules/lodash/fp/package.json"));
        assert!(!wants_package("app/package.json"));
        assert!(!wants_package("my_node_modules/x/package.json"));
        assert!(wants_lock("app/package-lock.json"));
        assert!(!wants_lock("app/my-package-lock.json"));
        let manifest = parse_package(br#"{"name":"lodash","version":"4.17.20"}"#, "p").unwrap();
        assert_eq!(
            (manifest.name.as_str(), manifest.version.as_str()),
            ("lodash", "4.17.20")
        );
        assert_eq!(parse_package(br#"{"name":"x"}"#, "p"), None);
    }
}
