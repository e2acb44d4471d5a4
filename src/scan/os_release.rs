//! `etc/os-release` (or `usr/lib/os-release`, where `etc/os-release` links to it): the
//! distribution and its release, which decide the OS packages' ecosystem and which of
//! OSV's per-release advisories apply.

pub(crate) const PATH: &str = "etc/os-release";
pub(crate) const FALLBACK_PATH: &str = "usr/lib/os-release";

/// An image's distribution: os-release's `ID` and `VERSION_ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Os {
    pub id: String,
    pub version_id: Option<String>,
}

impl Os {
    /// Parses os-release's `KEY=value` lines (values may be quoted).
    pub fn parse(text: &str) -> Os {
        let mut id = String::new();
        let mut version_id = None;
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once('=') else {
                continue;
            };
            let value = unquote(value.trim());
            match key.trim() {
                "ID" => id = value.to_ascii_lowercase(),
                "VERSION_ID" if !value.is_empty() => version_id = Some(value),
                _ => {}
            }
        }
        Os { id, version_id }
    }

    /// Whether a release OSV names (`12` of `Debian:12`, `v3.19` of `Alpine:v3.19`,
    /// `9` of `Rocky Linux:9`) is this image's: its dotted parts are the leading parts
    /// of `VERSION_ID` (`3.19` matches `3.19.1`, `9` matches `9.3`).
    pub fn is_release(&self, release: &str) -> bool {
        let Some(version) = &self.version_id else {
            return false;
        };
        let release = release.trim_start_matches('v');
        let mut have = version.trim_start_matches('v').split('.');
        !release.is_empty() && release.split('.').all(|part| have.next() == Some(part))
    }
}

fn unquote(value: &str) -> String {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_and_bare_values() {
        let os = Os::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nID=debian\n",
        );
        assert_eq!(os.id, "debian");
        assert_eq!(os.version_id.as_deref(), Some("12"));
        let os = Os::parse("ID='alpine'\nVERSION_ID=3.19.1\n");
        assert_eq!(os.id, "alpine");
        assert_eq!(os.version_id.as_deref(), Some("3.19.1"));
        let sid = Os::parse("ID=debian\n");
        assert_eq!(sid.version_id, None);
    }

    #[test]
    fn releases_match_leading_parts() {
        let alpine = Os::parse("ID=alpine\nVERSION_ID=3.19.1");
        assert!(alpine.is_release("v3.19"));
        assert!(!alpine.is_release("v3.1"));
        assert!(!alpine.is_release("v3.18"));
        let rocky = Os::parse("ID=rocky\nVERSION_ID=\"9.3\"");
        assert!(rocky.is_release("9"));
        assert!(!rocky.is_release("8"));
        let ubuntu = Os::parse("ID=ubuntu\nVERSION_ID=\"22.04\"");
        assert!(ubuntu.is_release("22.04"));
        assert!(!ubuntu.is_release("20.04"));
        assert!(!Os::parse("ID=debian").is_release("12"));
    }
}
