//! Pull through cache rules: which upstream registry a repository of the registry
//! caches, chosen by the longest namespace prefix of its name (ROOT last), and the
//! upstream repository that name stands for.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{Registry, RepositoryName, TemplatePrefix};

/// The most rules one registry may hold (ECR's quota "Pull through cache rules per
/// registry", not adjustable).
pub const MAX_PULL_THROUGH_RULES: i64 = 50;

/// The upstream registries ECR's model names (`UpstreamRegistry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamRegistry {
    Ecr,
    EcrPublic,
    Quay,
    K8s,
    DockerHub,
    GithubContainerRegistry,
    AzureContainerRegistry,
    GitlabContainerRegistry,
    Chainguard,
}

impl UpstreamRegistry {
    pub const ALL: [UpstreamRegistry; 9] = [
        UpstreamRegistry::Ecr,
        UpstreamRegistry::EcrPublic,
        UpstreamRegistry::Quay,
        UpstreamRegistry::K8s,
        UpstreamRegistry::DockerHub,
        UpstreamRegistry::GithubContainerRegistry,
        UpstreamRegistry::AzureContainerRegistry,
        UpstreamRegistry::GitlabContainerRegistry,
        UpstreamRegistry::Chainguard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamRegistry::Ecr => "ecr",
            UpstreamRegistry::EcrPublic => "ecr-public",
            UpstreamRegistry::Quay => "quay",
            UpstreamRegistry::K8s => "k8s",
            UpstreamRegistry::DockerHub => "docker-hub",
            UpstreamRegistry::GithubContainerRegistry => "github-container-registry",
            UpstreamRegistry::AzureContainerRegistry => "azure-container-registry",
            UpstreamRegistry::GitlabContainerRegistry => "gitlab-container-registry",
            UpstreamRegistry::Chainguard => "chainguard",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The registry a host is, for the hosts ECR documents for each (ECR's
    /// `<account>.dkr.ecr.<region>.amazonaws.com`, Azure's `<name>.azurecr.io`);
    /// `None` for any other host.
    pub fn of_host(host: &str) -> Option<Self> {
        let host = host.to_ascii_lowercase();
        let fixed = match host.as_str() {
            "public.ecr.aws" => Some(Self::EcrPublic),
            "quay.io" => Some(Self::Quay),
            "registry.k8s.io" => Some(Self::K8s),
            "registry-1.docker.io" => Some(Self::DockerHub),
            "ghcr.io" => Some(Self::GithubContainerRegistry),
            "registry.gitlab.com" => Some(Self::GitlabContainerRegistry),
            "cgr.dev" => Some(Self::Chainguard),
            _ => None,
        };
        fixed.or_else(|| {
            if host.len() > ".azurecr.io".len() && host.ends_with(".azurecr.io") {
                return Some(Self::AzureContainerRegistry);
            }
            let labels: Vec<&str> = host.split('.').collect();
            let ecr = matches!(
                labels[..],
                [account, "dkr", "ecr", region, "amazonaws", "com", ..]
                    if account.len() == 12
                        && account.bytes().all(|b| b.is_ascii_digit())
                        && !region.is_empty()
            ) && (labels.len() == 6 || labels[6..] == ["cn"]);
            ecr.then_some(Self::Ecr)
        })
    }

    /// Whether ECR refuses a rule for this registry without a credential. Docker Hub
    /// only: berth lets every other upstream be pulled anonymously.
    pub fn requires_credential(self) -> bool {
        self == Self::DockerHub
    }
}

impl fmt::Display for UpstreamRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An upstream registry's URL: `[http://|https://]host[:port]`, no path. Kept as
/// given without trailing slashes; a bare host is reached over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    given: String,
    secure: bool,
    /// `host[:port]`.
    authority: String,
}

impl UpstreamUrl {
    pub fn parse(s: &str) -> Result<Self, PullThroughProblem> {
        let bad = |why: &str| PullThroughProblem::UpstreamUrl {
            url: s.to_owned(),
            why: why.to_owned(),
        };
        let given = s.trim_end_matches('/');
        let (secure, authority) = if let Some(rest) = given.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = given.strip_prefix("http://") {
            (false, rest)
        } else if given.contains("://") {
            return Err(bad("the scheme must be https or http"));
        } else {
            (true, given)
        };
        if authority.contains('/') {
            return Err(bad("a registry URL has no path"));
        }
        let (host, port) = split_port(authority).ok_or_else(|| bad("the port is not valid"))?;
        if !valid_host(host) {
            return Err(bad("the host is not a valid host name or address"));
        }
        if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
            return Err(bad("the port is not valid"));
        }
        Ok(Self {
            given: given.to_owned(),
            secure,
            authority: authority.to_owned(),
        })
    }

    /// The URL as it was given, without trailing slashes.
    pub fn as_str(&self) -> &str {
        &self.given
    }

