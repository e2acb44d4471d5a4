//! PyPI versions, by `pep440_rs` (epochs, pre-, post- and dev-releases, local labels).

use std::cmp::Ordering;

pub(super) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let a: pep440_rs::Version = a.parse().ok()?;
    let b: pep440_rs::Version = b.parse().ok()?;
    Some(a.cmp(&b))
}

#[cfg(test)]
mod tests {
    use super::super::{check_table, Scheme};
    use std::cmp::Ordering::{Equal as E, Greater as G, Less as L};

    /// The ordering PEP 440's "Summary of permitted suffixes and relative ordering" and
    /// packaging's test_version.py list.
    #[test]
    fn orders_as_pep_440_does() {
        let ordered = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "1!0.1",
        ];
        let mut table = Vec::new();
        for pair in ordered.windows(2) {
            table.push((pair[0], pair[1], L));
            table.push((pair[1], pair[0], G));
        }
        table.extend([
            ("1.0", "1.0.0", E),
            ("1.0RC1", "1.0rc1", E),
            ("v1.0", "1.0", E),
            ("1.0-1", "1.0.post1", E),
        ]);
        check_table(Scheme::Pep440, &table);
        assert_eq!(super::compare("not a version", "1.0"), None);
    }
}
