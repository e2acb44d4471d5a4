//! What a policy is asked about, and what it answers.

use std::net::IpAddr;

use crate::domain::Principal;

/// What is being asked.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub principal: &'a Principal,
    /// With its service prefix: `ecr:BatchGetImage`, `ecr-public:PutImage`.
    pub action: &'a str,
    /// The ARN acted on: a repository's, or the registry's
    /// (`arn:aws:ecr:<region>:<account>:registry/<account>`).
    pub resource: &'a str,
    pub source_ip: Option<IpAddr>,
    pub secure_transport: bool,
    /// The tags the resource has.
    pub resource_tags: &'a [(String, String)],
    /// The tags the request sets.
    pub request_tags: &'a [(String, String)],
}

/// What a policy says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An explicit Deny matched; it wins over any Allow.
    Deny,
    /// An Allow matched and no Deny did.
    Allow,
    /// No statement applies.
    Silent,
}
