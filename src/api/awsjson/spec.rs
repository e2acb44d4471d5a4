//! Request validation against a compact service spec (`api-spec/*.json`,
//! generated from botocore by `api-spec/generate.py`).
//!
//! AWS clients only check required members and types, so the server has to
//! enforce every modelled length, range, pattern and enum itself.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;

use anyhow::{bail, Context};
use base64::Engine as _;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

/// Guards against recursive models; real ECR inputs are a few levels deep.
const MAX_DEPTH: usize = 64;

#[derive(Debug)]
pub struct ServiceSpec {
    target_prefix: String,
    operations: BTreeMap<String, Operation>,
    shapes: Vec<Shape>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The JSON does not have the model's types (string where a structure is expected, float for an integer, a non-base64 blob, ...): AWS answers SerializationException.
    Serialization(String),
    /// A modelled constraint fails (required member missing, length/size min/max, numeric min/max, pattern, enum, list length): InvalidParameterException.
    InvalidParameter(String),
}

#[derive(Debug)]
struct Operation {
    implemented: bool,
    /// Index into `shapes`; only resolved for implemented operations, since the
    /// spec carries only the shapes reachable from their inputs.
    input: Option<usize>,
}

#[derive(Debug)]
struct Shape {
    kind: Kind,
    min: Option<i64>,
    max: Option<i64>,
    pattern: Option<Pattern>,
    enum_values: Vec<String>,
}

#[derive(Debug)]
struct Pattern {
    source: String,
    regex: Regex,
}

#[derive(Debug)]
enum Kind {
    Structure(Vec<Member>),
    List(usize),
    Map { key: usize, value: usize },
    String,
    Integer,
    Long,
    Float,
    Boolean,
    Blob,
    Timestamp,
}

#[derive(Debug)]
struct Member {
    name: String,
    shape: usize,
    required: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    target_prefix: String,
    operations: BTreeMap<String, RawOperation>,
    #[serde(default)]
    shapes: BTreeMap<String, RawShape>,
}

#[derive(Deserialize)]
struct RawOperation {
    #[serde(default)]
    implemented: bool,
    input: Option<String>,
}

#[derive(Deserialize)]
struct RawRef {
    shape: String,
}

#[derive(Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    kind: String,
    /// serde_json's map is ordered by key, as is the generated file.
    #[serde(default)]
    members: BTreeMap<String, RawRef>,
    #[serde(default)]
    required: Vec<String>,
    min: Option<serde_json::Number>,
    max: Option<serde_json::Number>,
    pattern: Option<String>,
    #[serde(rename = "enum", default)]
    enum_values: Vec<String>,
    member: Option<RawRef>,
    key: Option<RawRef>,
    value: Option<RawRef>,
}

/// Full-match semantics: model patterns are written for whole values, some
/// already anchored, which `^(?:...)$` tolerates.
fn compile_pattern(source: &str) -> anyhow::Result<Regex> {
    Ok(Regex::new(&format!("^(?:{source})$"))?)
}

