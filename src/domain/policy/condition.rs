//! Condition blocks: operators, the keys berth knows, and how a key's values in the
//! request are tested.

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;

use super::matching;
use super::Request;

/// One `operator: { key: values }` entry of a Condition block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Condition {
    pub operator: Operator,
    pub key: Key,
    pub test: Test,
}

/// An operator name taken apart: `ForAllValues:StringNotLikeIfExists` is the
/// StringLike test, negated, with IfExists and a ForAllValues set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Operator {
    pub comparison: Comparison,
    pub negated: bool,
    pub if_exists: bool,
    pub set: Option<SetQualifier>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comparison {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    /// ArnEquals and ArnLike: IAM matches both part by part with wildcards.
    Arn,
    IpAddress,
    Bool,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// The base operators: name, comparison, negated.
const OPERATORS: [(&str, Comparison, bool); 14] = [
    ("StringEquals", Comparison::StringEquals, false),
    ("StringNotEquals", Comparison::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Comparison::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Comparison::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Comparison::StringLike, false),
    ("StringNotLike", Comparison::StringLike, true),
    ("ArnEquals", Comparison::Arn, false),
    ("ArnNotEquals", Comparison::Arn, true),
    ("ArnLike", Comparison::Arn, false),
    ("ArnNotLike", Comparison::Arn, true),
    ("IpAddress", Comparison::IpAddress, false),
    ("NotIpAddress", Comparison::IpAddress, true),
    ("Bool", Comparison::Bool, false),
    ("Null", Comparison::Null, false),
];

impl Operator {
    /// The operator a name spells, if it is one berth knows (names are matched
    /// exactly, as IAM writes them).
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, name)
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        let &(_, comparison, negated) = OPERATORS.iter().find(|(n, ..)| *n == base)?;
        let text_like = matches!(
            comparison,
            Comparison::StringEquals
                | Comparison::StringEqualsIgnoreCase
                | Comparison::StringLike
                | Comparison::Arn
        );
        if (comparison == Comparison::Null && if_exists) || (set.is_some() && !text_like) {
            return None;
        }
        Some(Operator {
            comparison,
            negated,
            if_exists,
            set,
        })
    }
}

/// A condition key berth can supply from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Key {
    PrincipalAccount,
    PrincipalArn,
    SourceIp,
    SecureTransport,
    /// `aws:ResourceTag/<k>` or `ecr:ResourceTag/<k>`: the resource's tag `k`.
    ResourceTag(String),
    /// `aws:RequestTag/<k>`: the tag `k` the request sets.
    RequestTag(String),
    /// `aws:TagKeys`: the keys of the tags the request sets; multi-valued.
    TagKeys,
}

impl Key {
    /// The key a name spells; the name is matched ignoring case, a tag key after the
    /// `/` exactly.
    pub fn parse(name: &str) -> Option<Key> {
        if let Some((prefix, tag)) = name.split_once('/') {
            if tag.is_empty() {
                return None;
            }
            let tag = tag.to_owned();
            return match prefix.to_ascii_lowercase().as_str() {
                "aws:resourcetag" | "ecr:resourcetag" => Some(Key::ResourceTag(tag)),
                "aws:requesttag" => Some(Key::RequestTag(tag)),
                _ => None,
            };
        }
        match name.to_ascii_lowercase().as_str() {
            "aws:principalaccount" => Some(Key::PrincipalAccount),
            "aws:principalarn" => Some(Key::PrincipalArn),
            "aws:sourceip" => Some(Key::SourceIp),
            "aws:securetransport" => Some(Key::SecureTransport),
            "aws:tagkeys" => Some(Key::TagKeys),
            _ => None,
        }
    }

    /// The key's values in the request; none when the request lacks the key.
    fn values<'a>(&self, request: &Request<'a>) -> Vec<Seen<'a>> {
        let tag = |tags: &'a [(String, String)], key: &str| -> Vec<Seen<'a>> {
            tags.iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| Seen::Text(v))
                .collect()
        };
        match self {
            Key::PrincipalAccount => vec![Seen::Text(request.principal.account.as_str())],
            Key::PrincipalArn => vec![Seen::Text(&request.principal.arn)],
            Key::SourceIp => request.source_ip.map(Seen::Ip).into_iter().collect(),
            Key::SecureTransport => vec![Seen::Text(if request.secure_transport {
                "true"
            } else {
                "false"
            })],
            Key::ResourceTag(k) => tag(request.resource_tags, k),
            Key::RequestTag(k) => tag(request.request_tags, k),
            Key::TagKeys => request
                .request_tags
                .iter()
                .map(|(k, _)| Seen::Text(k))
                .collect(),
        }
    }
}

/// One value of a key in the request.
#[derive(Debug, Clone, Copy)]
enum Seen<'a> {
    Text(&'a str),
    Ip(IpAddr),
}

impl Seen<'_> {
    fn text(&self) -> Cow<'_, str> {
        match self {
            Seen::Text(s) => Cow::Borrowed(s),
            Seen::Ip(ip) => Cow::Owned(ip.to_string()),
        }
    }
}

/// The policy's values for a key, typed for its comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Test {
    /// StringEquals, StringEqualsIgnoreCase, StringLike and the Arn comparisons.
    Text(Vec<String>),
    IpAddress(Vec<IpNet>),
    /// Bool and Null.
    Bool(Vec<bool>),
}

impl Condition {
    pub fn holds(&self, request: &Request<'_>) -> bool {
        let seen = self.key.values(request);
        let op = self.operator;
        if op.comparison == Comparison::Null {
            // Null: "true" asks that the key be missing, "false" that it be there.
            return self.values_match(&Seen::Text(if seen.is_empty() { "true" } else { "false" }));
        }
        if seen.is_empty() {
            return op.if_exists
                || match op.set {
                    Some(SetQualifier::ForAllValues) => true,
                    Some(SetQualifier::ForAnyValue) => false,
                    None => op.negated,
                };
        }
        // A set qualifier applies the (possibly negated) operator to each request
        // value; without one, a negated operator is the plain one's negation.
        let one = |v: &Seen<'_>| self.values_match(v) != op.negated;
        match op.set {
            Some(SetQualifier::ForAnyValue) => seen.iter().any(one),
            Some(SetQualifier::ForAllValues) => seen.iter().all(one),
            None => seen.iter().any(|v| self.values_match(v)) != op.negated,
        }
    }

    /// Whether one request value matches any of the policy's values.
    fn values_match(&self, seen: &Seen<'_>) -> bool {
        match &self.test {
            Test::Text(values) => {
                let text = seen.text();
                values.iter().any(|v| match self.operator.comparison {
                    Comparison::StringEqualsIgnoreCase => matching::eq_ignoring_case(v, &text),
                    Comparison::StringLike => matching::wildcard(v, &text, false),
                    Comparison::Arn => matching::arn(v, &text),
                    // StringEquals: the other comparisons have no text values.
                    _ => *v == text,
                })
            }
            Test::IpAddress(nets) => {
                let ip = match seen {
                    Seen::Ip(ip) => Some(*ip),
                    Seen::Text(s) => s.parse().ok(),
                };
                ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
            }
            Test::Bool(values) => {
                let seen = seen.text();
                values.iter().any(|v| {
                    let v = if *v { "true" } else { "false" };
                    seen.eq_ignore_ascii_case(v)
                })
            }
        }
    }
}
