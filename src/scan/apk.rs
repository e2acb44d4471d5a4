//! Alpine's database, `lib/apk/db/installed`: one `X:value` line per field, packages
//! separated by blank lines (`P` name, `V` version, `o` origin, the source package).

use super::{Ecosystem, Package};

const INSTALLED: &str = "lib/apk/db/installed";

pub(crate) fn wants(path: &str) -> bool {
    path == INSTALLED
}

pub(crate) fn parse(text: &str, path: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    let mut name = None;
    let mut version = None;
    let mut origin = None;
    let mut finish =
        |name: &mut Option<&str>, version: &mut Option<&str>, origin: &mut Option<&str>| {
            if let (Some(n), Some(v)) = (name.take(), version.take()) {
                packages.push(Package {
                    ecosystem: Ecosystem::Alpine,
                    name: n.to_owned(),
                    version: v.to_owned(),
                    source: origin.map(str::to_owned),
                    source_version: None,
                    path: path.to_owned(),
                });
            }
            *origin = None;
        };
    for line in text.lines() {
        match line.split_once(':') {
            Some(("P", value)) => name = Some(value),
            Some(("V", value)) => version = Some(value),
            Some(("o", value)) => origin = Some(value),
            _ if line.is_empty() => finish(&mut name, &mut version, &mut origin),
            _ => {}
        }
    }
    finish(&mut name, &mut version, &mut origin);
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_packages_with_their_origin() {
        let text = "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r1\nA:x86_64\no:openssl\nF:lib\nR:libcrypto.so.3\n\n\
                    P:musl\nV:1.2.4_git20230717-r4\no:musl\n\nP:no-version\n\nP:busybox\nV:1.36.1-r15\n";
        let got: Vec<_> = parse(text, INSTALLED)
            .into_iter()
            .map(|p| (p.name, p.version, p.source))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "libcrypto3".into(),
                    "3.1.4-r1".into(),
                    Some("openssl".into())
                ),
                (
                    "musl".into(),
                    "1.2.4_git20230717-r4".into(),
                    Some("musl".into())
                ),
                ("busybox".into(), "1.36.1-r15".into(), None),
            ]
        );
    }
}