impl ServiceSpec {
    pub fn parse(json: &str) -> anyhow::Result<Self> {
        let raw: RawSpec = serde_json::from_str(json).context("parsing service spec")?;
        let index: HashMap<&str, usize> = raw
            .shapes
            .keys()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        let resolve = |from: &str, r: Option<&RawRef>, what: &str| -> anyhow::Result<usize> {
            let Some(r) = r else {
                bail!("shape {from}: missing {what}")
            };
            index.get(r.shape.as_str()).copied().with_context(|| {
                format!("shape {from}: {what} refers to missing shape {}", r.shape)
            })
        };

        let mut shapes = Vec::with_capacity(raw.shapes.len());
        for (name, s) in &raw.shapes {
            let kind = match s.kind.as_str() {
                "structure" => {
                    let mut members = Vec::with_capacity(s.members.len());
                    for (m, r) in &s.members {
                        members.push(Member {
                            name: m.clone(),
                            shape: resolve(name, Some(r), m)?,
                            required: s.required.contains(m),
                        });
                    }
                    if let Some(r) = s.required.iter().find(|r| !s.members.contains_key(*r)) {
                        bail!("shape {name}: required member {r} is not a member");
                    }
                    Kind::Structure(members)
                }
                "list" => Kind::List(resolve(name, s.member.as_ref(), "member")?),
                "map" => Kind::Map {
                    key: resolve(name, s.key.as_ref(), "key")?,
                    value: resolve(name, s.value.as_ref(), "value")?,
                },
                "string" => Kind::String,
                "integer" => Kind::Integer,
                "long" => Kind::Long,
                "float" | "double" => Kind::Float,
                "boolean" => Kind::Boolean,
                "blob" => Kind::Blob,
                "timestamp" => Kind::Timestamp,
                other => bail!("shape {name}: unsupported type {other}"),
            };
            let bound = |n: &Option<serde_json::Number>| -> anyhow::Result<Option<i64>> {
                match n {
                    None => Ok(None),
                    // Float bounds would only matter for float shapes, which no input uses.
                    Some(n) => match (&kind, n.as_i64()) {
                        (Kind::Float, _) | (_, None) => {
                            bail!("shape {name}: unsupported bound {n}")
                        }
                        (_, Some(v)) => Ok(Some(v)),
                    },
                }
            };
            let pattern = match &s.pattern {
                Some(p) => Some(Pattern {
                    regex: compile_pattern(p).with_context(|| format!("shape {name}: pattern"))?,
                    source: p.clone(),
                }),
                None => None,
            };
            shapes.push(Shape {
                min: bound(&s.min)?,
                max: bound(&s.max)?,
                pattern,
                enum_values: s.enum_values.clone(),
                kind,
            });
        }
        for (i, s) in shapes.iter().enumerate() {
            if let Kind::Map { key, .. } = s.kind {
                if !matches!(shapes[key].kind, Kind::String) {
                    bail!("map shape #{i}: key shape is not a string");
                }
            }
        }

        let mut operations = BTreeMap::new();
        for (name, op) in raw.operations {
            let input = match (&op.input, op.implemented) {
                (Some(input), true) => {
                    let i = index.get(input.as_str()).copied().with_context(|| {
                        format!("operation {name}: missing input shape {input}")
                    })?;
                    if !matches!(shapes[i].kind, Kind::Structure(_)) {
                        bail!("operation {name}: input shape {input} is not a structure");
                    }
                    Some(i)
                }
                _ => None,
            };
            operations.insert(
                name,
                Operation {
                    implemented: op.implemented,
                    input,
                },
            );
        }

        Ok(Self {
            target_prefix: raw.target_prefix,
            operations,
            shapes,
        })
    }

    pub fn target_prefix(&self) -> &str {
        &self.target_prefix
    }

    pub fn is_modelled(&self, operation: &str) -> bool {
        self.operations.contains_key(operation)
    }

    pub fn is_implemented(&self, operation: &str) -> bool {
        self.operations
            .get(operation)
            .is_some_and(|op| op.implemented)
    }

