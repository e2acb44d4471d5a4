//! IAM's wildcards: `*` matches any run of characters (none included), `?` exactly one.

/// Whether `text` matches `pattern` as a whole.
pub(super) fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let same = |p: char, t: char| p == t || (ignore_case && same_ignoring_case(p, t));
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was and where in the text its run currently ends: on a
    // mismatch the run grows by one and matching resumes after the star. Linear
    // backtracking suffices because a later star can absorb anything an earlier one
    // could.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || same(c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    star = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// IAM's ArnEquals/ArnLike: each of the six colon-separated parts matched on its
/// own, so a wildcard never reaches across a colon (the last part, the resource,
/// keeps any colons it has).
pub(super) fn arn(pattern: &str, text: &str) -> bool {
    let pattern: Vec<&str> = pattern.splitn(6, ':').collect();
    let text: Vec<&str> = text.splitn(6, ':').collect();
    pattern.len() == 6
        && text.len() == 6
        && pattern
            .iter()
            .zip(&text)
            .all(|(p, t)| wildcard(p, t, false))
}

pub(super) fn eq_ignoring_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

fn same_ignoring_case(a: char, b: char) -> bool {
    a.to_lowercase().eq(b.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        for (pattern, text, ignore_case, expected) in [
            ("*", "", false, true),
            ("*", "anything", false, true),
            ("", "", false, true),
            ("", "x", false, false),
            ("abc", "abc", false, true),
            ("abc", "abcd", false, false),
            ("abc", "ab", false, false),
            ("a?c", "abc", false, true),
            ("a?c", "ac", false, false),
            ("a*c", "ac", false, true),
            ("a*c", "abbbc", false, true),
            ("a*c", "abbbcd", false, false),
            ("*b*", "abc", false, true),
            ("a*b*c", "axxbyyc", false, true),
            ("a*b*c", "axxcyyb", false, false),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", false, false),
            ("ecr:Batch*", "ecr:BatchGetImage", false, true),
            ("ecr:batch*", "ecr:BatchGetImage", false, false),
            ("ecr:batch*", "ecr:BatchGetImage", true, true),
            ("ECR:?ATCHGETIMAGE", "ecr:BatchGetImage", true, true),
            ("Ä", "ä", true, true),
        ] {
            assert_eq!(
                wildcard(pattern, text, ignore_case),
                expected,
                "{pattern} ~ {text} (ignore case: {ignore_case})"
            );
        }
    }

    #[test]
    fn arns_match_part_by_part() {
        let repo = "arn:aws:ecr:eu-west-1:111122223333:repository/app";
        assert!(arn("arn:aws:ecr:*:111122223333:repository/*", repo));
        assert!(arn("arn:aws:ecr:eu-west-?:*:*", repo));
        assert!(arn(repo, repo));
        // A star stays inside its part: here it cannot cover the region and account.
        assert!(!arn("arn:aws:ecr:*:repository/app", repo));
        assert!(!arn("*", repo));
        assert!(!arn("arn:aws:ecr:*:*:*", "not-an-arn"));
        assert!(!arn("arn:aws:ecr:*:111122223333:repository/App", repo));
        assert!(arn(
            "arn:aws:ecr:*:*:thing/a:b*",
            "arn:aws:ecr:r:1:thing/a:b:c"
        ));
    }

    #[test]
    fn case_folding() {
        assert!(eq_ignoring_case("Team", "tEAM"));
        assert!(!eq_ignoring_case("Team", "Teams"));
    }
}
