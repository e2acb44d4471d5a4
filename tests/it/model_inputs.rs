//! Every implemented action of each JSON face, fed bodies its model shapes at random
//! (well typed, ill typed, and not JSON at all) against a registry holding images,
//! answers 200 or 400 with an error the model lists for that action: never a 5xx,
//! never an error type the SDKs cannot match. Besides the model's own, only the
//! protocol's SerializationException and AWS's IAM denial (AccessDeniedException, for
//! another account's registry id) are expected of every action.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use crate::both_stores;
use crate::helpers::{TestApp, ACCESS_KEY, ACCOUNT, SECRET_KEY};
use crate::spec::faces;

both_stores!(random_bodies_get_modelled_answers);

/// Bodies per action: one in eight not JSON at all, the others alternately well typed
/// (strings and lists as the model constrains them) and with members of the wrong type.
const BODIES: usize = 24;

/// Errors any action may answer whatever its model lists.
const ANY_ACTION: [&str; 2] = ["SerializationException", "AccessDeniedException"];

async fn random_bodies_get_modelled_answers(app: TestApp) {
    // Names the generator picks from exist, so reads and writes get past their lookups.
    for name in ["app", "team/app"] {
        app.create_repo(name).await;
        app.push_image(name, Some("latest"), 1).await;
        app.create_public(name).await;
        app.push_public_image(name, "latest").await;
    }
    let mut rng = StdRng::seed_from_u64(17);
    for face in faces() {
        let file = face.file();
        let signing = file["signingName"].as_str().expect("signingName");
        let prefix = file["targetPrefix"].as_str().expect("targetPrefix");
        let shapes = &file["shapes"];
        for (name, op) in file["operations"].as_object().expect("operations") {
            if op["implemented"] != json!(true) {
                continue;
            }
            let modelled: Vec<&str> = op["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .filter_map(Value::as_str)
                .chain(ANY_ACTION)
                .collect();
            for i in 0..BODIES {
                let body = match (op["input"].as_str(), i % 8) {
                    (_, 7) => NOT_JSON.choose(&mut rng).expect("some").to_string(),
                    (Some(input), _) => value(shapes, input, &mut rng, 0, i % 2 == 1).to_string(),
                    (None, _) => "{}".to_owned(),
                };
                let r = app
                    .call_signed(
                        &format!("{prefix}.{name}"),
                        body.as_bytes(),
                        ACCESS_KEY,
                        SECRET_KEY,
                        signing,
                    )
                    .await;
                let answered =
                    r.status == 200 || (r.status == 400 && modelled.contains(&r.error_type()));
                assert!(
                    answered,
                    "{prefix}.{name} answered {} {} to {body}",
                    r.status, r.body
                );
            }
        }
    }
}

/// Bodies that are not a JSON object.
const NOT_JSON: [&str; 6] = ["", "[]", "null", "{", "{\"a\":", "\"s\""];

/// Strings that name what the registry holds, and some that cannot be valid anywhere.
fn strings() -> Vec<String> {
    vec![
        "app".into(),
        "team/app".into(),
        "latest".into(),
        "v1".into(),
        ACCOUNT.into(),
        "210987654321".into(),
        format!("sha256:{}", "a".repeat(64)),
        format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/app"),
        "{\"rules\":[]}".into(),
        "../etc".into(),
        "a".repeat(300),
        String::new(),
    ]
}

/// A random value of the model's shape `name`; `wrong` swaps some members for a value
/// of another type.
fn value(shapes: &Value, name: &str, rng: &mut StdRng, depth: usize, wrong: bool) -> Value {
    let shape = &shapes[name];
    if wrong && rng.gen_bool(0.3) {
        let wrongs = [
            Value::Null,
            json!(12),
            json!(-1),
            json!(3.5),
            json!(true),
            json!("x"),
            json!([]),
            json!({}),
            json!({"a": 1}),
        ];
        return wrongs.choose(rng).expect("some").clone();
    }
    let pick = |rng: &mut StdRng, values: &[Value]| values.choose(rng).expect("some").clone();
    match shape["type"].as_str().expect("type") {
        "structure" => {
            let required = &shape["required"];
            let mut out = Map::new();
            for (member, m) in shape["members"].as_object().expect("members") {
                let needed = required
                    .as_array()
                    .is_some_and(|r| r.contains(&json!(member)));
                if depth < 4 && (needed || rng.gen_bool(0.5)) {
                    let inner = m["shape"].as_str().expect("shape");
                    out.insert(member.clone(), value(shapes, inner, rng, depth + 1, wrong));
                }
            }
            Value::Object(out)
        }
        "list" => {
            let inner = shape["member"]["shape"].as_str().expect("member");
            // A well-typed list is as long as the model allows.
            let min = if wrong { 0 } else { bound(&shape["min"], 0) };
            let n = rng.gen_range(min..min + 4);
            Value::Array(
                (0..n)
                    .map(|_| value(shapes, inner, rng, depth + 1, wrong))
                    .collect(),
            )
        }
        "map" => {
            let inner = shape["value"]["shape"].as_str().expect("value");
            let n = rng.gen_range(0..3);
            Value::Object(
                (0..n)
                    .map(|k| (format!("k{k}"), value(shapes, inner, rng, depth + 1, wrong)))
                    .collect(),
            )
        }
        "string" => match shape["enum"].as_array() {
            Some(values) if rng.gen_bool(0.8) => pick(rng, values),
            Some(_) => json!("BOGUS"),
            None => {
                let all = strings();
                let fitting: Vec<&String> =
                    all.iter().filter(|v| wrong || fits(shape, v)).collect();
                match fitting.choose(rng) {
                    Some(v) => json!(v),
                    None => json!(all.choose(rng).expect("some")),
                }
            }
        },
        "integer" | "long" => {
            let bounds = [shape["min"].clone(), shape["max"].clone()];
            let mut values: Vec<Value> = bounds.into_iter().filter(|b| !b.is_null()).collect();
            values.extend([json!(0), json!(1), json!(-5), json!(1u64 << 40)]);
            pick(rng, &values)
        }
        "boolean" => json!(rng.gen_bool(0.5)),
        "timestamp" => pick(rng, &[json!(0), json!(1_700_000_000), json!(-1)]),
        "blob" => pick(rng, &[json!(""), json!("aGVsbG8="), json!("not base64!")]),
        other => panic!("shape type {other} of {name}"),
    }
}

/// A numeric constraint of the model, or `default`.
fn bound(v: &Value, default: usize) -> usize {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(default)
}

/// Whether `v` meets the string shape's length and pattern.
fn fits(shape: &Value, v: &str) -> bool {
    let len = v.chars().count();
    let pattern = shape["pattern"]
        .as_str()
        .and_then(|p| regex::Regex::new(&format!("^(?:{p})$")).ok());
    len >= bound(&shape["min"], 0)
        && len <= bound(&shape["max"], usize::MAX)
        && pattern.is_none_or(|p| p.is_match(v))
}
