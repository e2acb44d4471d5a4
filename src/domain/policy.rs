//! Repository policies: IAM policy documents, checked for shape and kept byte for
//! byte (clients compare the text they set with the text they get).

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided: {0}'")]
pub struct PolicyError(String);

/// A policy document that has the shape of an IAM resource policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryPolicy(String);

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

fn fail<T>(why: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(why.into()))
}

impl RepositoryPolicy {
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let doc: Value = serde_json::from_str(text)
            .or_else(|e| fail(format!("the policy is not valid JSON: {e}")))?;
        let Value::Object(doc) = doc else {
            return fail("the policy must be a JSON object");
        };
        if let Some(key) = doc.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
            return fail(format!("unknown policy element '{key}'"));
        }
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => {}
            Some(v) => return fail(format!("unsupported policy version {v}")),
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().collect::<Vec<_>>(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => return fail("'Statement' must be a statement or a non-empty list of them"),
        };
        for statement in statements {
            let Value::Object(statement) = statement else {
                return fail("each statement must be a JSON object");
            };
            check_statement(statement)?;
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_statement(s: &Map<String, Value>) -> Result<(), PolicyError> {
    if let Some(key) = s.keys().find(|k| !STATEMENT_KEYS.contains(&k.as_str())) {
        return fail(format!("unknown statement element '{key}'"));
    }
    match s.get("Effect").and_then(Value::as_str) {
        Some("Allow" | "Deny") => {}
        _ => return fail("each statement needs 'Effect' of 'Allow' or 'Deny'"),
    }
    let principal = exactly_one(s, "Principal", "NotPrincipal")?;
    match principal {
        Value::String(p) if p == "*" => {}
        Value::Object(p) if !p.is_empty() && p.values().all(strings) => {}
        _ => return fail("a principal must be \"*\" or an object of principal lists"),
    }
    if !strings(exactly_one(s, "Action", "NotAction")?) {
        return fail("actions must be a string or a list of strings");
    }
    for key in ["Resource", "NotResource"] {
        if s.get(key).is_some_and(|v| !strings(v)) {
            return fail(format!("'{key}' must be a string or a list of strings"));
        }
    }
    if s.get("Condition").is_some_and(|c| !c.is_object()) {
        return fail("'Condition' must be an object");
    }
    Ok(())
}

/// The one of `a` and `b` the statement has; having both or neither is invalid.
fn exactly_one<'a>(s: &'a Map<String, Value>, a: &str, b: &str) -> Result<&'a Value, PolicyError> {
    match (s.get(a), s.get(b)) {
        (Some(v), None) | (None, Some(v)) => Ok(v),
        _ => fail(format!(
            "each statement needs exactly one of '{a}' and '{b}'"
        )),
    }
}

/// A string, or a non-empty list of strings.
fn strings(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_string),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:root"]},
                 "Action": ["ecr-public:BatchCheckLayerAvailability", "ecr-public:PutImage"]}]
}"#;

    #[test]
    fn a_valid_policy_is_kept_byte_for_byte() {
        assert_eq!(
            RepositoryPolicy::parse(GOOD).map(|p| p.0),
            Ok(GOOD.to_owned())
        );
        let single =
            r#"{"Statement":{"Effect":"Deny","Principal":"*","NotAction":"ecr-public:*"}}"#;
        assert!(RepositoryPolicy::parse(single).is_ok());
    }

    #[test]
    fn malformed_policies_are_refused() {
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"Statement": []}"#,
            r#"{"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "x"}}"#,
            r#"{"Statement": {"Effect": "Maybe", "Principal": "*", "Action": "x"}}"#,
            r#"{"Statement": {"Effect": "Allow", "Action": "x"}}"#,
            r#"{"Statement": {"Effect": "Allow", "Principal": "*"}}"#,
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "x", "NotAction": "y"}}"#,
            r#"{"Statement": {"Effect": "Allow", "Principal": "someone", "Action": "x"}}"#,
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": 3}}"#,
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "x", "Colour": "red"}}"#,
            r#"{"Extra": 1, "Statement": {"Effect": "Allow", "Principal": "*", "Action": "x"}}"#,
        ] {
            assert!(RepositoryPolicy::parse(bad).is_err(), "{bad}");
        }
    }
}
