//! Semantic versions, by the `semver` crate (npm, crates.io, Go). A leading `v` (Go) is
//! dropped and a missing minor or patch (`1.2`) counts as zero; build metadata
//! (`+incompatible`) does not order.

use std::cmp::Ordering;

fn parse(text: &str) -> Option<semver::Version> {
    let text = text.trim().trim_start_matches('v');
    let (core, rest) = match text.find(['-', '+']) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let parts = core.split('.').count();
    let padded = match parts {
        1 => format!("{core}.0.0{rest}"),
        2 => format!("{core}.0{rest}"),
        _ => text.to_owned(),
    };
    let mut version = semver::Version::parse(&padded).ok()?;
    version.build = semver::BuildMetadata::EMPTY;
    Some(version)
}

pub(super) fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(parse(a)?.cmp(&parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::super::{check_ascending, check_table, Scheme};
    use std::cmp::Ordering::{Equal as E, Greater as G, Less as L};

    /// Semver 2.0.0's precedence examples (section 11), Go's `v` and pseudo-versions.
    #[test]
    fn orders_as_semver_does() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        check_ascending(Scheme::Semver, &ordered);
        check_table(
            Scheme::Semver,
            &[
                ("v0.7.0", "0.7.0", E),
                ("v0.0.0-20210101000000-abcdefabcdef", "0.0.0", L),
                (
                    "v0.0.0-20210101000000-abcdefabcdef",
                    "v0.0.0-20220101000000-abcdefabcdef",
                    L,
                ),
                ("v2.4.0+incompatible", "2.4.0", E),
                ("1.2", "1.2.0", E),
                ("1", "0.9.9", G),
            ],
        );
        assert_eq!(super::compare("x.y", "1.0.0"), None);
    }
}
