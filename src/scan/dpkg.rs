//! dpkg's database: `var/lib/dpkg/status` and distroless images' `status.d/<package>`
//! files, paragraphs of `Field: value` lines.

use super::{Ecosystem, Package};

const STATUS: &str = "var/lib/dpkg/status";
const STATUS_D: &str = "var/lib/dpkg/status.d/";

pub(crate) fn wants(path: &str) -> bool {
    path == STATUS
        || path
            .strip_prefix(STATUS_D)
            .is_some_and(|name| !name.contains('/') && !name.ends_with(".md5sums"))
}

/// The installed packages of a status file.
pub(crate) fn parse(text: &str, path: &str, ecosystem: &Ecosystem) -> Vec<Package> {
    paragraphs(text)
        .filter_map(|fields| {
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| *value)
            };
            // status.d files carry no Status: what is there is installed.
            if field("Status")
                .is_some_and(|status| status.split_whitespace().nth(2) != Some("installed"))
            {
                return None;
            }
            let name = field("Package")?.to_owned();
            let version = field("Version")?.to_owned();
            let (source, source_version) = match field("Source") {
                // `Source: name (version)` when the source version differs (binNMUs).
                Some(source) => match source.split_once(' ') {
                    Some((source, version)) => (
                        Some(source.to_owned()),
                        Some(
                            version
                                .trim()
                                .trim_start_matches('(')
                                .trim_end_matches(')')
                                .to_owned(),
                        ),
                    ),
                    None => (Some(source.to_owned()), None),
                },
                None => (None, None),
            };
            Some(Package {
                ecosystem: ecosystem.clone(),
                name,
                version,
                source,
                source_version,
                path: path.to_owned(),
            })
        })
        .collect()
}

/// Each paragraph's fields; continuation lines (starting with a space) are skipped.
fn paragraphs(text: &str) -> impl Iterator<Item = Vec<(&str, &str)>> {
    text.split("\n\n").filter_map(|paragraph| {
        let fields: Vec<(&str, &str)> = paragraph
            .lines()
            .filter(|line| !line.starts_with([' ', '\t']))
            .filter_map(|line| line.split_once(':'))
            .map(|(key, value)| (key.trim(), value.trim()))
            .collect();
        (!fields.is_empty()).then_some(fields)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A status file with a binNMU, a removed package and one without a source.
    pub(crate) const STATUS_FILE: &str = "\
Package: libssl3
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation.

Package: removed-thing
Status: deinstall ok config-files
Version: 1.0-1

Package: zlib1g
Status: install ok installed
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1+b1

Package: bash
Status: install ok installed
Version: 5.2.15-2+b2
";

    #[test]
    fn reads_installed_packages_with_their_sources() {
        let packages = parse(STATUS_FILE, STATUS, &Ecosystem::Debian);
        let got: Vec<_> = packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.source.as_deref(),
                    p.source_version.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("libssl3", "3.0.11-1~deb12u2", Some("openssl"), None),
                (
                    "zlib1g",
                    "1:1.2.13.dfsg-1+b1",
                    Some("zlib"),
                    Some("1:1.2.13.dfsg-1")
                ),
                ("bash", "5.2.15-2+b2", None, None),
            ]
        );
        assert!(packages.iter().all(|p| p.path == STATUS));
    }

    #[test]
    fn wants_status_and_status_d_but_not_md5sums() {
        assert!(wants("var/lib/dpkg/status"));
        assert!(wants("var/lib/dpkg/status.d/base"));
        assert!(!wants("var/lib/dpkg/status.d/base.md5sums"));
        assert!(!wants("var/lib/dpkg/status-old"));
    }
}
