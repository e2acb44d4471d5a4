//! A registry's account settings (GetAccountSetting / PutAccountSetting): the names and
//! values botocore's model documents, each with the value a registry starts with.

/// A setting's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountSetting {
    /// Which basic scanning engine runs: `AWS_NATIVE`, the only one left.
    BasicScanTypeVersion,
    /// Which ECR actions the registry policy governs (see `PolicyScope`).
    RegistryPolicyScope,
    /// Whether a `/v2/` push may mount a layer from another repository of the registry.
    BlobMounting,
}

impl AccountSetting {
    pub const ALL: [AccountSetting; 3] = [
        AccountSetting::BasicScanTypeVersion,
        AccountSetting::RegistryPolicyScope,
        AccountSetting::BlobMounting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountSetting::BasicScanTypeVersion => "BASIC_SCAN_TYPE_VERSION",
            AccountSetting::RegistryPolicyScope => "REGISTRY_POLICY_SCOPE",
            AccountSetting::BlobMounting => "BLOB_MOUNTING",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The value a registry has until one is put.
    pub fn default_value(self) -> &'static str {
        match self {
            AccountSetting::BasicScanTypeVersion => "AWS_NATIVE",
            AccountSetting::RegistryPolicyScope => PolicyScope::V1.as_str(),
            AccountSetting::BlobMounting => "DISABLED",
        }
    }

    /// The values PutAccountSetting takes: the model's. A registry moves to the V2
    /// policy scope and cannot be moved back, as on AWS.
    pub fn settable(self) -> &'static [&'static str] {
        match self {
            AccountSetting::BasicScanTypeVersion => &["AWS_NATIVE"],
            AccountSetting::RegistryPolicyScope => &["V2"],
            AccountSetting::BlobMounting => &["ENABLED", "DISABLED"],
        }
    }
}

/// What a registry policy governs. A registry starts as an account created before the
/// V2 scope did (`V1`), where the policy may name and governs only the actions of
/// replication and pull-through cache; under `V2` it may name and governs every ECR
/// action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope {
    V1,
    V2,
}

impl PolicyScope {
    /// The actions a V1 registry policy governs, as ECR names them.
    pub const V1_ACTIONS: [&'static str; 3] = [
        "ReplicateImage",
        "BatchImportUpstreamImage",
        "CreateRepository",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyScope::V1 => "V1",
            PolicyScope::V2 => "V2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "V1" => Some(PolicyScope::V1),
            "V2" => Some(PolicyScope::V2),
            _ => None,
        }
    }

    /// Whether the registry policy governs `action` (an ECR action name, without the
    /// `ecr:` prefix).
    pub fn governs(self, action: &str) -> bool {
        self == PolicyScope::V2 || Self::V1_ACTIONS.contains(&action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_defaults_are_settable_or_the_v1_start() {
        for setting in AccountSetting::ALL {
            assert_eq!(AccountSetting::parse(setting.as_str()), Some(setting));
        }
        assert_eq!(AccountSetting::parse("blob_mounting"), None);
        assert!(AccountSetting::BlobMounting
            .settable()
            .contains(&AccountSetting::BlobMounting.default_value()));
        assert!(!AccountSetting::RegistryPolicyScope
            .settable()
            .contains(&"V1"));
    }

    #[test]
    fn v1_governs_only_replication_and_cache_actions() {
        assert!(PolicyScope::V1.governs("ReplicateImage"));
        assert!(!PolicyScope::V1.governs("BatchGetImage"));
        assert!(PolicyScope::V2.governs("BatchGetImage"));
        assert_eq!(PolicyScope::parse("V2"), Some(PolicyScope::V2));
    }
}
