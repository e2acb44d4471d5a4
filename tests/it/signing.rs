//! Managed signing: the configuration through Put/Get/DeleteSigningConfiguration (with
//! the model's refusals), pushes to matching repositories (PutImage and `/v2/`)
//! signed in the background with keys made by openssl, the signatures listed by the
//! `/v2/` referrers API and verified with Python's `cryptography` against the
//! certificate, the status per profile, and the failures (a missing key, a bad one).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_ecr::types::{
    SigningConfiguration, SigningRepositoryFilter, SigningRepositoryFilterType, SigningRule,
    SigningStatus,
};
use berth::service::SigningRun;
use serde_json::Value;

use crate::both_stores;
use crate::cli::{aws, boto3};
use crate::fixtures::{assert_code, by_digest, by_tag, Format, Image, OCI_MANIFEST};
use crate::helpers::{
    ecr_client_in, sha256, spawn_app_with, Backend, TestApp, ACCESS_KEY, ACCOUNT, SECRET_KEY,
};
use crate::oci_client::Registry;

both_stores!(configuration_round_trip_and_errors);
both_stores!(with super::spawn: pushes_are_signed_and_verify, key_problems_fail, boto3_and_the_aws_cli);

/// Where the app's signing profiles' keys are: beside its data.
fn keys_dir(app: &TestApp) -> PathBuf {
    app.data_dir.path().join("signing-keys")
}

/// An app signing from `keys_dir`, with a schedule that leaves the signing to the
/// test (the job runs once at start-up, before anything is queued).
async fn spawn(backend: Backend) -> TestApp {
    let app = spawn_app_with(backend, |c| {
        c.signing_dir = Some(c.store.data_dir.join("signing-keys"));
        c.jobs.signing_interval = Duration::from_secs(3600);
    })
    .await;
    std::fs::create_dir_all(keys_dir(&app)).expect("keys dir");
    app
}

fn profile(name: &str) -> String {
    format!("arn:aws:signer:us-east-1:{ACCOUNT}:/signing-profiles/{name}")
}

fn rule(name: &str, filters: &[&str]) -> SigningRule {
    let filters = (!filters.is_empty()).then(|| {
        filters
            .iter()
            .map(|f| {
                SigningRepositoryFilter::builder()
                    .filter(*f)
                    .filter_type(SigningRepositoryFilterType::WildcardMatch)
                    .build()
                    .expect("filter")
            })
            .collect()
    });
    SigningRule::builder()
        .signing_profile_arn(profile(name))
        .set_repository_filters(filters)
        .build()
        .expect("rule")
}

fn configuration(rules: Vec<SigningRule>) -> SigningConfiguration {
    SigningConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .expect("configuration")
}

async fn put_configuration(app: &TestApp, rules: Vec<SigningRule>) {
    app.ecr
        .put_signing_configuration()
        .signing_configuration(configuration(rules))
        .send()
        .await
        .expect("put signing configuration");
}

