//! Alpine versions, as apk-tools orders them (src/version.c): no maintained crate does.
//! `digit{.digit}…{letter}{_suffix{digits}}…{~hash}{-r#}`: tokens compared in turn,
//! numbers numerically (by string where either has a leading zero), pre-release
//! suffixes (`_alpha`, `_beta`, `_pre`, `_rc`) before the release, others after.

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffixes in their order; `NONE` (the release itself) sits between pre and post.
const SUFFIXES: [&str; 11] = [
    "", "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p",
];
const SUFFIX_INVALID: usize = 0;
const SUFFIX_NONE: usize = 5;

struct Token<'a> {
    kind: Kind,
    suffix: usize,
    number: u64,
    value: &'a [u8],
}

fn suffix_value(suffix: &[u8]) -> usize {
    let index = match suffix.first() {
        Some(b'a') => 1,
        Some(b'b') => 2,
        Some(b'p') if suffix.len() > 1 => 3,
        Some(b'p') => 10,
        Some(b'r') => 4,
        Some(b'c') => 6,
        Some(b's') => 7,
        Some(b'g') => 8,
        Some(b'h') => 9,
        _ => return SUFFIX_INVALID,
    };
    if SUFFIXES[index].as_bytes() == suffix {
        index
    } else {
        SUFFIX_INVALID
    }
}

fn span(b: &[u8], accept: impl Fn(u8) -> bool) -> usize {
    b.iter().position(|&c| !accept(c)).unwrap_or(b.len())
}