    /// `scheme://host[:port]`: where the registry API is reached.
    pub fn base(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }

    /// The host without its port.
    pub fn host(&self) -> &str {
        split_port(&self.authority).map_or(&self.authority, |(host, _)| host)
    }
}

impl fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

/// `host[:port]` split, `[v6]:port` included; `None` for a malformed port part.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        return match after {
            "" => Some((v6, None)),
            _ => after.strip_prefix(':').map(|port| (v6, Some(port))),
        };
    }
    Some(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// A DNS name (labels of letters, digits and inner hyphens), an IPv4 or an IPv6
/// address.
fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// What makes a rule one berth refuses, beyond the model's constraints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullThroughProblem {
    #[error("'{url}' is not a registry URL ([https://|http://]host[:port]): {why}")]
    UpstreamUrl { url: String, why: String },
    /// An `upstreamRegistry` that is not the registry its URL's host is.
    #[error("the upstream registry URL is a {inferred} registry, not {given}")]
    RegistryMismatch {
        given: UpstreamRegistry,
        inferred: UpstreamRegistry,
    },
    #[error("a pull through cache rule for {0} requires a credentialArn")]
    CredentialRequired(UpstreamRegistry),
    /// An upstream repository prefix other than ROOT on a ROOT rule.
    #[error(
        "an upstream repository prefix can only be set when the ECR repository prefix is not ROOT"
    )]
    UpstreamPrefixWithRoot,
}

/// A pull through cache rule of a private registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullThroughRule {
    pub registry: Registry,
    /// Which repositories it caches: those under this namespace, or (ROOT) all that
    /// no other rule's prefix matches.
    pub prefix: TemplatePrefix,
    pub upstream_url: UpstreamUrl,
    /// As given, else as the URL's host says; `None` for a host ECR does not know.
    pub upstream_registry: Option<UpstreamRegistry>,
    /// The secret holding the upstream credential; `None`: anonymous.
    pub credential_arn: Option<String>,
    /// Kept and returned only: berth has no roles to assume.
    pub custom_role_arn: Option<String>,
    /// What stands before the rest of the name upstream; ROOT: nothing.
    pub upstream_prefix: TemplatePrefix,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PullThroughRule {
    /// The rule's upstream members checked together: the registry inferred from the
    /// URL when not given, the credential it requires, the upstream prefix only under
    /// a namespace.
    pub fn check(mut self) -> Result<Self, PullThroughProblem> {
        let inferred = UpstreamRegistry::of_host(self.upstream_url.host());
        match (self.upstream_registry, inferred) {
            (Some(given), Some(inferred)) if given != inferred => {
                return Err(PullThroughProblem::RegistryMismatch { given, inferred })
            }
            (None, inferred) => self.upstream_registry = inferred,
            _ => {}
        }
        if let Some(upstream) = self.upstream_registry {
            if upstream.requires_credential() && self.credential_arn.is_none() {
                return Err(PullThroughProblem::CredentialRequired(upstream));
            }
        }
        if self.prefix == TemplatePrefix::Root && self.upstream_prefix != TemplatePrefix::Root {
            return Err(PullThroughProblem::UpstreamPrefixWithRoot);
        }
        Ok(self)
    }

    /// The upstream repository a repository `name` under this rule's prefix stands
    /// for: the rest of the name after the prefix, behind the upstream prefix.
    /// `None` when the prefix does not match the name.
    pub fn upstream_repository(&self, name: &RepositoryName) -> Option<String> {
        let rest = match &self.prefix {
            TemplatePrefix::Root => name.as_str(),
            TemplatePrefix::Namespace(n) => {
                name.as_str().strip_prefix(n.as_str())?.strip_prefix('/')?
            }
        };
        Some(match &self.upstream_prefix {
            TemplatePrefix::Root => rest.to_owned(),
            TemplatePrefix::Namespace(up) => format!("{up}/{rest}"),
        })
    }
}

