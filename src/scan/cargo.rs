//! Rust crates: `Cargo.lock`'s `[[package]]` tables; only those from a registry (a
//! workspace's own crates and git dependencies are not crates.io releases).

use serde::Deserialize;

use super::{Ecosystem, Package};

pub(crate) fn wants(path: &str) -> bool {
    path == "Cargo.lock" || path.ends_with("/Cargo.lock")
}

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: String,
    source: Option<String>,
}

pub(crate) fn parse(text: &str, path: &str) -> Result<Vec<Package>, toml::de::Error> {
    let lock: Lock = toml::from_str(text)?;
    Ok(lock
        .package
        .into_iter()
        .filter(|p| {
            p.source
                .as_deref()
                .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"))
        })
        .map(|p| Package {
            ecosystem: Ecosystem::CratesIo,
            name: p.name,
            version: p.version,
            source: None,
            source_version: None,
            path: path.to_owned(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_registry_packages_only() {
        let lock = r#"
version = 3

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["smallvec"]

[[package]]
name = "smallvec"
version = "1.6.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "fe0f37c9e8f3c5a4a66ad655a93c74daac4ad00a"

[[package]]
name = "forked"
version = "0.2.0"
source = "git+https://example.invalid/forked#abc"
"#;
        let got: Vec<_> = parse(lock, "src/app/Cargo.lock")
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.version, p.path))
            .collect();
        assert_eq!(
            got,
            vec![(
                "smallvec".into(),
                "1.6.0".into(),
                "src/app/Cargo.lock".into()
            )]
        );
        assert!(parse("[[package]]\nname = 1", "Cargo.lock").is_err());
        assert!(wants("Cargo.lock") && wants("a/Cargo.lock") && !wants("a/NotCargo.lock"));
    }
}
