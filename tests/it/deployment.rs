//! The deployment documents against the real binary: the configuration
//! docs/kubernetes.md gives (its `berth.toml`, its Secret and its Deployment's
//! environment) and the environment docker-compose.yml gives the replicas are ones
//! `berth config check` accepts, each setting read from where the document puts it. A
//! setting renamed in the code, or a variable misspelt in a document, fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const FROM_FILE: &str = "configuration file";
const FROM_ENV: &str = "environment";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).expect(path)
}

/// The YAML documents in `yaml`, as JSON: PyYAML (which the aws CLI brings, and
/// tests/run.sh installs) reads them, merge keys and anchors included.
fn yaml(yaml: &str) -> Vec<Value> {
    const SCRIPT: &str =
        "import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)";
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(yaml.as_bytes()).expect("write YAML");
    drop(stdin);
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "PyYAML could not read it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from PyYAML")
}

/// The fenced code blocks of `markdown` in `language`, in order.
fn code_blocks(markdown: &str, language: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().strip_prefix("```") == Some(language) {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push(block.join("\n") + "\n");
        }
    }
    blocks
}

/// What `berth config check` printed: the effective settings, where each came from,
/// and those not set.
struct Effective {
    values: toml::Table,
    origins: BTreeMap<String, String>,
    unset: BTreeSet<String>,
    printed: String,
}

impl Effective {
    fn origin(&self, key: &str) -> &str {
        self.origins
            .get(key)
            .map_or("(not printed)", String::as_str)
    }
}

/// `berth config check` with `args`, with only `env` in its environment; asserts that
/// it accepts the configuration.
fn config_check(args: &[&str], env: &BTreeMap<String, String>) -> Effective {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["config", "check"])
        .args(args)
        .env_clear()
        .envs(env)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run berth");
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "berth config check refused it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let values: toml::Table = printed.parse().expect("the output is TOML");
    let mut origins = BTreeMap::new();
    let mut unset = BTreeSet::new();
    for line in printed.lines() {
        if let Some(key) = line
            .strip_prefix("# ")
            .and_then(|l| l.strip_suffix(" is not set"))
        {
            unset.insert(key.to_owned());
        } else if let (Some((key, _)), Some((_, origin))) =
            (line.split_once(" = "), line.rsplit_once("  # "))
        {
            origins.insert(key.to_owned(), origin.to_owned());
        }
    }
    Effective {
        values,
        origins,
        unset,
        printed,
    }
}

/// The setting a variable gives: `BERTH_GC_GRACE` is `gc_grace`, `DATABASE_URL`
/// `database_url`. Other variables (`AWS_*`, `RUST_LOG`) are no setting of berth's.
fn setting_of(variable: &str) -> Option<String> {
    match variable {
        "DATABASE_URL" => Some("database_url".to_owned()),
        // It names the file; the file's settings are checked as such.
        "BERTH_CONFIG" => None,
        _ => variable.strip_prefix("BERTH_").map(str::to_lowercase),
    }
}

/// Every variable of `env` that is a setting was taken from the environment, so none
/// is misspelt or shadowed; an empty one counts as unset (compose's `${VAR:-}`).
fn assert_taken_from_the_environment(env: &BTreeMap<String, String>, effective: &Effective) {
    for (variable, value) in env {
        let Some(key) = setting_of(variable) else {
            continue;
        };
        if value.is_empty() && effective.unset.contains(&key) {
            continue;
        }
        assert_eq!(
            effective.origin(&key),
            FROM_ENV,
            "{variable} is not the variable of a setting berth has:\n{}",
            effective.printed
        );
    }
}

fn string<'a>(value: &'a Value, path: &str) -> &'a str {
    value
        .pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{path} in {value}"))
}

/// docs/kubernetes.md's `berth.toml` and the environment its Deployment gives: each
/// is accepted, and each setting comes from where the page puts it.
#[test]
fn the_kubernetes_configuration_is_accepted() {
    let page = read("docs/kubernetes.md");
    let files: Vec<String> = code_blocks(&page, "toml")
        .into_iter()
        .filter(|b| b.starts_with("# berth.toml\n"))
        .collect();
    let [file] = &files[..] else {
        panic!("one berth.toml block, not {}", files.len());
    };
    let given: toml::Table = file.parse().expect("berth.toml is TOML");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("berth.toml");
    std::fs::write(&path, file).expect("write berth.toml");
    let path = path.display().to_string();

    // The file alone.
    let effective = config_check(&["--config", &path], &BTreeMap::new());
    assert!(!given.is_empty());
    for (key, value) in &given {
        assert_eq!(effective.values.get(key), Some(value), "{key}");
        assert_eq!(effective.origin(key), FROM_FILE, "{key}");
    }

    // The file as the Deployment names it, with the Secret's and the Deployment's
    // variables.
    let documents: Vec<Value> = code_blocks(&page, "yaml")
        .iter()
        .flat_map(|b| yaml(b))
        .collect();
    let kind = |name: &str| {
        let found: Vec<&Value> = documents.iter().filter(|d| d["kind"] == name).collect();
        let [one] = found[..] else {
            panic!("one {name}, not {}", found.len());
        };
        one
    };
    let secret = kind("Secret");
    let deployment = kind("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let mut env: BTreeMap<String, String> = secret["stringData"]
        .as_object()
        .expect("the Secret's stringData")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect(k).to_owned()))
        .collect();
    let listed = |container: &Value| -> BTreeMap<String, String> {
        let list = container["env"].as_array().expect("env");
        list.iter()
            .map(|v| {
                (
                    string(v, "/name").to_owned(),
                    string(v, "/value").to_owned(),
                )
            })
            .collect()
    };
    let own = listed(container);
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        secret["metadata"]["name"]
    );
    env.extend(own.clone());
    // BERTH_CONFIG names the ConfigMap's berth.toml where it is mounted.
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["configMap"].is_object())
        .expect("the ConfigMap's volume");
    let mount = container["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"] == volume["name"])
        .expect("the ConfigMap's mount");
    assert_eq!(
        env.get("BERTH_CONFIG").map(String::as_str),
        Some(format!("{}/berth.toml", string(mount, "/mountPath")).as_str())
    );
    assert!(page.contains(&format!(
        "kubectl create configmap {} --from-file=berth.toml",
        string(volume, "/configMap/name")
    )));
    env.insert("BERTH_CONFIG".into(), path.clone());
    let effective = config_check(&[], &env);
    assert_taken_from_the_environment(&env, &effective);
    for (key, value) in &given {
        assert_eq!(effective.origin(key), FROM_FILE, "{key} is given once");
        assert_eq!(effective.values.get(key), Some(value), "{key}");
    }
    let blob_store = effective.values["blob_store"].as_str().expect("blob_store");
    assert!(blob_store.starts_with("s3://"), "{blob_store}");

    // The migration Job finds the store the Deployment serves.
    let job = kind("Job");
    for (variable, value) in listed(&job["spec"]["template"]["spec"]["containers"][0]) {
        assert_eq!(own.get(&variable), Some(&value), "the Job's {variable}");
    }
}

