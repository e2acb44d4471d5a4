//! Who makes a request, as resource policies name them: an account and the ARN of
//! the user or role (or the account's root) the credential belongs to.

use std::fmt;

use super::{NameError, RegistryId};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub account: RegistryId,
    pub arn: String,
}

impl Principal {
    /// The account itself: `arn:aws:iam::<account>:root`.
    pub fn root(account: RegistryId) -> Self {
        let arn = format!("arn:aws:iam::{account}:root");
        Self { account, arn }
    }

    /// A principal of `account` named by an IAM ARN of that account
    /// (`arn:aws:iam::<account>:user/<name>`, `...:role/<name>`, `...:root`): the
    /// forms resource policies name principals by.
    pub fn parse(account: RegistryId, arn: &str) -> Result<Self, NameError> {
        let fields: Vec<&str> = arn.splitn(6, ':').collect();
        let well_formed = match fields[..] {
            ["arn", partition, "iam", "", owner, resource] => {
                partition.starts_with("aws")
                    && owner == account.as_str()
                    && (resource == "root"
                        || ["user/", "role/"]
                            .iter()
                            .any(|p| resource.len() > p.len() && resource.starts_with(p)))
            }
            _ => false,
        };
        if well_formed {
            Ok(Self {
                account,
                arn: arn.to_owned(),
            })
        } else {
            Err(NameError(format!(
                "'{arn}' is not the IAM ARN of a user, role or root of account {account}"
            )))
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_belong_to_their_account() {
        let account = RegistryId::parse("111122223333").unwrap();
        assert_eq!(
            Principal::root(account.clone()).arn,
            "arn:aws:iam::111122223333:root"
        );
        for good in [
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::111122223333:role/ci/deployer",
            "arn:aws:iam::111122223333:root",
        ] {
            assert!(Principal::parse(account.clone(), good).is_ok(), "{good}");
        }
        for bad in [
            "arn:aws:iam::444455556666:user/alice",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:sts::111122223333:assumed-role/ci/session",
            "alice",
            "arn:aws:s3:::bucket",
        ] {
            assert!(Principal::parse(account.clone(), bad).is_err(), "{bad}");
        }
    }
}
