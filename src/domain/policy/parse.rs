//! Validating a policy document into typed statements. Each refusal is a reason a
//! client can act on; `Policy::parse` wraps it in the `PolicyError` wording.

use ipnet::IpNet;
use serde_json::{Map, Value};

use super::condition::{Comparison, Condition, Key, Operator, Test};
use super::statement::{Effect, Element, PrincipalPattern, Statement};
use super::PolicyKind;
use crate::domain::RegistryId;

/// Why a document was refused.
type Reason = String;

const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];
const TOP_LEVEL: [&str; 3] = ["Version", "Id", "Statement"];
const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

pub(super) fn statements(text: &str, kind: PolicyKind) -> Result<Vec<Statement>, Reason> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("the policy is not valid JSON: {e}"))?;
    let Value::Object(doc) = doc else {
        return Err("the policy must be a JSON object".into());
    };
    if let Some(key) = doc.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(format!("unknown policy element '{key}'"));
    }
    match doc.get("Version") {
        None => {}
        Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => {}
        Some(v) => return Err(format!("unsupported policy version {v}")),
    }
    let listed = match doc.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err("'Statement' must be a statement or a non-empty list of them".into()),
    };
    listed
        .into_iter()
        .map(|s| match s {
            Value::Object(s) => statement(s, kind),
            _ => Err("each statement must be a JSON object".into()),
        })
        .collect()
}

fn statement(s: &Map<String, Value>, kind: PolicyKind) -> Result<Statement, Reason> {
    if let Some(key) = s.keys().find(|k| !STATEMENT_KEYS.contains(&k.as_str())) {
        return Err(format!("unknown statement element '{key}'"));
    }
    let effect = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err("each statement needs 'Effect' of 'Allow' or 'Deny'".into()),
    };
    let (principals, negated) = exactly_one(s, "Principal", "NotPrincipal")?;
    let principals = Element {
        items: principal_patterns(principals)?,
        negated,
    };
    let (actions, negated) = exactly_one(s, "Action", "NotAction")?;
    let actions = Element {
        items: action_patterns(actions)?,
        negated,
    };
    let resources = match (s.get("Resource"), s.get("NotResource")) {
        (Some(_), Some(_)) => {
            return Err("a statement may have only one of 'Resource' and 'NotResource'".into())
        }
        (Some(r), None) => Some(Element {
            items: owned(strings(r).ok_or("'Resource' must be a string or a list of strings")?),
            negated: false,
        }),
        (None, Some(r)) => Some(Element {
            items: owned(strings(r).ok_or("'NotResource' must be a string or a list of strings")?),
            negated: true,
        }),
        (None, None) if kind == PolicyKind::Registry => {
            return Err(
                "each statement of a registry policy needs 'Resource' or 'NotResource'".into(),
            )
        }
        (None, None) => None,
    };
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(block)) => conditions(block)?,
        Some(_) => return Err("'Condition' must be an object".into()),
    };
    Ok(Statement {
        effect,
        principals,
        actions,
        resources,
        conditions,
    })
}

/// The one of `a` and `b` the statement has, and whether it is `b` (the negated
/// form); having both or neither is invalid.
fn exactly_one<'a>(
    s: &'a Map<String, Value>,
    a: &str,
    b: &str,
) -> Result<(&'a Value, bool), Reason> {
    match (s.get(a), s.get(b)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        _ => Err(format!(
            "each statement needs exactly one of '{a}' and '{b}'"
        )),
    }
}

