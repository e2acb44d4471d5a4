//! A typed policy statement and whether it applies to a request.

use super::condition::Condition;
use super::matching;
use super::Request;
use crate::domain::RegistryId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Allow,
    Deny,
}

/// One statement: it applies when its principal, action and resource elements and
/// every condition match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Statement {
    pub effect: Effect,
    pub principals: Element<PrincipalPattern>,
    /// Action patterns as written; matched ignoring case.
    pub actions: Element<String>,
    /// `None`: the statement names no resource, so it applies to whatever the policy
    /// is attached to.
    pub resources: Option<Element<String>>,
    pub conditions: Vec<Condition>,
}

/// A `Principal`/`Action`/`Resource` element's list, or its `Not...` form: the
/// negated element matches what none of the items match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Element<T> {
    pub items: Vec<T>,
    pub negated: bool,
}

impl<T> Element<T> {
    fn matches(&self, item_matches: impl Fn(&T) -> bool) -> bool {
        self.items.iter().any(item_matches) != self.negated
    }
}

/// One principal a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PrincipalPattern {
    /// `"*"` or `{"AWS": "*"}`.
    Anyone,
    /// An account id or its root ARN: any principal of that account.
    Account(RegistryId),
    /// A user's or role's ARN: that principal only.
    Arn(String),
    /// A `Service` or `Federated` principal: valid, but no berth caller is one.
    Foreign,
}

impl PrincipalPattern {
    fn matches(&self, principal: &crate::domain::Principal) -> bool {
        match self {
            Self::Anyone => true,
            Self::Account(account) => *account == principal.account,
            Self::Arn(arn) => *arn == principal.arn,
            Self::Foreign => false,
        }
    }
}

impl Statement {
    /// The `Action` element's patterns as written; none for a `NotAction` element.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        let listed: &[String] = if self.actions.negated {
            &[]
        } else {
            &self.actions.items
        };
        listed.iter().map(String::as_str)
    }

    pub fn applies(&self, request: &Request<'_>) -> bool {
        self.principals.matches(|p| p.matches(request.principal))
            && self
                .actions
                .matches(|a| matching::wildcard(a, request.action, true))
            && self.resources.as_ref().is_none_or(|resources| {
                resources.matches(|r| matching::wildcard(r, request.resource, false))
            })
            && self.conditions.iter().all(|c| c.holds(request))
    }
}
