//! For each JSON face (ECR, ECR Public): the dispatch table, its api-spec file and
//! botocore's model agree, and the running server routes every modelled operation
//! accordingly.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::both_stores;
use crate::helpers::{TestApp, ACCESS_KEY, SECRET_KEY};

/// One JSON face as the tests see it.
pub(crate) struct Face {
    /// botocore's data directory and model version.
    model: (&'static str, &'static str),
    file: &'static str,
    actions: &'static [(&'static str, berth::api::awsjson::Handler)],
    spec: &'static berth::api::awsjson::spec::ServiceSpec,
    /// How many operations the model has at least.
    at_least: usize,
}

pub(crate) fn faces() -> [Face; 2] {
    [
        Face {
            model: ("ecr", "2015-09-21"),
            file: include_str!("../../api-spec/ecr.json"),
            actions: berth::api::ecr::ACTIONS,
            spec: berth::api::ecr::spec(),
            at_least: 50,
        },
        Face {
            model: ("ecr-public", "2020-10-30"),
            file: include_str!("../../api-spec/ecr-public.json"),
            actions: berth::api::ecr_public::ACTIONS,
            spec: berth::api::ecr_public::spec(),
            at_least: 23,
        },
    ]
}

both_stores!(every_modelled_operation_is_routed_by_the_server);

/// A botocore model (service and version as arguments) as the installed botocore has
/// it: metadata, every operation's input/output/errors, and every shape reduced to
/// the constraints api-spec keeps. Uses `$BERTH_PYTHON` or `python3`.
const BOTOCORE_DUMP: &str = r#"
import gzip, json, os, sys, botocore
path = os.path.join(os.path.dirname(botocore.__file__), "data", sys.argv[1], sys.argv[2], "service-2.json.gz")
with gzip.open(path, "rt", encoding="utf-8") as f:
    model = json.load(f)
ops = {}
for name, op in model["operations"].items():
    ops[name] = {
        "input": op.get("input", {}).get("shape"),
        "output": op.get("output", {}).get("shape"),
        "errors": sorted(e["shape"] for e in op.get("errors", [])),
    }
shapes = {}
for name, s in model["shapes"].items():
    r = {k: s[k] for k in ("type", "required", "min", "max", "pattern", "enum") if k in s}
    for k in ("member", "key", "value"):
        if k in s:
            r[k] = {"shape": s[k]["shape"]}
    if "members" in s:
        r["members"] = {n: {"shape": m["shape"]} for n, m in s["members"].items()}
    shapes[name] = r
print(json.dumps({"metadata": model["metadata"], "operations": ops, "shapes": shapes}))
"#;

