//! The `--replication-remotes` file: which replication destinations are registries
//! elsewhere (another berth, any OCI registry), where they are and how to log in.
//!
//! ```json
//! [{"registryId": "210987654321", "region": "eu-west-1",
//!   "url": "https://registry.example.com", "username": "u", "password": "p"}]
//! ```
//!
//! `region` absent: the entry maps the registry id in every region (an entry naming
//! the region wins over it). Without `username` and `password` berth pushes
//! anonymously. A destination no entry matches is a registry of this berth.

use std::path::Path;

use serde::Deserialize;

use crate::domain::{Destination, Region, RegistryId};
use crate::remote::{Credential, Remote, RemoteError};

/// The remote registries replication destinations are mapped to, each with its
/// client (kept for the life of the process, so its tokens are reused).
#[derive(Debug, Clone, Default)]
pub struct RemoteDestinations {
    entries: Vec<RemoteDestination>,
}

/// One entry: the destinations it maps, and the registry they are.
#[derive(Debug, Clone)]
pub struct RemoteDestination {
    pub account: RegistryId,
    /// `None`: every region.
    pub region: Option<Region>,
    pub remote: Remote,
}

/// What makes a remotes file one berth refuses to start with.
#[derive(Debug, thiserror::Error)]
pub enum RemotesProblem {
    #[error("expected a JSON list of entries ({0})")]
    Syntax(#[from] serde_json::Error),
    #[error("entry {index}: {problem}")]
    Entry { index: usize, problem: EntryProblem },
    #[error("entries {first} and {second} both map registry {account} in {}", region.as_ref().map_or("every region", Region::as_str))]
    Duplicate {
        first: usize,
        second: usize,
        account: RegistryId,
        region: Option<Region>,
    },
}

/// What is wrong with one entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("registryId {0:?} is not 12 digits")]
    RegistryId(String),
    #[error("region {0:?} is not a region name")]
    Region(String),
    /// The URL (`http(s)://host[:port]`) as the client refuses it.
    #[error("{0}")]
    Url(RemoteError),
    #[error("username and password go together, and neither may be empty")]
    Login,
}

/// An entry as written: camelCase members, none unknown (a misspelt one is an error,
/// not a silently anonymous remote).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Written {
    registry_id: String,
    #[serde(default)]
    region: Option<String>,
    url: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl RemoteDestinations {
    /// Reads and checks the file at `path`; the error names the file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read replication remotes {}: {e}", path.display())
        })?;
        Self::parse(&text)
            .map_err(|e| anyhow::anyhow!("replication remotes {}: {e}", path.display()))
    }

    /// The entries of a file's text, checked; entries are numbered from 1.
    pub fn parse(text: &str) -> Result<Self, RemotesProblem> {
        let written: Vec<Written> = serde_json::from_str(text)?;
        let mut entries: Vec<RemoteDestination> = Vec::with_capacity(written.len());
        for (i, w) in written.into_iter().enumerate() {
            let index = i + 1;
            let entry = entry(w).map_err(|problem| RemotesProblem::Entry { index, problem })?;
            let same =
                |e: &RemoteDestination| e.account == entry.account && e.region == entry.region;
            if let Some(first) = entries.iter().position(same) {
                return Err(RemotesProblem::Duplicate {
                    first: first + 1,
                    second: index,
                    account: entry.account,
                    region: entry.region,
                });
            }
            entries.push(entry);
        }
        Ok(Self { entries })
    }

    pub fn entries(&self) -> &[RemoteDestination] {
        &self.entries
    }

    /// The registry `destination` is mapped to: the entry naming its region, else the
    /// one for every region; `None` when it is a registry of this berth.
    pub fn find(&self, destination: &Destination) -> Option<&Remote> {
        let of_account = || {
            self.entries
                .iter()
                .filter(|e| e.account == destination.account)
        };
        of_account()
            .find(|e| e.region.as_ref() == Some(&destination.region))
            .or_else(|| of_account().find(|e| e.region.is_none()))
            .map(|e| &e.remote)
    }
}

fn entry(w: Written) -> Result<RemoteDestination, EntryProblem> {
    let account =
        RegistryId::parse(&w.registry_id).map_err(|_| EntryProblem::RegistryId(w.registry_id))?;
    let region = w
        .region
        .map(|r| Region::parse(&r).map_err(|_| EntryProblem::Region(r)))
        .transpose()?;
    let credential = match (w.username, w.password) {
        (None, None) => None,
        (Some(username), Some(password)) if !username.is_empty() && !password.is_empty() => {
            Some(Credential { username, password })
        }
        _ => return Err(EntryProblem::Login),
    };
    let remote = Remote::new(&w.url, credential).map_err(EntryProblem::Url)?;
    Ok(RemoteDestination {
        account,
        region,
        remote,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(account: &str, region: &str) -> Destination {
        Destination {
            account: RegistryId::parse(account).unwrap(),
            region: Region::parse(region).unwrap(),
        }
    }

    #[test]
    fn entries_and_matching() {
        let remotes = RemoteDestinations::parse(
            r#"[
              {"registryId": "210987654321", "url": "http://127.0.0.1:5100/"},
              {"registryId": "210987654321", "region": "eu-west-1", "url": "https://eu.example.com",
               "username": "u", "password": "secret-p"}
            ]"#,
        )
        .unwrap();
        let eu = remotes
            .find(&destination("210987654321", "eu-west-1"))
            .unwrap();
        assert_eq!(eu.url(), "https://eu.example.com");
        let any = remotes
            .find(&destination("210987654321", "us-west-2"))
            .unwrap();
        assert_eq!(any.url(), "http://127.0.0.1:5100");
        assert!(remotes
            .find(&destination("123456789012", "eu-west-1"))
            .is_none());
        let shown = format!("{remotes:?}");
        assert!(
            shown.contains("\"u\"") && !shown.contains("secret-p"),
            "{shown}"
        );
        assert!(RemoteDestinations::parse("[]")
            .unwrap()
            .entries()
            .is_empty());
    }

    #[test]
    fn refusals_name_the_entry() {
        let refused = |text: &str| RemoteDestinations::parse(text).unwrap_err().to_string();
        let entry = |members: &str| format!(r#"[{{"registryId": "210987654321", {members}}}]"#);
        assert!(refused("{}").starts_with("expected a JSON list"));
        assert!(refused(r#"[{"registryId": "1", "url": "http://a"}]"#)
            .contains("entry 1: registryId \"1\" is not 12 digits"));
        assert!(refused(&entry(r#""url": "http://a", "region": "EU""#)).contains("region"));
        assert!(refused(&entry(r#""url": "http://a", "pasword": "x""#)).contains("pasword"));
        assert!(refused(&entry(r#""url": "http://a", "username": "u""#)).contains("together"));
        assert!(refused(&entry(
            r#""url": "http://a", "username": "u", "password": """#
        ))
        .contains("together"));
        for url in [
            "ftp://a",
            "127.0.0.1:5000",
            "http://",
            "http://a/v2/",
            "http://u:p@a",
            "http://a:port",
            "http://a:70000",
        ] {
            let message = refused(&entry(&format!(r#""url": "{url}""#)));
            let named = format!("entry 1: registry URL {url:?}: ");
            assert!(message.starts_with(&named), "{url}: {message}");
        }
        let twice = r#"[{"registryId": "210987654321", "url": "http://a"},
            {"registryId": "210987654321", "region": "us-west-2", "url": "http://b"},
            {"registryId": "210987654321", "url": "http://c"}]"#;
        assert_eq!(
            refused(twice),
            "entries 1 and 3 both map registry 210987654321 in every region"
        );
    }
}
