//! Installed Python distributions: `<name>.dist-info/METADATA`, email-style headers
//! (`Name`, `Version`) up to the first blank line.

use super::{Ecosystem, Package};

pub(crate) fn wants(path: &str) -> bool {
    path.rsplit_once('/')
        .is_some_and(|(dir, file)| file == "METADATA" && dir.ends_with(".dist-info"))
}

pub(crate) fn parse(text: &str, path: &str) -> Option<Package> {
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        match line.split_once(':') {
            Some(("Name", value)) => name = Some(value.trim()),
            Some(("Version", value)) => version = Some(value.trim()),
            _ => {}
        }
    }
    Some(Package {
        ecosystem: Ecosystem::PyPI,
        name: name?.to_owned(),
        version: version?.to_owned(),
        source: None,
        source_version: None,
        path: path.to_owned(),
    })
}

/// PEP 503's normal form of a project name, the form OSV's PyPI advisories match on.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_and_version_from_the_headers_only() {
        let path = "usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA";
        assert!(wants(path));
        assert!(!wants("usr/lib/python3/dist-packages/foo/METADATA"));
        let text = "Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\n\nName: not-a-header\n";
        let package = parse(text, path).unwrap();
        assert_eq!(
            (package.name.as_str(), package.version.as_str()),
            ("Jinja2", "3.1.2")
        );
        assert_eq!(parse("Name: x\n", path), None);
    }

    #[test]
    fn normalizes_names_as_pep_503_does() {
        assert_eq!(normalize("Jinja2"), "jinja2");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("Foo__Bar-.baz"), "foo-bar-baz");
    }
}
