//! IAM resource policies (repository and registry policies): validated into typed
//! statements, kept byte for byte (clients compare the text they set with the text
//! they get), and evaluated against a request the way IAM evaluates a resource-based
//! policy on its own.

mod condition;
mod matching;
mod parse;
mod request;
mod statement;
#[cfg(test)]
mod tests;

pub use request::{Decision, Request};

use statement::{Effect, Statement};

/// Which kind of document: the wording of errors, and whether `Resource` is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Repository,
    Registry,
}

impl PolicyKind {
    fn noun(self) -> &'static str {
        match self {
            Self::Repository => "repository",
            Self::Registry => "registry",
        }
    }
}

/// Why a policy document was refused; the text is ECR's, ready for a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid {} policy provided: {reason}'", .kind.noun())]
pub struct PolicyError {
    kind: PolicyKind,
    reason: String,
}

impl PolicyError {
    pub fn new(kind: PolicyKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }

    /// What was wrong, without the wrapping.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// A validated policy: its text byte for byte plus its parsed statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    text: String,
    statements: Vec<Statement>,
}

impl Policy {
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        match parse::statements(text, kind) {
            Ok(statements) => Ok(Policy {
                text: text.to_owned(),
                statements,
            }),
            Err(reason) => Err(PolicyError { kind, reason }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Every action pattern the statements' `Action` elements name, as written
    /// (`NotAction` patterns are not included).
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().flat_map(Statement::actions)
    }

    /// Deny if an applicable Deny statement matches (it wins), else Allow if an Allow
    /// statement matches, else Silent.
    pub fn decide(&self, request: &Request<'_>) -> Decision {
        let mut decision = Decision::Silent;
        for statement in self.statements.iter().filter(|s| s.applies(request)) {
            match statement.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => decision = Decision::Allow,
            }
        }
        decision
    }
}