/// The rule among `rules` that caches the repository `name` (the longest namespace
/// prefix that matches, else ROOT), with the upstream repository it stands for.
pub fn choose_pull_through_rule<'a>(
    rules: &'a [PullThroughRule],
    name: &RepositoryName,
) -> Option<(&'a PullThroughRule, String)> {
    let (_, rule) = rules
        .iter()
        .filter_map(|r| r.prefix.match_length(name).map(|len| (len, r)))
        .max_by_key(|(len, _)| *len)?;
    Some((rule, rule.upstream_repository(name)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Region, RegistryId};

    fn rule(prefix: &str, upstream_prefix: &str) -> PullThroughRule {
        PullThroughRule {
            registry: Registry::private(
                RegistryId::parse("123456789012").unwrap(),
                Region::parse("us-east-1").unwrap(),
            ),
            prefix: TemplatePrefix::parse(prefix).unwrap(),
            upstream_url: UpstreamUrl::parse("quay.io").unwrap(),
            upstream_registry: None,
            credential_arn: None,
            custom_role_arn: None,
            upstream_prefix: TemplatePrefix::parse(upstream_prefix).unwrap(),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    fn name(s: &str) -> RepositoryName {
        RepositoryName::parse(s).unwrap()
    }

    #[test]
    fn urls_keep_their_form_and_default_to_https() {
        let bare = UpstreamUrl::parse("registry-1.docker.io/").unwrap();
        assert_eq!(bare.as_str(), "registry-1.docker.io");
        assert_eq!(bare.base(), "https://registry-1.docker.io");
        let local = UpstreamUrl::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(local.as_str(), "http://127.0.0.1:5000");
        assert_eq!(local.base(), "http://127.0.0.1:5000");
        assert_eq!(local.host(), "127.0.0.1");
        let v6 = UpstreamUrl::parse("https://[::1]:8443/").unwrap();
        assert_eq!(v6.host(), "::1");
        assert_eq!(v6.base(), "https://[::1]:8443");
        for bad in [
            "",
            "ftp://quay.io",
            "https://quay.io/v2",
            "quay.io:0",
            "quay.io:99999",
            "quay.io:x",
            "-bad.example",
            "a b",
            "https://user@quay.io",
        ] {
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn well_known_hosts_name_their_registry() {
        use UpstreamRegistry::*;
        for (host, expected) in [
            ("registry-1.docker.io", Some(DockerHub)),
            ("Quay.IO", Some(Quay)),
            ("public.ecr.aws", Some(EcrPublic)),
            ("registry.k8s.io", Some(K8s)),
            ("ghcr.io", Some(GithubContainerRegistry)),
            ("registry.gitlab.com", Some(GitlabContainerRegistry)),
            ("cgr.dev", Some(Chainguard)),
            ("myreg.azurecr.io", Some(AzureContainerRegistry)),
            ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", Some(Ecr)),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                Some(Ecr),
            ),
            ("12345.dkr.ecr.eu-west-1.amazonaws.com", None),
            ("docker.io", None),
            ("azurecr.io", None),
            ("127.0.0.1", None),
        ] {
            assert_eq!(UpstreamRegistry::of_host(host), expected, "{host}");
        }
    }

    #[test]
    fn check_infers_the_registry_and_requires_docker_hubs_credential() {
        let mut hub = rule("hub", "ROOT");
        hub.upstream_url = UpstreamUrl::parse("registry-1.docker.io").unwrap();
        assert_eq!(
            hub.clone().check(),
            Err(PullThroughProblem::CredentialRequired(
                UpstreamRegistry::DockerHub
            ))
        );
        hub.credential_arn = Some("arn".into());
        let checked = hub.clone().check().unwrap();
        assert_eq!(checked.upstream_registry, Some(UpstreamRegistry::DockerHub));
        hub.upstream_registry = Some(UpstreamRegistry::Quay);
        assert!(matches!(
            hub.check(),
            Err(PullThroughProblem::RegistryMismatch { .. })
        ));
        // An unknown host keeps what was given, or nothing.
        let mut own = rule("own", "ROOT");
        own.upstream_url = UpstreamUrl::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(own.clone().check().unwrap().upstream_registry, None);
        own.upstream_registry = Some(UpstreamRegistry::Quay);
        assert_eq!(
            own.check().unwrap().upstream_registry,
            Some(UpstreamRegistry::Quay)
        );
        assert_eq!(
            rule("ROOT", "up").check(),
            Err(PullThroughProblem::UpstreamPrefixWithRoot)
        );
    }

    #[test]
    fn the_longest_prefix_wins_and_maps_the_name_upstream() {
        let rules = vec![
            rule("ROOT", "ROOT"),
            rule("hub", "ROOT"),
            rule("hub/team", "library"),
            rule("quay/x", "mirror/y"),
        ];
        let pick = |n: &str| {
            choose_pull_through_rule(&rules, &name(n))
                .map(|(r, up)| (r.prefix.as_str().to_owned(), up))
        };
        assert_eq!(
            pick("hub/team/app"),
            Some(("hub/team".into(), "library/app".into()))
        );
        assert_eq!(pick("hub/alpine"), Some(("hub".into(), "alpine".into())));
        assert_eq!(pick("hub/a/b"), Some(("hub".into(), "a/b".into())));
        assert_eq!(
            pick("quay/x/z"),
            Some(("quay/x".into(), "mirror/y/z".into()))
        );
        assert_eq!(pick("hub"), Some(("ROOT".into(), "hub".into())));
        assert_eq!(pick("other/app"), Some(("ROOT".into(), "other/app".into())));
        assert_eq!(
            choose_pull_through_rule(&rules[1..], &name("other/app")),
            None
        );
    }
}