impl<'a> Token<'a> {
    fn digits(&mut self, b: &mut &'a [u8]) {
        let n = span(b, |c| c.is_ascii_digit());
        self.value = &b[..n];
        self.number = self.value.iter().fold(0u64, |acc, d| {
            acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        *b = &b[n..];
        if n == 0 {
            self.kind = Kind::Invalid;
        }
    }

    fn first(b: &mut &'a [u8]) -> Token<'a> {
        let mut t = Token {
            kind: Kind::InitialDigit,
            suffix: SUFFIX_INVALID,
            number: 0,
            value: &[],
        };
        t.digits(b);
        t
    }

    fn next(&mut self, b: &mut &'a [u8]) {
        let Some(&c) = b.first() else {
            self.kind = Kind::End;
            return;
        };
        match c {
            b'a'..=b'z' if self.kind <= Kind::Digit => {
                self.value = &b[..1];
                self.kind = Kind::Letter;
                *b = &b[1..];
            }
            b'.' | b'0'..=b'9' => {
                if c == b'.' {
                    if self.kind > Kind::Digit {
                        self.kind = Kind::Invalid;
                        return;
                    }
                    *b = &b[1..];
                }
                self.kind = match self.kind {
                    Kind::InitialDigit | Kind::Digit => Kind::Digit,
                    Kind::Suffix => Kind::SuffixNo,
                    _ => {
                        self.kind = Kind::Invalid;
                        return;
                    }
                };
                self.digits(b);
            }
            b'_' if self.kind <= Kind::SuffixNo => {
                *b = &b[1..];
                let n = span(b, |c| c.is_ascii_lowercase());
                self.value = &b[..n];
                *b = &b[n..];
                self.suffix = suffix_value(self.value);
                self.kind = if self.suffix == SUFFIX_INVALID {
                    Kind::Invalid
                } else {
                    Kind::Suffix
                };
            }
            b'~' if self.kind < Kind::CommitHash => {
                *b = &b[1..];
                let n = span(b, |c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
                self.value = &b[..n];
                *b = &b[n..];
                self.kind = if n == 0 {
                    Kind::Invalid
                } else {
                    Kind::CommitHash
                };
            }
            b'-' if self.kind < Kind::RevisionNo && b.starts_with(b"-r") => {
                *b = &b[2..];
                self.kind = Kind::RevisionNo;
                self.digits(b);
            }
            _ => self.kind = Kind::Invalid,
        }
    }

    /// Compares two tokens of the same kind.
    fn cmp_same_kind(&self, other: &Token) -> Ordering {
        match self.kind {
            Kind::Digit
                if self.value.first() == Some(&b'0') || other.value.first() == Some(&b'0') =>
            {
                self.value.cmp(other.value)
            }
            Kind::InitialDigit | Kind::Digit | Kind::SuffixNo | Kind::RevisionNo => {
                self.number.cmp(&other.number)
            }
            Kind::Letter => self.value.first().cmp(&other.value.first()),
            Kind::Suffix => self.suffix.cmp(&other.suffix),
            _ => self.value.cmp(other.value),
        }
    }
}

pub(super) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let mut ta = Token::first(&mut a);
    let mut tb = Token::first(&mut b);
    while ta.kind == tb.kind && ta.kind < Kind::End {
        let order = ta.cmp_same_kind(&tb);
        if order != Ordering::Equal {
            return Some(order);
        }
        ta.next(&mut a);
        tb.next(&mut b);
    }
    if ta.kind == tb.kind {
        return Some(Ordering::Equal);
    }
    // Equal so far: the longer is greater, unless what it has more is a pre-release.
    if ta.kind == Kind::Suffix && ta.suffix < SUFFIX_NONE {
        return Some(Ordering::Less);
    }
    if tb.kind == Kind::Suffix && tb.suffix < SUFFIX_NONE {
        return Some(Ordering::Greater);
    }
    Some(tb.kind.cmp(&ta.kind))
}

#[cfg(test)]
fn is_valid(version: &str) -> bool {
    let mut b = version.as_bytes();
    let mut t = Token::first(&mut b);
    while t.kind < Kind::End {
        t.next(&mut b);
    }
    t.kind == Kind::End
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal as E, Greater as G, Less as L};

    /// apk's ordering rules, each case written from apk's documented semantics:
    /// numbers compare numerically, letters after numbers, `_alpha`/`_beta`/`_pre`/
    /// `_rc` before the release and `_p`/`_cvs`/`_svn`/`_git`/`_hg` after it,
    /// `-rN` last; and which strings are versions at all.
    #[test]
    fn orders_as_apk_does() {
        super::super::check_table(
            super::super::Scheme::Apk,
            &[
                ("1.0", "1.0", E),
                ("1.0", "1.1", L),
                ("1.10", "1.9", G),
                ("1.0", "1.0.1", L),
                ("1.0a", "1.0", G),
                ("1.0a", "1.0b", L),
                ("1.0_alpha1", "1.0_beta1", L),
                ("1.0_beta2", "1.0_pre1", L),
                ("1.0_pre1", "1.0_rc1", L),
                ("1.0_rc1", "1.0", L),
                ("1.0", "1.0_p1", L),
                ("1.0_p1", "1.0_p2", L),
                ("1.0_cvs1", "1.0", G),
                ("1.0_git20230101", "1.0_git20240101", L),
                ("1.0-r0", "1.0-r1", L),
                ("1.0-r10", "1.0-r9", G),
                ("1.0_rc1-r5", "1.0-r0", L),
                ("2.0-r0", "1.99.99-r99", G),
                ("01.0", "1.0", E),
            ],
        );
        for (version, valid) in [
            ("1.0", true),
            ("1.0a", true),
            ("1.0_rc1-r2", true),
            ("1.0_p1_p2", true),
            ("", false),
            ("a1.0", false),
            ("1.0-", false),
            ("1.0_foo", false),
            ("1..0", false),
        ] {
            assert_eq!(is_valid(version), valid, "{version}");
        }
    }

    #[test]
    fn orders_alpine_package_versions() {
        super::super::check_table(
            super::super::Scheme::Apk,
            &[
                ("3.1.4-r1", "3.1.4-r5", L),
                ("3.1.4-r5", "3.1.4_p1-r0", L),
                ("1.2.4_git20230717-r4", "1.2.4-r4", G),
                ("1.36.1-r15", "1.36.1-r2", G),
                ("2.12.1_rc1-r0", "2.12.1-r0", L),
            ],
        );
    }
}
