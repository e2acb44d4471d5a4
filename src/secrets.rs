//! The upstream credentials of pull through cache rules. ECR keeps them in Secrets
//! Manager; berth reads them from a local JSON file (`--secrets-file`) that maps a
//! secret's ARN, or its name, to the value ECR's secrets hold:
//! `{"username": "...", "accessToken": "..."}`. The file is read on every lookup, so
//! edits apply without a restart.

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

/// The credential a secret holds.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamSecret {
    pub username: String,
    pub access_token: String,
}

impl fmt::Debug for UpstreamSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamSecret")
            .field("username", &self.username)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// Why a secret could not be had; each names the secret as it was asked for.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No secrets file is configured or there, or it holds no entry for the secret.
    #[error("secret {arn} not found")]
    NotFound { arn: String },
    /// The secrets file cannot be read, or is not a JSON object.
    #[error("secrets file {} cannot be read for {arn}: {why}", path.display())]
    Unreadable {
        arn: String,
        path: PathBuf,
        why: String,
    },
    /// The entry is not `{"username": string, "accessToken": string}`.
    #[error("secret {arn} does not hold a username and an accessToken")]
    Malformed { arn: String },
}

/// The secrets file, if one is configured.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    path: Option<PathBuf>,
}

impl Secrets {
    pub fn new(path: Option<PathBuf>) -> Self {
        Self { path }
    }

    /// The credential of the secret `arn`: the file's entry for the ARN itself, else
    /// for the secret's name (after `secret:`), else for that name without the
    /// random `-XXXXXX` suffix Secrets Manager appends to it.
    pub async fn lookup(&self, arn: &str) -> Result<UpstreamSecret, SecretError> {
        let not_found = || SecretError::NotFound {
            arn: arn.to_owned(),
        };
        let Some(path) = &self.path else {
            return Err(not_found());
        };
        let unreadable = |why: String| SecretError::Unreadable {
            arn: arn.to_owned(),
            path: path.clone(),
            why,
        };
        // A file not written yet holds no secrets.
        let text = match tokio::fs::read(path).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            read => read.map_err(|e| unreadable(e.to_string()))?,
        };
        let Value::Object(entries) =
            serde_json::from_slice(&text).map_err(|e| unreadable(e.to_string()))?
        else {
            return Err(unreadable("the file is not a JSON object".into()));
        };
        let entry = names(arn)
            .into_iter()
            .find_map(|key| entries.get(key))
            .ok_or_else(not_found)?;
        let member = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
        match (member("username"), member("accessToken")) {
            (Some(username), Some(access_token)) => Ok(UpstreamSecret {
                username,
                access_token,
            }),
            _ => Err(SecretError::Malformed {
                arn: arn.to_owned(),
            }),
        }
    }
}

/// The keys a secret may be filed under, in the order they are tried.
fn names(arn: &str) -> Vec<&str> {
    let mut keys = vec![arn];
    if let Some((_, name)) = arn.split_once(":secret:") {
        keys.push(name);
        if let Some((base, suffix)) = name.rsplit_once('-') {
            if suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
                keys.push(base);
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbC123";

    #[test]
    fn a_secret_is_filed_by_arn_name_or_name_without_suffix() {
        assert_eq!(
            names(ARN),
            [
                ARN,
                "ecr-pullthroughcache/hub-AbC123",
                "ecr-pullthroughcache/hub"
            ]
        );
        // A name whose last part is not six characters keeps it.
        assert_eq!(
            names(
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/my-hub"
            ),
            [
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/my-hub",
                "ecr-pullthroughcache/my-hub"
            ]
        );
    }

    #[tokio::test]
    async fn lookups_read_the_file_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        let secrets = Secrets::new(Some(path.clone()));
        assert!(matches!(
            secrets.lookup(ARN).await,
            Err(SecretError::NotFound { .. })
        ));
        std::fs::write(
            &path,
            r#"{"ecr-pullthroughcache/hub": {"username": "u", "accessToken": "t"}}"#,
        )
        .unwrap();
        let found = secrets.lookup(ARN).await.unwrap();
        assert_eq!(
            (found.username.as_str(), found.access_token.as_str()),
            ("u", "t")
        );
        std::fs::write(&path, r#"{"ecr-pullthroughcache/hub": {"username": "u"}}"#).unwrap();
        assert!(matches!(
            secrets.lookup(ARN).await,
            Err(SecretError::Malformed { .. })
        ));
        std::fs::write(&path, "[]").unwrap();
        assert!(matches!(
            secrets.lookup(ARN).await,
            Err(SecretError::Unreadable { .. })
        ));
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            secrets.lookup(ARN).await,
            Err(SecretError::Unreadable { .. })
        ));
        std::fs::write(&path, "{}").unwrap();
        assert!(matches!(
            secrets.lookup(ARN).await,
            Err(SecretError::NotFound { .. })
        ));
        assert!(matches!(
            Secrets::new(None).lookup(ARN).await,
            Err(SecretError::NotFound { .. })
        ));
    }
}
