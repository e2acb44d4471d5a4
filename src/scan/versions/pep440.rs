//! PyPI versions, by `pep440_rs` (epochs, pre-, post- and dev-releases, local labels).

// The ordering itself is `super::by_parsing` over the crate's type.

#[cfg(test)]
mod tests {
    use super::super::{check_ascending, check_table, Scheme};
    use std::cmp::Ordering::Equal as E;

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
        check_ascending(Scheme::Pep440, &ordered);
        check_table(
            Scheme::Pep440,
            &[
                ("1.0", "1.0.0", E),
                ("1.0RC1", "1.0rc1", E),
                ("v1.0", "1.0", E),
                ("1.0-1", "1.0.post1", E),
            ],
        );
        assert_eq!(
            super::super::compare(Scheme::Pep440, "not a version", "1.0"),
            None
        );
    }
}
