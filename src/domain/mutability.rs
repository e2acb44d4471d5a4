//! Tag mutability: the four ECR modes, with exclusion filters carried only by the two
//! modes that require them.

use super::ImageTag;

/// A wildcard tag filter: `*` matches any run of characters, the rest literally, and
/// the filter must match the whole tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildcardFilter(String);

impl WildcardFilter {
    pub fn parse(s: &str) -> Result<Self, MutabilityError> {
        let ok = (1..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._*-".contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(MutabilityError::BadFilter(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, tag: &str) -> bool {
        wildcard_match(&self.0, tag)
    }
}

/// Whether `pattern` matches the whole of `s`: `*` matches any run of characters
/// (none included), everything else itself.
pub(crate) fn wildcard_match(pattern: &str, s: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no '*': an exact match
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagMutability {
    Mutable,
    Immutable,
    /// Immutable, except tags matching one of the filters.
    ImmutableWithExclusion(Vec<WildcardFilter>),
    /// Mutable, except tags matching one of the filters.
    MutableWithExclusion(Vec<WildcardFilter>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutabilityError {
    #[error("imageTagMutability must be one of MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION")]
    UnknownMode(String),
    #[error("imageTagMutabilityExclusionFilters are required with {0} (1 to 5 filters)")]
    FiltersRequired(&'static str),
    #[error("imageTagMutabilityExclusionFilters are only allowed with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION")]
    FiltersNotAllowed,
    #[error("invalid exclusion filter '{0}': 1 to 128 characters of [0-9a-zA-Z._*-]")]
    BadFilter(String),
}

impl TagMutability {
    /// Parses the wire mode and filters; `filters` is `None` when the member was absent.
    pub fn parse(
        mode: &str,
        filters: Option<Vec<WildcardFilter>>,
    ) -> Result<Self, MutabilityError> {
        let with = |name: &'static str| match filters.clone() {
            Some(f) if (1..=5).contains(&f.len()) => Ok(f),
            _ => Err(MutabilityError::FiltersRequired(name)),
        };
        let mode = match mode {
            "MUTABLE" => Self::Mutable,
            "IMMUTABLE" => Self::Immutable,
            "IMMUTABLE_WITH_EXCLUSION" => {
                Self::ImmutableWithExclusion(with("IMMUTABLE_WITH_EXCLUSION")?)
            }
            "MUTABLE_WITH_EXCLUSION" => Self::MutableWithExclusion(with("MUTABLE_WITH_EXCLUSION")?),
            other => return Err(MutabilityError::UnknownMode(other.to_owned())),
        };
        if matches!(mode, Self::Mutable | Self::Immutable) && filters.is_some() {
            return Err(MutabilityError::FiltersNotAllowed);
        }
        Ok(mode)
    }

    pub fn mode(&self) -> &'static str {
        match self {
            Self::Mutable => "MUTABLE",
            Self::Immutable => "IMMUTABLE",
            Self::ImmutableWithExclusion(_) => "IMMUTABLE_WITH_EXCLUSION",
            Self::MutableWithExclusion(_) => "MUTABLE_WITH_EXCLUSION",
        }
    }

    pub fn filters(&self) -> &[WildcardFilter] {
        match self {
            Self::Mutable | Self::Immutable => &[],
            Self::ImmutableWithExclusion(f) | Self::MutableWithExclusion(f) => f,
        }
    }

    /// Whether an existing `tag` may not be moved or re-pushed.
    pub fn is_immutable(&self, tag: &ImageTag) -> bool {
        let matched = || self.filters().iter().any(|f| f.matches(tag.as_str()));
        match self {
            Self::Mutable => false,
            Self::Immutable => true,
            Self::ImmutableWithExclusion(_) => !matched(),
            Self::MutableWithExclusion(_) => matched(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> WildcardFilter {
        WildcardFilter::parse(s).expect("valid filter")
    }

    #[test]
    fn wildcards_match_whole_tags() {
        assert!(f("latest").matches("latest"));
        assert!(!f("latest").matches("latest2"));
        assert!(f("dev-*").matches("dev-"));
        assert!(f("dev-*").matches("dev-123"));
        assert!(!f("dev-*").matches("xdev-1"));
        assert!(f("*-rc*").matches("1.0-rc2"));
        assert!(f("a*b*c").matches("abc"));
        assert!(!f("a*b*c").matches("acb"));
        assert!(f("*").matches("anything"));
        assert!(!f("ab*ba").matches("aba"));
        assert!(WildcardFilter::parse("bad/filter").is_err());
        assert!(WildcardFilter::parse("").is_err());
    }

    #[test]
    fn modes() {
        let tag = |s: &str| ImageTag::parse(s).expect("valid tag");
        let m =
            TagMutability::parse("IMMUTABLE_WITH_EXCLUSION", Some(vec![f("dev-*")])).expect("ok");
        assert!(m.is_immutable(&tag("v1")));
        assert!(!m.is_immutable(&tag("dev-1")));
        let m = TagMutability::parse("MUTABLE_WITH_EXCLUSION", Some(vec![f("v*")])).expect("ok");
        assert!(m.is_immutable(&tag("v1")));
        assert!(!m.is_immutable(&tag("latest")));
        assert!(TagMutability::parse("MUTABLE_WITH_EXCLUSION", None).is_err());
        assert!(TagMutability::parse("MUTABLE", Some(vec![f("x")])).is_err());
        assert!(TagMutability::parse("SOMETIMES", None).is_err());
        assert!(!TagMutability::Mutable.is_immutable(&tag("x")));
        assert!(TagMutability::Immutable.is_immutable(&tag("x")));
    }
}
