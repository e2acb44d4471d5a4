//! Debian versions, by the `debversion` crate (dpkg's rules: epoch, then upstream and
//! revision compared as alternating non-digit and digit parts, `~` before anything).

// The ordering itself is `super::by_parsing` over the crate's type.

#[cfg(test)]
mod tests {
    use super::super::{check_table, Scheme};
    use std::cmp::Ordering::{Equal as E, Greater as G, Less as L};

    /// Cases from dpkg's own test suite (lib/dpkg/t/t-version.c) and Debian Policy 5.6.12.
    #[test]
    fn orders_as_dpkg_does() {
        check_table(
            Scheme::Dpkg,
            &[
                ("0:0-0", "0:0-0", E),
                ("0:0-0", "0:0", E),
                ("1:0-0", "0:0-0", G),
                ("0:1-0", "0:0-0", G),
                ("0:0-1", "0:0-0", G),
                ("0:0.0-0", "0:0-0", G),
                ("0:a-0", "0:0-0", G),
                ("0:a-0", "0:b-0", L),
                ("0:0a-0", "0:0-0", G),
                ("0:0-a", "0:0-b", L),
                ("0:0~-0", "0:0-0", L),
                ("0:0~~-0", "0:0~-0", L),
                ("0:0~~a-0", "0:0~~-0", G),
                ("0:0-0~", "0:0-0", L),
                ("1.0~rc1-1", "1.0-1", L),
                ("1.0-1~bpo1", "1.0-1", L),
                ("1.0+b1", "1.0", G),
                ("1:1.2.13.dfsg-1+b1", "1:1.2.13.dfsg-1", G),
                ("3.0.11-1~deb12u2", "3.0.11-1~deb12u1", G),
                ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1", L),
                ("2:1.0", "10.0", G),
                ("1.10", "1.9", G),
                ("1.001", "1.1", E),
            ],
        );
        assert_eq!(super::super::compare(Scheme::Dpkg, "", "1"), None);
    }
}
