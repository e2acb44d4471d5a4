//! A repository as the service and faces see it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Registry, RepositoryName, TagMutability};

#[derive(Debug, Clone)]
pub struct Repository {
    pub registry: Registry,
    pub name: RepositoryName,
    pub created_at: DateTime<Utc>,
    pub mutability: TagMutability,
    pub scan_on_push: bool,
    pub encryption_type: String,
    pub kms_key: Option<String>,
    /// The repository policy, exactly as it was set.
    pub policy: Option<String>,
    /// ECR Public's catalog data, once set.
    pub catalog: Option<CatalogData>,
    pub has_logo: bool,
}

impl Repository {
    /// `arn:aws:ecr:<region>:<account>:repository/<name>` (ECR Public's has no region).
    pub fn arn(&self) -> String {
        self.registry
            .resource_arn(&format!("repository/{}", self.name))
    }
}

/// ECR Public's description of a repository for its gallery (the logo is kept apart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogData {
    pub description: Option<String>,
    pub architectures: Vec<String>,
    pub operating_systems: Vec<String>,
    pub about_text: Option<String>,
    pub usage_text: Option<String>,
}
