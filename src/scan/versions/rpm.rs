//! RPM versions: `[epoch:]version[-release]`, each part by rpmvercmp (rpm's
//! rpmio/rpmvercmp.cc; no maintained crate carries it without the rest of rpm): runs
//! of digits compared as numbers, runs of letters as strings, a digit run newer than a
//! letter run, `~` sorting before anything (even the end) and `^` after the end only.

use std::cmp::Ordering;

/// rpmvercmp on one part (version or release).
pub(crate) fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (a.as_bytes(), b.as_bytes());
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while one.first().is_some_and(|&c| separator(c)) {
            one = &one[1..];
        }
        while two.first().is_some_and(|&c| separator(c)) {
            two = &two[1..];
        }
        if one.is_empty() && two.is_empty() {
            break;
        }
        if one.first() == Some(&b'~') || two.first() == Some(&b'~') {
            if one.first() != Some(&b'~') {
                return Ordering::Greater;
            }
            if two.first() != Some(&b'~') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        if one.first() == Some(&b'^') || two.first() == Some(&b'^') {
            if one.is_empty() {
                return Ordering::Less;
            }
            if two.is_empty() {
                return Ordering::Greater;
            }
            if one.first() != Some(&b'^') {
                return Ordering::Greater;
            }
            if two.first() != Some(&b'^') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        if one.is_empty() || two.is_empty() {
            break;
        }
        let numeric = one[0].is_ascii_digit();
        let run = |s: &[u8]| {
            s.iter()
                .position(|&c| {
                    if numeric {
                        !c.is_ascii_digit()
                    } else {
                        !c.is_ascii_alphabetic()
                    }
                })
                .unwrap_or(s.len())
        };
        let (n1, n2) = (run(one), run(two));
        if n2 == 0 {
            // Different kinds of segment: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut s1, mut s2) = (&one[..n1], &two[..n2]);
        if numeric {
            while s1.first() == Some(&b'0') {
                s1 = &s1[1..];
            }
            while s2.first() == Some(&b'0') {
                s2 = &s2[1..];
            }
            match s1.len().cmp(&s2.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match s1.cmp(s2) {
            Ordering::Equal => {}
            order => return order,
        }
        one = &one[n1..];
        two = &two[n2..];
    }
    match (one.is_empty(), two.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

struct Evr<'a> {
    epoch: u64,
    version: &'a str,
    release: Option<&'a str>,
}

fn parse(text: &str) -> Option<Evr<'_>> {
    let (epoch, rest) = match text.split_once(':') {
        Some((epoch, rest)) => (epoch.parse().ok()?, rest),
        None => (0, text),
    };
    let (version, release) = match rest.rsplit_once('-') {
        Some((version, release)) => (version, Some(release)),
        None => (rest, None),
    };
    (!version.is_empty()).then_some(Evr {
        epoch,
        version,
        release,
    })
}

/// Compares `epoch:version-release` strings; a missing epoch is 0, and a missing
/// release compares equal to any (as rpm does when a dependency names none).
pub(super) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    Some(
        a.epoch
            .cmp(&b.epoch)
            .then_with(|| rpmvercmp(a.version, b.version))
            .then_with(|| match (a.release, b.release) {
                (Some(x), Some(y)) => rpmvercmp(x, y),
                _ => Ordering::Equal,
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal as E, Greater as G, Less as L};

    /// rpmvercmp's rules, each case written from its documented semantics: segments of
    /// digits compare numerically and beat letters, separators only separate, `~`
    /// sorts before everything (even the end), `^` after the end but before more.
    #[test]
    fn rpmvercmp_orders_as_rpm_does() {
        for (a, b, want) in [
            ("1.0", "1.0", E),
            ("1.0", "2.0", L),
            ("2.0.1", "2.0", G),
            ("5.5p1", "5.5p2", L),
            ("5.5p10", "5.5p1", G),
            ("10xyz", "10.1xyz", L),
            ("xyz10", "xyz10.1", L),
            ("xyz.4", "8", L),
            ("5.6.7", "5.6-7", E),
            ("2a", "2.0", L),
            ("1.0010", "1.9", G),
            ("1.05", "1.5", E),
            ("1.0~rc1", "1.0", L),
            ("1.0~rc1", "1.0~rc2", L),
            ("1.0~rc1~git123", "1.0~rc1", L),
            ("1.0^", "1.0", G),
            ("1.0^git1", "1.0.1", L),
            ("1.0^git1", "1.0^git2", L),
            ("1.0~rc1^git1", "1.0~rc1", G),
            ("a", "b", L),
            ("1", "a", G),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn compares_epoch_version_release() {
        super::super::check_table(
            super::super::Scheme::Rpm,
            &[
                ("1:3.0.7-24.el9", "1:3.0.7-25.el9", L),
                ("1:3.0.7-24.el9", "3.0.8-1.el9", G),
                ("0:1.0-1", "1.0-1", E),
                ("5.2.5-1.cm2", "5.2.5-2.cm2", L),
                ("5.2.5-1.cm2", "5.2.4-9.cm2", G),
                ("1.1.1k-7.el8_6", "1.1.1k-12.el8_6", L),
                ("2.0", "2.0-5", E),
            ],
        );
        assert_eq!(compare("x:1.0", "1.0"), None);
    }
}
