//! Each ecosystem's version ordering. `compare` answers `None` when either side is not
//! a version of that scheme, so a range with a version that does not parse is skipped
//! rather than guessed at.

mod apk;
mod dpkg;
mod pep440;
mod rpm;
mod semver;

use std::cmp::Ordering;

/// A version ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// dpkg's `epoch:upstream-revision` (Debian, Ubuntu).
    Dpkg,
    /// apk-tools' (Alpine).
    Apk,
    /// rpm's `epoch:version-release` with rpmvercmp.
    Rpm,
    /// PEP 440 (PyPI).
    Pep440,
    /// Semantic versioning (npm, crates.io, Go: a leading `v` is dropped).
    Semver,
}

/// Compares two versions of a crate's type that parses and orders them.
fn by_parsing<T: std::str::FromStr + Ord>(a: &str, b: &str) -> Option<Ordering> {
    Some(a.parse::<T>().ok()?.cmp(&b.parse::<T>().ok()?))
}

pub fn compare(scheme: Scheme, a: &str, b: &str) -> Option<Ordering> {
    match scheme {
        Scheme::Dpkg => by_parsing::<debversion::Version>(a, b),
        Scheme::Apk => apk::compare(a, b),
        Scheme::Rpm => rpm::compare(a, b),
        Scheme::Pep440 => by_parsing::<pep440_rs::Version>(a, b),
        Scheme::Semver => semver::compare(a, b),
    }
}

/// Checks that each version of `ascending` is below the next (and the next above it).
#[cfg(test)]
pub(crate) fn check_ascending(scheme: Scheme, ascending: &[&str]) {
    let mut table = Vec::new();
    for pair in ascending.windows(2) {
        table.push((pair[0], pair[1], Ordering::Less));
        table.push((pair[1], pair[0], Ordering::Greater));
    }
    check_table(scheme, &table);
}

#[cfg(test)]
pub(crate) fn check_table(scheme: Scheme, table: &[(&str, &str, Ordering)]) {
    let wrong: Vec<String> = table
        .iter()
        .filter(|(a, b, want)| compare(scheme, a, b) != Some(*want))
        .map(|(a, b, want)| format!("{a} vs {b}: want {want:?}, got {:?}", compare(scheme, a, b)))
        .collect();
    assert!(wrong.is_empty(), "{scheme:?}:\n{}", wrong.join("\n"));
}