/// A compose value with its interpolation done as `docker compose` does with none of
/// the variables set: `${VAR:-default}` and `${VAR-default}` are the default, `$$`
/// is `$`. Any other form fails the test, as the result would depend on the shell.
fn interpolated(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let inner = rest
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .filter(|(inner, _)| inner.contains('-'));
        let Some((inner, after)) = inner else {
            panic!("{value:?}: give every variable a default (${{VAR:-default}})");
        };
        let (_, default) = inner.split_once('-').expect("a default");
        out.push_str(default);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A service's `environment`, as a mapping or as a list of `KEY=VALUE`.
fn environment(service: &Value) -> BTreeMap<String, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match &service["environment"] {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Value::Array(list) => list
            .iter()
            .map(|item| {
                let item = text(item);
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The Dockerfile's `ENV KEY=VALUE ...`: the image's environment, under compose's.
fn image_environment(dockerfile: &str) -> BTreeMap<String, String> {
    dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The port of a URL the replicas hand out.
fn port(url: &str) -> u16 {
    let url = reqwest::Url::parse(url).expect(url);
    url.port_or_known_default().expect("a port")
}

/// docker-compose.yml's replicas: the same environment each, which `berth config
/// check` accepts with every variable taken, an s3:// blob store in the bucket the
/// compose file makes, behind nginx on the ports their URLs name.
#[test]
fn the_compose_replicas_are_configured() {
    let [compose] = &yaml(&read("docker-compose.yml"))[..] else {
        panic!("one YAML document");
    };
    let services = compose["services"].as_object().expect("services");
    let replicas: Vec<(&String, &Value)> = services
        .iter()
        .filter(|(_, s)| s.get("build").is_some())
        .collect();
    assert!(replicas.len() >= 2, "several replicas");
    let shared = environment(replicas[0].1);
    for (name, replica) in &replicas {
        assert_eq!(environment(replica), shared, "{name} shares the settings");
        assert!(
            replica.get("ports").is_none(),
            "{name}: only nginx publishes"
        );
    }
    let mut env = image_environment(&read("Dockerfile"));
    env.extend(shared.iter().map(|(k, v)| (k.clone(), interpolated(v))));

    let effective = config_check(&[], &env);
    assert_taken_from_the_environment(&env, &effective);
    let blob_store = effective.values["blob_store"].as_str().expect("blob_store");
    let bucket = blob_store
        .strip_prefix("s3://")
        .and_then(|b| b.split('/').next())
        .unwrap_or_else(|| panic!("an s3:// blob store, not {blob_store}"));
    assert_eq!(effective.origin("database_url"), FROM_ENV);
    for variable in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(env.contains_key(variable), "{variable}");
    }
    let made = services
        .values()
        .filter_map(|s| s["command"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .any(|c| c.contains(&format!("mc mb --ignore-existing store/{bucket}\n")));
    assert!(made, "a service makes the bucket {bucket}");

    // nginx publishes the ports the public URLs name, and balances every replica on
    // each listener.
    let published: BTreeSet<u16> = services
        .values()
        .filter_map(|s| s["ports"].as_array())
        .flatten()
        .filter_map(|p| p.as_str()?.split(':').next()?.parse().ok())
        .collect();
    for key in ["public_url", "public_registry_url"] {
        let url = effective.values[key].as_str().expect(key);
        assert!(published.contains(&port(url)), "{key} {url}: not published");
    }
    let nginx = read("deploy/nginx.conf");
    for key in ["listen", "public_listen"] {
        let address = effective.values[key].as_str().expect(key);
        let (_, listen_port) = address.rsplit_once(':').expect(address);
        for (name, _) in &replicas {
            let upstream = format!("server {name}:{listen_port};");
            assert!(nginx.contains(&upstream), "{upstream} in deploy/nginx.conf");
        }
    }
}