/// Makes a key of `kind` (`ec` for P-256, `rsa:2048`, ...) and a self-signed
/// code-signing certificate for profile `name` in `dir`, with openssl.
pub(crate) fn make_key(dir: &Path, name: &str, kind: &str) {
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", kind]);
    if kind == "ec" {
        cmd.args(["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    }
    cmd.args([
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN=berth {name}"),
    ])
    // A leaf certificate, as the Notary Project requires of a signing certificate.
    .args(["-addext", "basicConstraints=critical,CA:FALSE"])
    .args(["-addext", "keyUsage=critical,digitalSignature"])
    .args(["-addext", "extendedKeyUsage=codeSigning"])
    .arg("-keyout")
    .arg(dir.join(format!("{name}.key")))
    .arg("-out")
    .arg(dir.join(format!("{name}.crt")));
    run(cmd);
}

/// Runs `cmd`, which must succeed; returns its output, trimmed.
fn run(mut cmd: Command) -> String {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs the signing job now, as the schedule would, with the app's key material.
async fn sign_now(app: &TestApp) -> SigningRun {
    let service = app.service_signing_from(&keys_dir(app)).await;
    for _ in 0..100 {
        if let Some(run) = service.run_signing_job().await.expect("signing run") {
            return run;
        }
        // The app's own start-up run holds the lease a moment.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the signing job's lease stayed taken");
}

/// (profile ARN, status, failure code, failure reason) per profile, sorted.
async fn statuses(
    app: &TestApp,
    repo: &str,
    id: aws_sdk_ecr::types::ImageIdentifier,
) -> Vec<(String, String, Option<String>, Option<String>)> {
    let out = app
        .ecr
        .describe_image_signing_status()
        .repository_name(repo)
        .image_id(id)
        .send()
        .await
        .expect("describe image signing status");
    assert_eq!(out.repository_name(), Some(repo));
    assert_eq!(out.registry_id(), Some(ACCOUNT));
    let mut all: Vec<_> = out
        .signing_statuses()
        .iter()
        .map(|s| {
            (
                s.signing_profile_arn().unwrap_or_default().to_owned(),
                s.status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                s.failure_code().map(str::to_owned),
                s.failure_reason().map(str::to_owned),
            )
        })
        .collect();
    all.sort();
    all
}

fn status(name: &str, status: SigningStatus) -> (String, String, Option<String>, Option<String>) {
    (profile(name), status.as_str().to_owned(), None, None)
}

async fn configuration_round_trip_and_errors(app: TestApp) {
    let missing = app.ecr.get_signing_configuration().send().await;
    assert_code(
        missing,
        "SigningConfigurationNotFoundException",
        "get before a put",
    );
    let missing = app.ecr.delete_signing_configuration().send().await;
    assert_code(
        missing,
        "SigningConfigurationNotFoundException",
        "delete before a put",
    );

    let rules = vec![
        rule("release", &["prod/*", "*/production"]),
        rule("everything", &[]),
    ];
    let put = app
        .ecr
        .put_signing_configuration()
        .signing_configuration(configuration(rules.clone()))
        .send()
        .await
        .expect("put");
    assert_eq!(
        put.signing_configuration(),
        Some(&configuration(rules.clone()))
    );
    let got = app
        .ecr
        .get_signing_configuration()
        .send()
        .await
        .expect("get");
    assert_eq!(got.registry_id(), Some(ACCOUNT));
    assert_eq!(
        got.signing_configuration(),
        Some(&configuration(rules.clone()))
    );
    // Another region of the account has its own configuration.
    let west = ecr_client_in(
        &app.url,
        ACCESS_KEY,
        SECRET_KEY,
        crate::fixtures::world::WEST,
    );
    let other = west.get_signing_configuration().send().await;
    assert_code(
        other,
        "SigningConfigurationNotFoundException",
        "another region",
    );

    let refused = |config: SigningConfiguration| {
        app.ecr
            .put_signing_configuration()
            .signing_configuration(config)
            .send()
    };
    let not_signer = SigningRule::builder()
        .signing_profile_arn(format!(
            "arn:aws:kms:us-east-1:{ACCOUNT}:/signing-profiles/x1"
        ))
        .build()
        .expect("rule");
    let bad_name = SigningRule::builder()
        .signing_profile_arn(profile("a"))
        .build()
        .expect("rule");
    let upper_filter = rule("release", &["Prod/*"]);
    let bad_type = SigningRule::builder()
        .signing_profile_arn(profile("release"))
        .repository_filters(
            SigningRepositoryFilter::builder()
                .filter("prod")
                .filter_type(SigningRepositoryFilterType::from("PREFIX_MATCH"))
                .build()
                .expect("filter"),
        )
        .build()
        .expect("rule");
    let no_filters = SigningRule::builder()
        .signing_profile_arn(profile("release"))
        .set_repository_filters(Some(Vec::new()))
        .build()
        .expect("rule");
    for (what, config) in [
        (
            "a profile ARN of another service",
            configuration(vec![not_signer]),
        ),
        ("a one-letter profile name", configuration(vec![bad_name])),
        ("an upper-case filter", configuration(vec![upper_filter])),
        ("a filter type", configuration(vec![bad_type])),
        ("an empty filter list", configuration(vec![no_filters])),
        ("11 rules", configuration(vec![rule("release", &[]); 11])),
    ] {
        assert_code(refused(config).await, "InvalidParameterException", what);
    }
    // Nothing refused changed the configuration.
    let got = app
        .ecr
        .get_signing_configuration()
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.signing_configuration(),
        Some(&configuration(rules.clone()))
    );

    // No rules is a configuration too: it signs nothing.
    put_configuration(&app, Vec::new()).await;
    let got = app
        .ecr
        .get_signing_configuration()
        .send()
        .await
        .expect("get");
    assert!(got
        .signing_configuration()
        .expect("configuration")
        .rules()
        .is_empty());
    put_configuration(&app, rules.clone()).await;
    let deleted = app
        .ecr
        .delete_signing_configuration()
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.registry_id(), Some(ACCOUNT));
    assert_eq!(deleted.signing_configuration(), Some(&configuration(rules)));
    let missing = app.ecr.get_signing_configuration().send().await;
    assert_code(
        missing,
        "SigningConfigurationNotFoundException",
        "get after delete",
    );
}

/// Checks the envelope's signature over `protected.payload` against the certificate
/// with Python's `cryptography`, the payload's target digest, the headers the Notary
/// Project specification requires, and that a changed payload does not verify.
/// Prints the algorithm.
const VERIFY: &str = r#"
import base64, json, sys
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

envelope = json.load(open(sys.argv[1]))
cert = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
digest, size, media_type = sys.argv[3], int(sys.argv[4]), sys.argv[5]

def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

assert set(envelope) == {"payload", "protected", "header", "signature"}, envelope.keys()
protected = json.loads(unb64(envelope["protected"]))
assert protected["cty"] == "application/vnd.cncf.notary.payload.v1+json", protected
assert protected["crit"] == ["io.cncf.notary.signingScheme"], protected
assert protected["io.cncf.notary.signingScheme"] == "notary.x509", protected
assert protected["io.cncf.notary.signingTime"].endswith("Z"), protected
payload = json.loads(unb64(envelope["payload"]))
assert payload == {"targetArtifact": {"mediaType": media_type, "digest": digest, "size": size}}, payload
chain = envelope["header"]["x5c"]
assert x509.load_der_x509_certificate(base64.b64decode(chain[0])) == cert
assert envelope["header"]["io.cncf.notary.signingAgent"].startswith("berth/")

def verify(signed):
    signature = unb64(envelope["signature"])
    key = cert.public_key()
    if protected["alg"] == "ES256":
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        key.verify(utils.encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
    elif protected["alg"] == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        key.verify(signature, signed, pss, hashes.SHA256())
    else:
        raise AssertionError(protected["alg"])

verify((envelope["protected"] + "." + envelope["payload"]).encode())
try:
    verify((envelope["protected"] + "." + envelope["payload"] + "x").encode())
    raise AssertionError("a changed payload verified")
except InvalidSignature:
    pass
print(protected["alg"])
"#;

/// The image's one signature by `name`'s certificate, found through the `/v2/`
/// referrers API and checked; returns the algorithm it was made with.
async fn verify_signature(
    app: &TestApp,
    reg: &Registry,
    repo: &str,
    digest: &str,
    manifest: &str,
    name: &str,
) -> String {
    let r = reg
        .get(&format!(
            "/v2/{repo}/referrers/{digest}?artifactType=application/vnd.cncf.notary.signature"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let referrers = r.json()["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let cert_pem = std::fs::read(keys_dir(app).join(format!("{name}.crt"))).expect("cert");
    let cert_der = pem_der(&cert_pem);
    let thumbprint = Value::String(format!("[\"{}\"]", &sha256(&cert_der)["sha256:".len()..]));
    // One signature per profile: pick this profile's by its certificate's thumbprint.
    let signature = referrers
        .iter()
        .find(|d| d["annotations"]["io.cncf.notary.x509chain.thumbprint#S256"] == thumbprint)
        .unwrap_or_else(|| panic!("no signature by {name} among {referrers:?}"));
    assert_eq!(
        signature["artifactType"],
        "application/vnd.cncf.notary.signature"
    );
    assert_eq!(signature["mediaType"], OCI_MANIFEST);
    let sig_digest = signature["digest"].as_str().expect("digest");
    let r = reg
        .get_with(
            &format!("/v2/{repo}/manifests/{sig_digest}"),
            ("accept", OCI_MANIFEST),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sig = r.json();
    assert_eq!(sig["artifactType"], "application/vnd.cncf.notary.signature");
    assert_eq!(
        sig["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(sig["config"]["digest"], sha256(b"{}"));
    assert_eq!(sig["subject"]["digest"], digest);
    assert_eq!(sig["subject"]["size"], manifest.len());
    let layers = sig["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/jose+json");
    let envelope_digest = layers[0]["digest"].as_str().expect("envelope digest");
    let r = reg
        .get(&format!("/v2/{repo}/blobs/{envelope_digest}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sha256(&r.body), envelope_digest);

    let envelope = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(envelope.path(), &r.body).expect("write envelope");
    let mut python = Command::new("python3");
    python
        .arg("-c")
        .arg(VERIFY)
        .arg(envelope.path())
        .arg(keys_dir(app).join(format!("{name}.crt")))
        .args([digest, &manifest.len().to_string(), OCI_MANIFEST]);
    run(python)
}

/// The DER of a one-certificate PEM file.
fn pem_der(pem: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let text = String::from_utf8_lossy(pem);
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body")
}

/// Pushes a fresh image through PutImage under `tag`; returns (manifest, digest).
async fn push(app: &TestApp, repo: &str, tag: &str) -> (String, String) {
    let image = Image::new(Format::Oci, &[700]);
    let image = app.push_blobs(repo, image).await;
    let digest = app.put_ok(repo, &image.manifest, Some(tag)).await;
    (image.manifest, digest)
}

async fn pushes_are_signed_and_verify(app: TestApp) {
    let dir = keys_dir(&app);
    make_key(&dir, "release", "ec");
    make_key(&dir, "rsa_team", "rsa:2048");
    put_configuration(
        &app,
        vec![
            rule("release", &["signed/*"]),
            rule("rsa_team", &["*/both"]),
        ],
    )
    .await;
    for repo in ["signed/app", "signed/both", "plain/app"] {
        app.create_repo(repo).await;
    }
    let reg = Registry::login(&app).await;
    // Through PutImage, and through the registry API.
    let (app_manifest, app_digest) = push(&app, "signed/app", "v1").await;
    let (both_manifest, both_digest) = reg.push_image("signed/both", "v1").await;
    let (_, plain_digest) = push(&app, "plain/app", "v1").await;

    // Queued with the push, made by the job.
    assert_eq!(
        statuses(&app, "signed/app", by_tag("v1")).await,
        vec![status("release", SigningStatus::InProgress)]
    );
    let mut both = vec![
        status("release", SigningStatus::InProgress),
        status("rsa_team", SigningStatus::InProgress),
    ];
    both.sort();
    assert_eq!(
        statuses(&app, "signed/both", by_digest(&both_digest)).await,
        both
    );
    assert_eq!(
        sign_now(&app).await,
        SigningRun {
            signed: 3,
            failed: 0,
            retrying: 0
        }
    );
    assert_eq!(
        statuses(&app, "signed/app", by_digest(&app_digest)).await,
        vec![status("release", SigningStatus::Complete)]
    );
    let mut both = vec![
        status("release", SigningStatus::Complete),
        status("rsa_team", SigningStatus::Complete),
    ];
    both.sort();
    assert_eq!(statuses(&app, "signed/both", by_tag("v1")).await, both);

    let signed = [
        ("signed/app", &app_digest, &app_manifest, "release", "ES256"),
        (
            "signed/both",
            &both_digest,
            &both_manifest,
            "release",
            "ES256",
        ),
        (
            "signed/both",
            &both_digest,
            &both_manifest,
            "rsa_team",
            "PS256",
        ),
    ];
    for (repo, digest, manifest, name, alg) in signed {
        let made = verify_signature(&app, &reg, repo, digest, manifest, name).await;
        assert_eq!(made, alg, "{repo} by {name}");
    }

    // A repository no rule matches: nothing queued, nothing signed.
    assert!(statuses(&app, "plain/app", by_tag("v1")).await.is_empty());
    let r = reg
        .get(&format!("/v2/plain/app/referrers/{plain_digest}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["manifests"], Value::Array(Vec::new()));
    // The signatures were not themselves queued for signing; nothing is left to do.
    assert_eq!(sign_now(&app).await, SigningRun::default());

    // An image not in the repository.
    let unknown = app
        .ecr
        .describe_image_signing_status()
        .repository_name("signed/app")
        .image_id(by_tag("nope"))
        .send()
        .await;
    assert_code(unknown, "ImageNotFoundException", "an unknown tag");
    let unknown = app
        .ecr
        .describe_image_signing_status()
        .repository_name("signed/none")
        .image_id(by_tag("v1"))
        .send()
        .await;
    assert_code(
        unknown,
        "RepositoryNotFoundException",
        "an unknown repository",
    );
}

async fn key_problems_fail(app: TestApp) {
    let dir = keys_dir(&app);
    std::fs::write(dir.join("garbled.key"), "not a key").expect("write key");
    make_key(&dir, "other", "ec");
    std::fs::copy(dir.join("other.crt"), dir.join("garbled.crt")).expect("copy cert");
    // A certificate that is not the key's.
    make_key(&dir, "mismatch", "ec");
    std::fs::copy(dir.join("other.crt"), dir.join("mismatch.crt")).expect("copy cert");
    put_configuration(
        &app,
        vec![
            rule("absent", &[]),
            rule("garbled", &[]),
            rule("mismatch", &[]),
        ],
    )
    .await;
    app.create_repo("team/app").await;
    let (_, digest) = push(&app, "team/app", "v1").await;
    assert_eq!(
        sign_now(&app).await,
        SigningRun {
            signed: 0,
            failed: 3,
            retrying: 0
        }
    );
    let got = statuses(&app, "team/app", by_digest(&digest)).await;
    let failed = |name: &str, code: &str, reason: &str| {
        let found = got
            .iter()
            .find(|s| s.0 == profile(name))
            .unwrap_or_else(|| panic!("no status for {name}: {got:?}"));
        assert_eq!(found.1, "FAILED", "{name}");
        assert_eq!(found.2.as_deref(), Some(code), "{name}");
        let why = found.3.as_deref().unwrap_or_default();
        assert!(why.contains(reason), "{name}: {why}");
    };
    failed("absent", "SIGNING_PROFILE_NOT_FOUND", "absent.key");
    failed("garbled", "INVALID_SIGNING_MATERIAL", "garbled.key");
    failed("mismatch", "INVALID_SIGNING_MATERIAL", "mismatch.crt");
    assert_eq!(got.len(), 3);
    // No signature was stored.
    let reg = Registry::login(&app).await;
    let r = reg.get(&format!("/v2/team/app/referrers/{digest}")).await;
    assert_eq!(r.json()["manifests"], Value::Array(Vec::new()));
}

/// Every signing action through boto3 and the aws CLI, and the signature through
/// ListImageReferrers.
async fn boto3_and_the_aws_cli(app: TestApp) {
    make_key(&keys_dir(&app), "release", "ec");
    let arn = profile("release");
    let put = boto3(
        &app,
        &format!(
            r#"
rules = [{{"signingProfileArn": "{arn}",
          "repositoryFilters": [{{"filter": "cli/*", "filterType": "WILDCARD_MATCH"}}]}}]
ecr.put_signing_configuration(signingConfiguration={{"rules": rules}})
print(json.dumps(ecr.get_signing_configuration()["signingConfiguration"]))
"#
        ),
    )
    .expect("boto3 put and get");
    assert_eq!(
        put,
        serde_json::json!({"rules": [{"signingProfileArn": arn,
            "repositoryFilters": [{"filter": "cli/*", "filterType": "WILDCARD_MATCH"}]}]})
    );
    app.create_repo("cli/app").await;
    let (_, digest) = push(&app, "cli/app", "v1").await;
    let cli = |args: &[&str]| aws(&app, args).unwrap_or_else(|e| panic!("aws {args:?}: {e}"));
    let status = cli(&[
        "describe-image-signing-status",
        "--repository-name",
        "cli/app",
        "--image-id",
        "imageTag=v1",
    ]);
    assert_eq!(status["signingStatuses"][0]["status"], "IN_PROGRESS");
    assert_eq!(sign_now(&app).await.signed, 1);
    let script = format!(
        r#"
status = ecr.describe_image_signing_status(repositoryName="cli/app", imageId={{"imageDigest": "{digest}"}})
referrers = ecr.list_image_referrers(repositoryName="cli/app", subjectId={{"imageDigest": "{digest}"}},
    filter={{"artifactTypes": ["application/vnd.cncf.notary.signature"]}})["referrers"]
print(json.dumps({{"status": [s["status"] for s in status["signingStatuses"]],
                  "referrers": [r["artifactType"] for r in referrers]}}))
"#
    );
    assert_eq!(
        boto3(&app, &script).expect("boto3 status and referrers"),
        serde_json::json!({"status": ["COMPLETE"],
                           "referrers": ["application/vnd.cncf.notary.signature"]})
    );
    let referrers = cli(&[
        "list-image-referrers",
        "--repository-name",
        "cli/app",
        "--subject-id",
        &format!("imageDigest={digest}"),
    ]);
    assert_eq!(
        referrers["referrers"][0]["artifactType"],
        "application/vnd.cncf.notary.signature"
    );
    let got = cli(&["get-signing-configuration"]);
    assert_eq!(
        got["signingConfiguration"]["rules"][0]["signingProfileArn"],
        arn.as_str()
    );
    let deleted = cli(&["delete-signing-configuration"]);
    assert_eq!(
        deleted["signingConfiguration"]["rules"][0]["signingProfileArn"],
        arn.as_str()
    );
    let missing = aws(&app, &["get-signing-configuration"]);
    assert!(
        missing
            .as_ref()
            .is_err_and(|e| e.contains("SigningConfigurationNotFoundException")),
        "{missing:?}"
    );
}