fn botocore((service, version): (&str, &str)) -> Value {
    let python = std::env::var("BERTH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-c", BOTOCORE_DUMP, service, version])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (needed to read botocore's model): {e}"));
    assert!(
        out.status.success(),
        "{python} could not read botocore's {service} model (pip install botocore): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("botocore dump is JSON")
}

impl Face {
    pub(crate) fn file(&self) -> Value {
        serde_json::from_str(self.file).expect("api-spec file is JSON")
    }
}

fn names(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

#[test]
fn dispatch_table_names_exactly_the_implemented_operations_once() {
    for face in faces() {
        dispatch_table_matches(&face);
    }
}

fn dispatch_table_matches(face: &Face) {
    let actions: Vec<&str> = face.actions.iter().map(|(a, _)| *a).collect();
    let unique: BTreeSet<&str> = actions.iter().copied().collect();
    assert_eq!(
        unique.len(),
        actions.len(),
        "an action repeats in the dispatch table: {actions:?}"
    );

    let spec = face.spec;
    let implemented: BTreeSet<&str> = spec.implemented().into_iter().collect();
    assert_eq!(
        unique, implemented,
        "dispatch table vs operations api-spec/ecr.json marks implemented"
    );
    for action in &actions {
        assert!(
            spec.is_modelled(action) && spec.is_implemented(action),
            "{action}"
        );
    }

    // The file's flags say the same as the parsed spec.
    let file = face.file();
    let flagged: BTreeSet<&str> = file["operations"]
        .as_object()
        .expect("operations")
        .iter()
        .filter(|(_, op)| op["implemented"] == Value::Bool(true))
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(flagged, implemented);
    assert_eq!(file["targetPrefix"], spec.target_prefix());
}

#[test]
fn spec_operations_and_shapes_match_botocore() {
    for face in faces() {
        spec_matches_botocore(&face);
    }
}

fn spec_matches_botocore(face: &Face) {
    let boto = botocore(face.model);
    let file = face.file();
    let spec = face.spec;

    let meta = &boto["metadata"];
    assert_eq!(meta["protocol"], "json");
    assert_eq!(meta["jsonVersion"], "1.1");
    assert_eq!(meta["targetPrefix"], spec.target_prefix());
    assert_eq!(file["targetPrefix"], meta["targetPrefix"]);
    assert_eq!(file["signingName"], meta["signingName"]);
    assert_eq!(file["apiVersion"], meta["apiVersion"]);

    let modelled = names(&boto["operations"]);
    let ours = names(&file["operations"]);
    let only_botocore: Vec<_> = modelled.difference(&ours).collect();
    let only_spec: Vec<_> = ours.difference(&modelled).collect();
    assert!(
        only_botocore.is_empty() && only_spec.is_empty(),
        "operations only in botocore: {only_botocore:?}; only in api-spec: {only_spec:?} \
         (regenerate with api-spec/generate.py)"
    );
    assert!(modelled.len() >= face.at_least, "{}", modelled.len());
    for name in &modelled {
        assert!(spec.is_modelled(name), "{name} is not routed as modelled");
        let b = &boto["operations"][name];
        let o = &file["operations"][name];
        assert_eq!(o["input"], b["input"], "{name} input");
        assert_eq!(o["output"], b["output"], "{name} output");
        assert_eq!(o["errors"], b["errors"], "{name} errors");
    }
    for unknown in ["Nope", "describeRepositories", ""] {
        assert!(!spec.is_modelled(unknown), "{unknown:?}");
    }

    // Every shape the server validates against is botocore's, constraint for constraint.
    let shapes = file["shapes"].as_object().expect("shapes");
    assert!(!shapes.is_empty());
    for (name, shape) in shapes {
        assert_eq!(shape, &boto["shapes"][name], "shape {name}");
    }
    // ... and every shape reachable from an implemented input is there.
    let mut todo: Vec<String> = spec
        .implemented()
        .iter()
        .filter_map(|op| boto["operations"][*op]["input"].as_str().map(str::to_owned))
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        assert!(
            shapes.contains_key(&name),
            "shape {name} missing from api-spec"
        );
        let s = &boto["shapes"][&name];
        for k in ["member", "key", "value"] {
            if let Some(child) = s[k]["shape"].as_str() {
                todo.push(child.to_owned());
            }
        }
        for m in s["members"].as_object().into_iter().flatten() {
            todo.push(m.1["shape"].as_str().expect("member shape").to_owned());
        }
    }
    assert_eq!(seen.len(), shapes.len(), "api-spec has unreachable shapes");
}

/// Implemented operations reach their handler (never Unknown/Unsupported); the
/// others answer UnsupportedOperationException; unknown names UnknownOperation.
async fn every_modelled_operation_is_routed_by_the_server(app: TestApp) {
    for face in faces() {
        routed(&app, &face).await;
    }
}

async fn routed(app: &TestApp, face: &Face) {
    let file = face.file();
    let spec = face.spec;
    let prefix = spec.target_prefix();
    let signing = file["signingName"].as_str().expect("signingName");
    let call = |target: String| async move {
        app.call_signed(&target, b"{}", ACCESS_KEY, SECRET_KEY, signing)
            .await
    };
    for name in names(&file["operations"]) {
        let r = call(format!("{prefix}.{name}")).await;
        if spec.is_implemented(&name) {
            // The handler's answer: a result, a refused member, or what is not there.
            let answered = r.status == 200
                || r.error_type() == "InvalidParameterException"
                || r.error_type().ends_with("NotFoundException");
            assert!(answered, "{name} with {{}}: {} {}", r.status, r.body);
        } else {
            assert_eq!(r.status, 400, "{name}");
            assert_eq!(r.error_type(), "UnsupportedOperationException", "{name}");
        }
    }
    let r = call(format!("{prefix}.NotAnOperation")).await;
    assert_eq!(r.error_type(), "UnknownOperationException");
}