/// A string, or a non-empty list of strings.
fn strings(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

fn owned(items: Vec<&str>) -> Vec<String> {
    items.into_iter().map(str::to_owned).collect()
}

fn principal_patterns(v: &Value) -> Result<Vec<PrincipalPattern>, Reason> {
    let refused = || "a principal must be \"*\" or an object of principal lists".to_owned();
    let by_type = match v {
        Value::String(s) if s == "*" => return Ok(vec![PrincipalPattern::Anyone]),
        Value::Object(by_type) if !by_type.is_empty() => by_type,
        _ => return Err(refused()),
    };
    let mut patterns = Vec::new();
    for (principal_type, values) in by_type {
        let values = strings(values).ok_or_else(refused)?;
        match principal_type.as_str() {
            "AWS" => {
                for value in values {
                    patterns.push(aws_principal(value)?);
                }
            }
            "Service" | "Federated" => patterns.push(PrincipalPattern::Foreign),
            _ => return Err(format!("unknown principal type '{principal_type}'")),
        }
    }
    Ok(patterns)
}

/// `*`, an account id, an account's root ARN, or a user's or role's ARN.
fn aws_principal(value: &str) -> Result<PrincipalPattern, Reason> {
    if value == "*" {
        return Ok(PrincipalPattern::Anyone);
    }
    if let Ok(account) = RegistryId::parse(value) {
        return Ok(PrincipalPattern::Account(account));
    }
    let iam_arn = value
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(account, resource)| Some((RegistryId::parse(account).ok()?, resource)));
    match iam_arn {
        Some((account, "root")) => Ok(PrincipalPattern::Account(account)),
        Some((_, resource)) if named_identity(resource) => {
            Ok(PrincipalPattern::Arn(value.to_owned()))
        }
        _ => Err(format!(
            "invalid AWS principal '{value}': expected \"*\", an account id, or an IAM root, user or role ARN"
        )),
    }
}

/// `user/<path/name>` or `role/<path/name>`; IAM refuses wildcards in principals.
fn named_identity(resource: &str) -> bool {
    let name = resource
        .strip_prefix("user/")
        .or_else(|| resource.strip_prefix("role/"));
    name.is_some_and(|n| !n.is_empty() && !n.contains(['*', '?']))
}

fn action_patterns(v: &Value) -> Result<Vec<String>, Reason> {
    let patterns = strings(v).ok_or("actions must be a string or a list of strings")?;
    for pattern in &patterns {
        let prefixed = pattern
            .split_once(':')
            .is_some_and(|(service, action)| !service.is_empty() && !action.is_empty());
        if *pattern != "*" && !prefixed {
            return Err(format!(
                "invalid action '{pattern}': an action is 'service:action' or '*'"
            ));
        }
    }
    Ok(owned(patterns))
}

fn conditions(block: &Map<String, Value>) -> Result<Vec<Condition>, Reason> {
    let mut conditions = Vec::new();
    for (operator_name, keys) in block {
        let operator = Operator::parse(operator_name)
            .ok_or_else(|| format!("unknown condition operator '{operator_name}'"))?;
        let Value::Object(keys) = keys else {
            return Err(format!(
                "condition operator '{operator_name}' must map condition keys to values"
            ));
        };
        for (key_name, values) in keys {
            let key = Key::parse(key_name)
                .ok_or_else(|| format!("unknown condition key '{key_name}'"))?;
            let values = condition_values(values).ok_or_else(|| {
                format!("condition key '{key_name}' needs a value or a non-empty list of values (strings, numbers or booleans)")
            })?;
            let test = typed(operator.comparison, values)
                .map_err(|why| format!("{why} ({operator_name} on '{key_name}')"))?;
            conditions.push(Condition {
                operator,
                key,
                test,
            });
        }
    }
    Ok(conditions)
}

/// A condition's values as strings: IAM takes JSON booleans and numbers as the
/// strings they spell.
fn condition_values(v: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => None,
        v => one(v).map(|s| vec![s]),
    }
}

/// The values in the form the comparison uses, refusing any it cannot use.
fn typed(comparison: Comparison, values: Vec<String>) -> Result<Test, Reason> {
    match comparison {
        Comparison::IpAddress => values
            .iter()
            .map(|v| ip_range(v).ok_or_else(|| format!("'{v}' is not an IP address or CIDR block")))
            .collect::<Result<_, _>>()
            .map(Test::IpAddress),
        Comparison::Bool | Comparison::Null => values
            .iter()
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!("'{v}' is not true or false")),
            })
            .collect::<Result<_, _>>()
            .map(Test::Bool),
        Comparison::StringEquals
        | Comparison::StringEqualsIgnoreCase
        | Comparison::StringLike
        | Comparison::Arn => Ok(Test::Text(values)),
    }
}

/// A CIDR block, or a single address as the block holding only it.
fn ip_range(v: &str) -> Option<IpNet> {
    v.parse::<IpNet>()
        .ok()
        .or_else(|| v.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}