    pub fn implemented(&self) -> Vec<&str> {
        // BTreeMap iteration is already sorted.
        self.operations
            .iter()
            .filter(|(_, op)| op.implemented)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Checks `body` against the operation's input shape and reports the first
    /// violation, visiting members in spec (alphabetical) order. Operations
    /// without a modelled input here (unknown or unimplemented) only need an object.
    pub fn validate_input(&self, operation: &str, body: &Value) -> Result<(), Violation> {
        match self.operations.get(operation).and_then(|op| op.input) {
            Some(input) => self.check(input, body, "", 0),
            None if body.is_object() => Ok(()),
            None => Err(unexpected("", "a JSON object")),
        }
    }

    /// Descends only where the model has a shape, so unknown JSON is never walked.
    fn check(&self, shape: usize, v: &Value, path: &str, depth: usize) -> Result<(), Violation> {
        let s = &self.shapes[shape];
        if depth > MAX_DEPTH {
            return Err(unexpected(path, "less deeply nested input"));
        }
        match &s.kind {
            Kind::Structure(members) => {
                let Value::Object(obj) = v else {
                    return Err(unexpected(path, "a JSON object"));
                };
                for m in members {
                    let child = join(path, &m.name);
                    match obj.get(&m.name) {
                        None | Some(Value::Null) if m.required => {
                            return Err(invalid(&child, "Member must not be null"))
                        }
                        None | Some(Value::Null) => {}
                        Some(mv) => self.check(m.shape, mv, &child, depth + 1)?,
                    }
                }
                Ok(())
            }
            Kind::List(member) => {
                let Value::Array(items) = v else {
                    return Err(unexpected(path, "a list"));
                };
                check_bounds(s, items.len(), "length", path)?;
                for (i, item) in items.iter().enumerate() {
                    // Lists of structures may hold nulls in JSON; AWS treats them as absent.
                    if !item.is_null() {
                        self.check(*member, item, &format!("{path}[{i}]"), depth + 1)?;
                    }
                }
                Ok(())
            }
            Kind::Map { key, value } => {
                let Value::Object(obj) = v else {
                    return Err(unexpected(path, "a JSON object"));
                };
                check_bounds(s, obj.len(), "length", path)?;
                for (k, item) in obj {
                    let child = join(path, k);
                    check_string(&self.shapes[*key], k, &child)?;
                    if !item.is_null() {
                        self.check(*value, item, &child, depth + 1)?;
                    }
                }
                Ok(())
            }
            Kind::String => match v {
                Value::String(text) => check_string(s, text, path),
                _ => Err(unexpected(path, "a string")),
            },
            Kind::Integer | Kind::Long => {
                // as_i64 is None for floats and for integers beyond i64.
                let n = v.as_i64().ok_or_else(|| unexpected(path, "an integer"))?;
                if matches!(s.kind, Kind::Integer) && i32::try_from(n).is_err() {
                    return Err(unexpected(path, "a 32-bit integer"));
                }
                check_bounds(s, n, "value", path)
            }
            Kind::Float => match v {
                Value::Number(_) => Ok(()),
                _ => Err(unexpected(path, "a number")),
            },
            Kind::Boolean => match v {
                Value::Bool(_) => Ok(()),
                _ => Err(unexpected(path, "a boolean")),
            },
            Kind::Blob => {
                let decoded = v
                    .as_str()
                    .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
                    .ok_or_else(|| unexpected(path, "a base64-encoded string"))?;
                check_bounds(s, decoded.len(), "length", path)
            }
            Kind::Timestamp => match v {
                Value::Number(_) | Value::String(_) => Ok(()),
                _ => Err(unexpected(path, "a timestamp")),
            },
        }
    }
}

fn check_string(s: &Shape, text: &str, path: &str) -> Result<(), Violation> {
    // Lengths count characters, as the Java services do (close enough outside the BMP).
    check_bounds(s, text.chars().count(), "length", path)?;
    // No model string needs U+0000, and Postgres text cannot hold it: refuse it here,
    // the same on every store, rather than fail deep inside one of them.
    if text.contains('\0') {
        return Err(invalid(
            path,
            "Member must not contain the character U+0000",
        ));
    }
    if let Some(p) = &s.pattern {
        if !p.regex.is_match(text) {
            let constraint = format!(
                "Member must satisfy regular expression pattern: {}",
                p.source
            );
            return Err(invalid(path, constraint));
        }
    }
    if !s.enum_values.is_empty() && !s.enum_values.iter().any(|e| e == text) {
        let set = s.enum_values.join(", ");
        return Err(invalid(
            path,
            format!("Member must satisfy enum value set: [{set}]"),
        ));
    }
    Ok(())
}

/// `what` is "length" for sizes and "value" for numbers, as in AWS messages.
fn check_bounds<N>(s: &Shape, n: N, what: &str, path: &str) -> Result<(), Violation>
where
    i64: TryFrom<N>,
{
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    if let Some(min) = s.min.filter(|min| n < *min) {
        let constraint = format!("Member must have {what} greater than or equal to {min}");
        return Err(invalid(path, constraint));
    }
    if let Some(max) = s.max.filter(|max| n > *max) {
        let constraint = format!("Member must have {what} less than or equal to {max}");
        return Err(invalid(path, constraint));
    }
    Ok(())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn invalid(path: &str, constraint: impl Display) -> Violation {
    Violation::InvalidParameter(format!(
        "Invalid parameter at '{path}' failed to satisfy constraint: '{constraint}'"
    ))
}

fn unexpected(path: &str, expected: &str) -> Violation {
    Violation::Serialization(if path.is_empty() {
        format!("Unexpected request body: expected {expected}")
    } else {
        format!("Unexpected value at '{path}': expected {expected}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ECR: &str = include_str!("../../../api-spec/ecr.json");

    fn ecr() -> ServiceSpec {
        ServiceSpec::parse(ECR).unwrap()
    }

    fn invalid_at(spec: &ServiceSpec, op: &str, body: Value, path: &str, constraint: &str) {
        let expected = Violation::InvalidParameter(format!(
            "Invalid parameter at '{path}' failed to satisfy constraint: '{constraint}'"
        ));
        assert_eq!(spec.validate_input(op, &body), Err(expected), "{body}");
    }

    fn is_serialization(spec: &ServiceSpec, op: &str, body: Value) {
        let r = spec.validate_input(op, &body);
        assert!(
            matches!(r, Err(Violation::Serialization(_))),
            "{body}: {r:?}"
        );
    }

    fn ok(spec: &ServiceSpec, op: &str, body: Value) {
        assert_eq!(spec.validate_input(op, &body), Ok(()), "{body}");
    }

    #[test]
    fn every_pattern_in_the_spec_compiles() {
        let raw: Value = serde_json::from_str(ECR).unwrap();
        let mut count = 0;
        for (name, shape) in raw["shapes"].as_object().unwrap() {
            if let Some(p) = shape.get("pattern").and_then(Value::as_str) {
                assert!(compile_pattern(p).is_ok(), "{name}: {p}");
                count += 1;
            }
        }
        assert!(count >= 5, "only {count} patterns");
        ecr();
    }

    #[test]
    fn operations() {
        let spec = ecr();
        assert_eq!(spec.target_prefix(), "AmazonEC2ContainerRegistry_V20150921");
        let implemented = spec.implemented();
        assert_eq!(implemented.len(), crate::api::ecr::ACTIONS.len());
        assert!(implemented.windows(2).all(|w| w[0] < w[1]));
        assert!(spec.is_implemented("PutImage") && spec.is_modelled("PutImage"));
        assert!(!spec.is_modelled("Nope") && !spec.is_implemented("Nope"));
        // Every modelled operation is served now; an unimplemented one (as a later
        // model's new operation would be) has no shapes: only the object check applies.
        let mut raw: Value = serde_json::from_str(ECR).unwrap();
        raw["operations"]["StartImageScan"]["implemented"] = json!(false);
        let older = ServiceSpec::parse(&raw.to_string()).unwrap();
        assert!(older.is_modelled("StartImageScan") && !older.is_implemented("StartImageScan"));
        ok(&older, "StartImageScan", json!({"anything": 1}));
        is_serialization(&older, "StartImageScan", json!([]));
    }

    #[test]
    fn repository_name() {
        let spec = ecr();
        let op = "CreateRepository";
        ok(&spec, op, json!({"repositoryName": "team/app-1"}));
        ok(&spec, op, json!({"repositoryName": "a".repeat(256)}));
        let pattern = spec
            .shapes
            .iter()
            // The repository name's pattern; a template prefix's extends it with ROOT.
            .find_map(|s| {
                s.pattern
                    .as_ref()
                    .filter(|p| p.source.contains("__") && !p.source.contains("ROOT"))
            })
            .unwrap();
        let pattern = format!(
            "Member must satisfy regular expression pattern: {}",
            pattern.source
        );
        invalid_at(
            &spec,
            op,
            json!({"repositoryName": "ABC"}),
            "repositoryName",
            &pattern,
        );
        invalid_at(
            &spec,
            op,
            json!({"repositoryName": "a"}),
            "repositoryName",
            "Member must have length greater than or equal to 2",
        );
        invalid_at(
            &spec,
            op,
            json!({"repositoryName": "a".repeat(257)}),
            "repositoryName",
            "Member must have length less than or equal to 256",
        );
        invalid_at(
            &spec,
            op,
            json!({}),
            "repositoryName",
            "Member must not be null",
        );
        invalid_at(
            &spec,
            op,
            json!({"repositoryName": null}),
            "repositoryName",
            "Member must not be null",
        );
        is_serialization(&spec, op, json!({"repositoryName": 5}));
        is_serialization(&spec, op, json!({"repositoryName": ["ab"]}));
        // U+0000 is refused in any string, even where no pattern applies.
        invalid_at(
            &spec,
            op,
            json!({"repositoryName": "ab", "tags": [{"Key": "k", "Value": "a\u{0}b"}]}),
            "tags[0].Value",
            "Member must not contain the character U+0000",
        );
    }

    #[test]
    fn enums_and_patterns() {
        let spec = ecr();
        let body = json!({"repositoryName": "ab", "imageTagMutability": "FOO"});
        let r = spec.validate_input("CreateRepository", &body);
        let Err(Violation::InvalidParameter(msg)) = r else {
            panic!("{r:?}")
        };
        assert!(msg.starts_with("Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE"), "{msg}");
        ok(
            &spec,
            "CreateRepository",
            json!({"repositoryName": "ab", "imageTagMutability": "IMMUTABLE"}),
        );
        invalid_at(
            &spec,
            "DescribeRepositories",
            json!({"registryId": "12345"}),
            "registryId",
            "Member must satisfy regular expression pattern: [0-9]{12}",
        );
        ok(
            &spec,
            "DescribeRepositories",
            json!({"registryId": "123456789012"}),
        );
    }

    #[test]
    fn integers() {
        let spec = ecr();
        let op = "DescribeRepositories";
        ok(&spec, op, json!({"maxResults": 1000}));
        invalid_at(
            &spec,
            op,
            json!({"maxResults": 0}),
            "maxResults",
            "Member must have value greater than or equal to 1",
        );
        invalid_at(
            &spec,
            op,
            json!({"maxResults": 1001}),
            "maxResults",
            "Member must have value less than or equal to 1000",
        );
        for bad in [
            json!(1.5),
            json!(1.0),
            json!("10"),
            json!(2_147_483_648_i64),
            json!(u64::MAX),
            json!(true),
        ] {
            is_serialization(&spec, op, json!({"maxResults": bad}));
        }
        // long: partFirstByte has min 0 and no i32 limit.
        let mut body = json!({"repositoryName": "ab", "uploadId": "0123abcd-0000-0000-0000-000000000000",
            "partFirstByte": 5_000_000_000_i64, "partLastByte": 5_000_000_001_i64, "layerPartBlob": "aGVsbG8="});
        ok(&spec, "UploadLayerPart", body.clone());
        body["partFirstByte"] = json!(-1);
        invalid_at(
            &spec,
            "UploadLayerPart",
            body,
            "partFirstByte",
            "Member must have value greater than or equal to 0",
        );
    }

    #[test]
    fn blobs() {
        let spec = ecr();
        let body = |blob: Value| {
            json!({"repositoryName": "ab", "uploadId": "0123abcd-0000-0000-0000-000000000000",
                "partFirstByte": 0, "partLastByte": 4, "layerPartBlob": blob})
        };
        ok(&spec, "UploadLayerPart", body(json!("")));
        ok(&spec, "UploadLayerPart", body(json!("aGVsbG8=")));
        for bad in [
            json!("!!!"),
            json!("aGVsbG8"),
            json!(12),
            json!(["aGVsbG8="]),
        ] {
            is_serialization(&spec, "UploadLayerPart", body(bad));
        }
        invalid_at(
            &spec,
            "UploadLayerPart",
            body(Value::Null),
            "layerPartBlob",
            "Member must not be null",
        );
    }

    #[test]
    fn lists_and_nested_paths() {
        let spec = ecr();
        let op = "BatchGetImage";
        ok(
            &spec,
            op,
            json!({"repositoryName": "ab", "imageIds": [{"imageTag": "latest"}, {"imageDigest": "sha256:00"}]}),
        );
        invalid_at(
            &spec,
            op,
            json!({"repositoryName": "ab", "imageIds": []}),
            "imageIds",
            "Member must have length greater than or equal to 1",
        );
        let long_tag = json!({"imageTag": "t".repeat(301)});
        invalid_at(
            &spec,
            op,
            json!({"repositoryName": "ab", "imageIds": [{"imageTag": "a"}, long_tag]}),
            "imageIds[1].imageTag",
            "Member must have length less than or equal to 300",
        );
        is_serialization(
            &spec,
            op,
            json!({"repositoryName": "ab", "imageIds": {"imageTag": "a"}}),
        );
        is_serialization(
            &spec,
            op,
            json!({"repositoryName": "ab", "imageIds": ["latest"]}),
        );
        invalid_at(
            &spec,
            "CreateRepository",
            json!({"repositoryName": "ab", "tags": [{"Key": "k"}]}),
            "tags[0].Value",
            "Member must not be null",
        );
    }

    #[test]
    fn put_image_and_leniency() {
        let spec = ecr();
        invalid_at(
            &spec,
            "PutImage",
            json!({"imageManifest": "{}"}),
            "repositoryName",
            "Member must not be null",
        );
        // Unknown members and nulls for optional members are ignored, as AWS does.
        ok(
            &spec,
            "PutImage",
            json!({"repositoryName": "ab", "imageManifest": "{}", "extra": {"x": [1, 2]}, "imageTag": null, "registryId": null}),
        );
        for body in [json!([]), json!("x"), json!(1), Value::Null] {
            is_serialization(&spec, "PutImage", body);
        }
    }

    #[test]
    fn hostile_input_does_not_panic_or_recurse() {
        let spec = ecr();
        let mut deep = json!(1);
        for _ in 0..500 {
            deep = json!([deep]);
        }
        let samples = [
            Value::Null,
            json!(true),
            json!(-1),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1e300),
            json!(""),
            json!("ÿ".repeat(300)),
            json!([]),
            json!([null, {}, "x"]),
            json!({}),
            json!({"a": {}}),
            deep,
        ];
        for op in spec.implemented() {
            let Some(Kind::Structure(members)) =
                spec.operations[op].input.map(|i| &spec.shapes[i].kind)
            else {
                panic!("{op}")
            };
            for m in members {
                for v in &samples {
                    let _ = spec.validate_input(op, &json!({ m.name.as_str(): v.clone() }));
                }
            }
        }
    }

    #[test]
    fn very_deep_json_is_not_walked() {
        let spec = ecr();
        let mut deep = json!(1);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        // json! would serialize `deep` recursively, so insert it directly.
        let mut body = json!({"repositoryName": "ab", "imageIds": [{}]});
        body["unknown"] = deep;
        assert_eq!(spec.validate_input("BatchGetImage", &body), Ok(()));
        // The same nesting where the model expects a list of structures stops at once.
        body["imageIds"] = body["unknown"].take();
        let r = spec.validate_input("BatchGetImage", &body);
        assert!(matches!(r, Err(Violation::Serialization(_))), "{r:?}");
        // Value's own Drop is recursive; unwind by hand.
        let mut v = body["imageIds"].take();
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn maps_and_bad_specs() {
        let spec = ServiceSpec::parse(r#"{"targetPrefix": "T", "operations": {"Op": {"implemented": true, "input": "In"}},
            "shapes": {"In": {"type": "structure", "members": {"m": {"shape": "M"}, "b": {"shape": "B"}}},
                "M": {"type": "map", "key": {"shape": "K"}, "value": {"shape": "V"}, "max": 2},
                "K": {"type": "string", "min": 2}, "V": {"type": "string", "enum": ["x", "y"]},
                "B": {"type": "blob", "max": 2}}}"#).unwrap();
        ok(
            &spec,
            "Op",
            json!({"m": {"ab": "x", "cd": "y"}, "b": "YWI="}),
        );
        invalid_at(
            &spec,
            "Op",
            json!({"b": "YWJj"}),
            "b",
            "Member must have length less than or equal to 2",
        );
        invalid_at(
            &spec,
            "Op",
            json!({"m": {"a": "x"}}),
            "m.a",
            "Member must have length greater than or equal to 2",
        );
        invalid_at(
            &spec,
            "Op",
            json!({"m": {"ab": "z"}}),
            "m.ab",
            "Member must satisfy enum value set: [x, y]",
        );
        invalid_at(
            &spec,
            "Op",
            json!({"m": {"ab": "x", "cd": "x", "ef": "x"}}),
            "m",
            "Member must have length less than or equal to 2",
        );
        is_serialization(&spec, "Op", json!({"m": {"ab": 1}}));

        let missing = r#"{"targetPrefix": "T", "operations": {"Op": {"implemented": true, "input": "In"}},
            "shapes": {"In": {"type": "structure", "members": {"m": {"shape": "Gone"}}}}}"#;
        assert!(ServiceSpec::parse(missing).is_err());
        let no_input = r#"{"targetPrefix": "T", "operations": {"Op": {"implemented": true, "input": "In"}}, "shapes": {}}"#;
        assert!(ServiceSpec::parse(no_input).is_err());
        let bad_pattern = r#"{"targetPrefix": "T", "operations": {}, "shapes": {"S": {"type": "string", "pattern": "("}}}"#;
        assert!(ServiceSpec::parse(bad_pattern).is_err());
    }
}
