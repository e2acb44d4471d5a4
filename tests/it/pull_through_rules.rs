//! Pull through cache rules: their five actions through aws-sdk-ecr and the aws CLI,
//! the model's constraints and ECR's limits, credentials from the secrets file, the
//! rule a repository name falls under, and validation against real upstreams.

use aws_sdk_ecr::types::{PullThroughCacheRule, UpstreamRegistry};
use serde_json::json;

use crate::fixtures::assert_code;
use crate::fixtures::docker_registry::DockerRegistry;
use crate::helpers::{
    ecr_client_in, spawn_app, spawn_app_with, token_password, Backend, TestApp, ACCESS_KEY,
    ACCOUNT, REGION, SECRET_KEY,
};
use crate::process::free_port;

crate::both_stores!(with super::spawn:
    crud_round_trips,
    invalid_rules_are_refused,
    rules_per_registry_are_limited,
    describe_pages_and_filters_by_prefix,
    secrets_are_found_by_arn_or_name,
    the_rule_for_a_name_is_the_longest_prefix,
    rules_are_per_region,
    aws_cli_manages_rules,
    validate_contacts_the_upstream,
);

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.secrets_file = Some(c.store.data_dir.join("secrets.json"));
    })
    .await
}

/// Writes the app's secrets file.
fn secrets(app: &TestApp, entries: serde_json::Value) {
    std::fs::write(
        app.data_dir.path().join("secrets.json"),
        entries.to_string(),
    )
    .expect("write secrets file");
}

/// A secret's ARN in the test registry's account and region, with Secrets Manager's
/// random suffix.
fn secret_arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/{name}-Ab12Cd")
}

fn credential(username: &str, token: &str) -> serde_json::Value {
    json!({"username": username, "accessToken": token})
}

/// Creates a rule for `prefix` caching `url`, without a credential.
async fn anonymous(app: &TestApp, prefix: &str, url: &str) {
    app.ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix(prefix)
        .upstream_registry_url(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create rule {prefix}: {e:?}"));
}

async fn describe(app: &TestApp, prefix: &str) -> PullThroughCacheRule {
    let out = app
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes(prefix)
        .send()
        .await
        .expect("describe rules");
    let [one] = out.pull_through_cache_rules() else {
        panic!("one rule for {prefix}: {out:?}")
    };
    one.clone()
}

async fn prefixes(app: &TestApp) -> Vec<String> {
    let out = app
        .ecr
        .describe_pull_through_cache_rules()
        .send()
        .await
        .expect("describe rules");
    out.pull_through_cache_rules()
        .iter()
        .filter_map(|r| r.ecr_repository_prefix().map(str::to_owned))
        .collect()
}

async fn crud_round_trips(app: TestApp) {
    let hub = secret_arn("hub");
    secrets(&app, json!({ hub.clone(): credential("me", "token") }));
    let created = app
        .ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub/")
        .upstream_registry_url("registry-1.docker.io")
        .credential_arn(&hub)
        .upstream_repository_prefix("library")
        .send()
        .await
        .expect("create");
    // The prefix is answered without its slash; the registry is inferred from the URL.
    assert_eq!(created.ecr_repository_prefix(), Some("docker-hub"));
    assert_eq!(
        created.upstream_registry_url(),
        Some("registry-1.docker.io")
    );
    assert_eq!(
        created.upstream_registry(),
        Some(&UpstreamRegistry::DockerHub)
    );
    assert_eq!(created.registry_id(), Some(ACCOUNT));
    assert_eq!(created.credential_arn(), Some(hub.as_str()));
    assert_eq!(created.upstream_repository_prefix(), Some("library"));
    assert_eq!(created.custom_role_arn(), None);
    let created_at = created.created_at().expect("createdAt");

    let d = describe(&app, "docker-hub").await;
    assert_eq!(d.ecr_repository_prefix(), Some("docker-hub"));
    assert_eq!(d.upstream_registry_url(), Some("registry-1.docker.io"));
    assert_eq!(d.upstream_registry(), Some(&UpstreamRegistry::DockerHub));
    assert_eq!(d.credential_arn(), Some(hub.as_str()));
    assert_eq!(d.upstream_repository_prefix(), Some("library"));
    assert_eq!(d.created_at(), Some(created_at));
    assert_eq!(d.updated_at(), Some(created_at));

    // Without an upstream prefix it is ROOT; a URL with a scheme and a slash is kept
    // without the slash; an unknown host has no upstream registry.
    app.ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("local")
        .upstream_registry_url("http://127.0.0.1:1/")
        .send()
        .await
        .expect("create local");
    let local = describe(&app, "local/").await;
    assert_eq!(local.upstream_registry_url(), Some("http://127.0.0.1:1"));
    assert_eq!(local.upstream_registry(), None);
    assert_eq!(local.upstream_repository_prefix(), Some("ROOT"));
    // An upstream registry given for an unknown host is kept.
    app.ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("mirror")
        .upstream_registry_url("https://mirror.example.com")
        .upstream_registry(UpstreamRegistry::Quay)
        .send()
        .await
        .expect("create mirror");
    let mirror = describe(&app, "mirror").await;
    assert_eq!(mirror.upstream_registry(), Some(&UpstreamRegistry::Quay));

    // Update changes the credential and the role only.
    let other = secret_arn("other");
    secrets(
        &app,
        json!({ hub.clone(): credential("me", "token"), other.clone(): credential("you", "t2") }),
    );
    let role = format!("arn:aws:iam::{ACCOUNT}:role/ptc");
    let updated = app
        .ecr
        .update_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .credential_arn(&other)
        .custom_role_arn(&role)
        .send()
        .await
        .expect("update");
    assert_eq!(updated.ecr_repository_prefix(), Some("docker-hub"));
    assert_eq!(updated.registry_id(), Some(ACCOUNT));
    assert_eq!(updated.credential_arn(), Some(other.as_str()));
    assert_eq!(updated.custom_role_arn(), Some(role.as_str()));
    assert_eq!(updated.upstream_repository_prefix(), Some("library"));
    let updated_at = updated.updated_at().expect("updatedAt");
    assert!(updated_at.secs() >= created_at.secs());
    let d = describe(&app, "docker-hub").await;
    assert_eq!(d.credential_arn(), Some(other.as_str()));
    assert_eq!(d.custom_role_arn(), Some(role.as_str()));
    assert_eq!(d.updated_at(), Some(updated_at));
    assert_eq!(d.created_at(), Some(created_at));
    assert_eq!(d.upstream_registry_url(), Some("registry-1.docker.io"));
    // Given only a role, the credential stays.
    let role_only = app
        .ecr
        .update_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .custom_role_arn(format!("{role}-2"))
        .send()
        .await
        .expect("update role");
    assert_eq!(role_only.credential_arn(), Some(other.as_str()));

    // A second rule for the same prefix, either spelling.
    for prefix in ["docker-hub", "docker-hub/"] {
        let again = app
            .ecr
            .create_pull_through_cache_rule()
            .ecr_repository_prefix(prefix)
            .upstream_registry_url("quay.io")
            .send()
            .await;
        assert_code(again, "PullThroughCacheRuleAlreadyExistsException", prefix);
    }

    // Delete answers the deleted rule; then it is gone.
    let deleted = app
        .ecr
        .delete_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub/")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.ecr_repository_prefix(), Some("docker-hub"));
    assert_eq!(
        deleted.upstream_registry_url(),
        Some("registry-1.docker.io")
    );
    assert_eq!(deleted.credential_arn(), Some(other.as_str()));
    assert_eq!(deleted.created_at(), Some(created_at));
    assert_eq!(deleted.registry_id(), Some(ACCOUNT));
    assert_eq!(prefixes(&app).await, ["local", "mirror"]);
    let gone = app
        .ecr
        .delete_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .send()
        .await;
    assert_code(
        gone,
        "PullThroughCacheRuleNotFoundException",
        "delete again",
    );
    let gone = app
        .ecr
        .update_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .credential_arn(&hub)
        .send()
        .await;
    assert_code(
        gone,
        "PullThroughCacheRuleNotFoundException",
        "update deleted",
    );
    let gone = app
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes("local")
        .ecr_repository_prefixes("docker-hub")
        .send()
        .await;
    assert_code(
        gone,
        "PullThroughCacheRuleNotFoundException",
        "describe deleted",
    );

    // ROOT is a prefix of its own.
    anonymous(&app, "ROOT", "public.ecr.aws").await;
    let root = describe(&app, "ROOT").await;
    assert_eq!(root.upstream_registry(), Some(&UpstreamRegistry::EcrPublic));
    assert_eq!(prefixes(&app).await, ["ROOT", "local", "mirror"]);
}

async fn invalid_rules_are_refused(app: TestApp) {
    let hub = secret_arn("hub");
    secrets(&app, json!({ hub.clone(): credential("me", "token") }));
    let base = |prefix: &str| {
        app.ecr
            .create_pull_through_cache_rule()
            .ecr_repository_prefix(prefix)
            .upstream_registry_url("quay.io")
    };
    let cases = [
        ("prefix too short", base("a")),
        ("prefix too long", base(&"a".repeat(31))),
        ("uppercase prefix", base("Quay")),
        ("prefix with a double slash", base("a//b")),
        ("prefix starting with a separator", base("-quay")),
        ("a slash alone", base("/")),
        (
            "upstream prefix pattern",
            base("quay").upstream_repository_prefix("Up"),
        ),
        (
            "upstream prefix under ROOT",
            base("ROOT").upstream_repository_prefix("library"),
        ),
        (
            "upstream registry not in the enum",
            base("quay").upstream_registry(UpstreamRegistry::from("harbor")),
        ),
        (
            "upstream registry not the URL's",
            base("quay").upstream_registry(UpstreamRegistry::DockerHub),
        ),
        (
            "credential ARN pattern",
            base("quay").credential_arn(format!(
                "arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:other/hub-Ab12Cd"
            )),
        ),
        (
            "URL with a path",
            base("quay").upstream_registry_url("https://quay.io/v2"),
        ),
        (
            "URL with a scheme berth does not speak",
            base("quay").upstream_registry_url("ftp://quay.io"),
        ),
        (
            "URL with a bad port",
            base("quay").upstream_registry_url("quay.io:99999"),
        ),
        ("empty URL", base("quay").upstream_registry_url("")),
        (
            "Docker Hub without a credential",
            base("hub").upstream_registry_url("registry-1.docker.io"),
        ),
        (
            "custom role too long",
            base("quay").custom_role_arn("r".repeat(2049)),
        ),
    ];
    for (what, request) in cases {
        assert_code(request.send().await, "InvalidParameterException", what);
    }
    assert!(prefixes(&app).await.is_empty());

    // The required members, and the upstream prefix under ROOT when it is ROOT.
    app.call_json(
        "CreatePullThroughCacheRule",
        json!({"ecrRepositoryPrefix": "quay"}),
    )
    .await
    .assert_error_naming("InvalidParameterException", "upstreamRegistryUrl");
    app.call_json(
        "CreatePullThroughCacheRule",
        json!({"upstreamRegistryUrl": "quay.io"}),
    )
    .await
    .assert_error_naming("InvalidParameterException", "ecrRepositoryPrefix");
    for action in [
        "DeletePullThroughCacheRule",
        "UpdatePullThroughCacheRule",
        "ValidatePullThroughCacheRule",
    ] {
        app.call_json(action, json!({}))
            .await
            .assert_error_naming("InvalidParameterException", "ecrRepositoryPrefix");
    }
    app.call_json(
        "DescribePullThroughCacheRules",
        json!({"ecrRepositoryPrefixes": []}),
    )
    .await
    .assert_error_naming("InvalidParameterException", "ecrRepositoryPrefixes");
    app.call_json("DescribePullThroughCacheRules", json!({"maxResults": 1001}))
        .await
        .assert_error_naming("InvalidParameterException", "maxResults");
    app.ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("ROOT")
        .upstream_registry_url("quay.io")
        .upstream_repository_prefix("ROOT")
        .send()
        .await
        .expect("ROOT under ROOT");
    // Docker Hub with its credential, named by its registry and a bare host.
    app.ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("hub")
        .upstream_registry_url("registry-1.docker.io")
        .upstream_registry(UpstreamRegistry::DockerHub)
        .credential_arn(&hub)
        .send()
        .await
        .expect("Docker Hub with a credential");
    let bad_update = app
        .ecr
        .update_pull_through_cache_rule()
        .ecr_repository_prefix("hub")
        .credential_arn("arn:aws:secretsmanager:x")
        .send()
        .await;
    assert_code(
        bad_update,
        "InvalidParameterException",
        "update's ARN pattern",
    );
    assert_eq!(prefixes(&app).await, ["ROOT", "hub"]);
}

async fn rules_per_registry_are_limited(app: TestApp) {
    for i in 0..50 {
        anonymous(&app, &format!("r{i:02}"), "quay.io").await;
    }
    let over = app
        .ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("r50")
        .upstream_registry_url("quay.io")
        .send()
        .await;
    assert_code(over, "LimitExceededException", "51st rule");
    app.ecr
        .delete_pull_through_cache_rule()
        .ecr_repository_prefix("r00")
        .send()
        .await
        .expect("delete");
    anonymous(&app, "r50", "quay.io").await;
    assert_eq!(prefixes(&app).await.len(), 50);
}

async fn describe_pages_and_filters_by_prefix(app: TestApp) {
    for p in ["qa", "b/c", "ROOT", "bb", "z-z", "qa/b"] {
        anonymous(&app, p, "quay.io").await;
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let out = app
            .ecr
            .describe_pull_through_cache_rules()
            .max_results(4)
            .set_next_token(token)
            .send()
            .await
            .expect("page");
        assert!(out.pull_through_cache_rules().len() <= 4);
        seen.extend(
            out.pull_through_cache_rules()
                .iter()
                .filter_map(|r| r.ecr_repository_prefix().map(str::to_owned)),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["ROOT", "b/c", "bb", "qa", "qa/b", "z-z"]);

    let filtered = app
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes("b/c/")
        .ecr_repository_prefixes("ROOT")
        .ecr_repository_prefixes("b/c")
        .send()
        .await
        .expect("filtered");
    let got: Vec<_> = filtered
        .pull_through_cache_rules()
        .iter()
        .filter_map(|r| r.ecr_repository_prefix())
        .collect();
    assert_eq!(got, ["ROOT", "b/c"]);

    // A named prefix without a rule fails the call.
    let missing = app
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes("qa")
        .ecr_repository_prefixes("missing")
        .send()
        .await;
    assert_code(
        missing,
        "PullThroughCacheRuleNotFoundException",
        "named missing",
    );

    // A filtered listing's token resumes only that listing.
    let first = app
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes("qa")
        .ecr_repository_prefixes("bb")
        .max_results(1)
        .send()
        .await
        .expect("first page");
    let [only] = first.pull_through_cache_rules() else {
        panic!("one rule: {first:?}")
    };
    assert_eq!(only.ecr_repository_prefix(), Some("bb"));
    let token = first.next_token().expect("more").to_owned();
    let second = app
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes("qa")
        .ecr_repository_prefixes("bb")
        .next_token(&token)
        .send()
        .await
        .expect("second page");
    let got: Vec<_> = second
        .pull_through_cache_rules()
        .iter()
        .filter_map(|r| r.ecr_repository_prefix())
        .collect();
    assert_eq!(got, ["qa"]);
    assert_eq!(second.next_token(), None);
    let foreign = app
        .ecr
        .describe_pull_through_cache_rules()
        .next_token(&token)
        .send()
        .await;
    assert_code(
        foreign,
        "InvalidParameterException",
        "token of another listing",
    );
}

async fn secrets_are_found_by_arn_or_name(app: TestApp) {
    let create = |prefix: &str, arn: &str| {
        app.ecr
            .create_pull_through_cache_rule()
            .ecr_repository_prefix(prefix)
            .upstream_registry_url("ghcr.io")
            .credential_arn(arn)
    };
    // No file yet: no secret.
    let r = create("none", &secret_arn("gh")).send().await;
    assert_code(r, "SecretNotFoundException", "without a secrets file");

    let by_arn = secret_arn("by-arn");
    secrets(
        &app,
        json!({
            by_arn.clone(): credential("u", "t"),
            "ecr-pullthroughcache/by-name": credential("u", "t"),
            "ecr-pullthroughcache/full-Ab12Cd": credential("u", "t"),
            "ecr-pullthroughcache/broken": {"username": "u"},
            "ecr-pullthroughcache/not-an-object": "u:t",
            "ecr-pullthroughcache/token-not-a-string": {"username": "u", "accessToken": 7},
        }),
    );
    create("arn", &by_arn).send().await.expect("by ARN");
    // By the name without Secrets Manager's suffix, by the full name, and by a name
    // without any suffix.
    create("name", &secret_arn("by-name"))
        .send()
        .await
        .expect("by name without suffix");
    create("full", &secret_arn("full"))
        .send()
        .await
        .expect("by full name");
    create(
        "bare",
        &format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/by-name"),
    )
    .send()
    .await
    .expect("ARN without suffix");
    let r = create("missing", &secret_arn("missing")).send().await;
    assert_code(r, "SecretNotFoundException", "missing secret");
    for name in ["broken", "not-an-object", "token-not-a-string"] {
        let r = create("bad", &secret_arn(name)).send().await;
        assert_code(r, "UnableToDecryptSecretValueException", name);
    }
    let r = app
        .ecr
        .update_pull_through_cache_rule()
        .ecr_repository_prefix("arn")
        .credential_arn(secret_arn("missing"))
        .send()
        .await;
    assert_code(r, "SecretNotFoundException", "update to a missing secret");
    assert_eq!(
        describe(&app, "arn").await.credential_arn(),
        Some(by_arn.as_str())
    );

    // The file is read when needed: an edit applies without a restart.
    secrets(
        &app,
        json!({ "ecr-pullthroughcache/missing": credential("u", "t") }),
    );
    create("missing", &secret_arn("missing"))
        .send()
        .await
        .expect("added to the file");
    std::fs::write(app.data_dir.path().join("secrets.json"), "not json").expect("write");
    let r = create("unreadable", &secret_arn("missing")).send().await;
    assert_code(r, "UnableToAccessSecretException", "file not JSON");
    assert_eq!(
        prefixes(&app).await,
        ["arn", "bare", "full", "missing", "name"]
    );
}

async fn the_rule_for_a_name_is_the_longest_prefix(app: TestApp) {
    let service = app.service().await;
    let registry = crate::fixtures::caller().registry;
    let rule_for = |name: &str| {
        let service = service.clone();
        let registry = registry.clone();
        let name = berth::domain::RepositoryName::parse(name).expect("name");
        async move {
            service
                .pull_through_rule(&registry, &name)
                .await
                .expect("rule lookup")
                .map(|(rule, upstream)| (rule.prefix.as_str().to_owned(), upstream))
        }
    };
    assert_eq!(rule_for("hub/alpine").await, None);
    anonymous(&app, "hub", "quay.io").await;
    app.ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("hub/team")
        .upstream_registry_url("quay.io")
        .upstream_repository_prefix("org/mirror")
        .send()
        .await
        .expect("nested rule");
    let pair = |p: &str, u: &str| Some((p.to_owned(), u.to_owned()));
    assert_eq!(rule_for("hub/alpine").await, pair("hub", "alpine"));
    assert_eq!(
        rule_for("hub/team/app").await,
        pair("hub/team", "org/mirror/app")
    );
    assert_eq!(rule_for("hub/team").await, pair("hub", "team"));
    assert_eq!(rule_for("hubble/app").await, None);
    anonymous(&app, "ROOT", "public.ecr.aws").await;
    assert_eq!(rule_for("hubble/app").await, pair("ROOT", "hubble/app"));
    assert_eq!(rule_for("hub").await, pair("ROOT", "hub"));
    assert_eq!(rule_for("hub/x/y").await, pair("hub", "x/y"));
}

async fn rules_are_per_region(app: TestApp) {
    anonymous(&app, "ROOT", "quay.io").await;
    let elsewhere = ecr_client_in(&app.url, ACCESS_KEY, SECRET_KEY, "us-west-2");
    let none = elsewhere
        .describe_pull_through_cache_rules()
        .send()
        .await
        .expect("describe in us-west-2");
    assert!(none.pull_through_cache_rules().is_empty());
    let gone = elsewhere
        .delete_pull_through_cache_rule()
        .ecr_repository_prefix("ROOT")
        .send()
        .await;
    assert_code(
        gone,
        "PullThroughCacheRuleNotFoundException",
        "delete in us-west-2",
    );
    elsewhere
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("ROOT")
        .upstream_registry_url("ghcr.io")
        .send()
        .await
        .expect("the same prefix in us-west-2");
    let here = describe(&app, "ROOT").await;
    assert_eq!(here.upstream_registry_url(), Some("quay.io"));
}

async fn aws_cli_manages_rules(app: TestApp) {
    let arn = secret_arn("hub");
    secrets(
        &app,
        json!({ "ecr-pullthroughcache/hub": credential("me", "token") }),
    );
    let aws = |args: &[&str]| crate::cli::aws(&app, args);
    let created = aws(&[
        "create-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "docker-hub",
        "--upstream-registry-url",
        "registry-1.docker.io",
        "--credential-arn",
        &arn,
    ])
    .expect("create");
    assert_eq!(created["ecrRepositoryPrefix"], "docker-hub");
    assert_eq!(created["upstreamRegistry"], "docker-hub");
    assert_eq!(created["credentialArn"], arn.as_str());
    let described = aws(&["describe-pull-through-cache-rules"]).expect("describe");
    let rules = described["pullThroughCacheRules"]
        .as_array()
        .expect("rules");
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["upstreamRegistryUrl"], "registry-1.docker.io");
    assert_eq!(rules[0]["upstreamRepositoryPrefix"], "ROOT");
    let err = aws(&[
        "describe-pull-through-cache-rules",
        "--ecr-repository-prefixes",
        "quay",
    ])
    .expect_err("missing prefix");
    assert!(
        err.contains("PullThroughCacheRuleNotFoundException"),
        "{err}"
    );
    let err = aws(&[
        "create-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "hub2",
        "--upstream-registry-url",
        "registry-1.docker.io",
    ])
    .expect_err("Docker Hub without a credential");
    assert!(err.contains("InvalidParameterException"), "{err}");
    let down = format!("http://127.0.0.1:{}", free_port());
    // aws CLI v1 fetches an `http://` parameter value itself: the URL goes as JSON.
    let input = json!({"ecrRepositoryPrefix": "down", "upstreamRegistryUrl": down});
    aws(&[
        "create-pull-through-cache-rule",
        "--cli-input-json",
        &input.to_string(),
    ])
    .expect("create down");
    let validated = aws(&[
        "validate-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "down",
    ])
    .expect("validate");
    assert_eq!(validated["isValid"], false);
    assert_eq!(validated["upstreamRegistryUrl"], down.as_str());
    assert!(validated["failure"]
        .as_str()
        .is_some_and(|f| f.contains("unreachable")));
    aws(&[
        "delete-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "down",
    ])
    .expect("delete down");
    let deleted = aws(&[
        "delete-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "docker-hub",
    ])
    .expect("delete");
    assert_eq!(deleted["credentialArn"], arn.as_str());
    let described = aws(&["describe-pull-through-cache-rules"]).expect("describe");
    assert_eq!(described["pullThroughCacheRules"], json!([]));
}

/// The password a second berth's GetAuthorizationToken hands out: a credential its
/// `/v2/` takes.
async fn registry_password(upstream: &TestApp) -> String {
    let out = upstream
        .ecr
        .get_authorization_token()
        .send()
        .await
        .expect("token");
    let data = &out.authorization_data()[0];
    token_password(data.authorization_token().expect("token"))
}

/// ValidatePullThroughCacheRule's `isValid` and `failure` for `prefix`.
async fn validate(app: &TestApp, prefix: &str) -> (bool, Option<String>) {
    let out = app
        .ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix(prefix)
        .send()
        .await
        .unwrap_or_else(|e| panic!("validate {prefix}: {e:?}"));
    assert_eq!(out.ecr_repository_prefix(), Some(prefix));
    assert_eq!(out.registry_id(), Some(ACCOUNT));
    (out.is_valid(), out.failure().map(str::to_owned))
}

async fn validate_contacts_the_upstream(app: TestApp) {
    let distribution = DockerRegistry::with_password("puller", "s3cret").await;
    let open = DockerRegistry::anonymous().await;
    let upstream_berth = spawn_app(Backend::Sqlite).await;
    let (good, wrong, berth) = (secret_arn("good"), secret_arn("wrong"), secret_arn("berth"));
    secrets(
        &app,
        json!({
            "ecr-pullthroughcache/good": credential("puller", "s3cret"),
            "ecr-pullthroughcache/wrong": credential("puller", "not-it"),
            "ecr-pullthroughcache/berth": credential("AWS", &registry_password(&upstream_berth).await),
        }),
    );
    let rule = |prefix: &str, url: &str, arn: Option<&str>| {
        app.ecr
            .create_pull_through_cache_rule()
            .ecr_repository_prefix(prefix)
            .upstream_registry_url(url)
            .set_credential_arn(arn.map(str::to_owned))
            .send()
    };
    rule("good", &distribution.url, Some(&good))
        .await
        .expect("good");
    rule("wrong", &distribution.url, Some(&wrong))
        .await
        .expect("wrong");
    rule("anonymous", &distribution.url, None)
        .await
        .expect("anonymous");
    rule("open", &open.url, None).await.expect("open");
    rule("berth", &upstream_berth.url, Some(&berth))
        .await
        .expect("berth");
    let down = format!("http://127.0.0.1:{}", free_port());
    rule("down", &down, None).await.expect("down");

    // The rule's members come back with the verdict.
    let out = app
        .ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("good/")
        .send()
        .await
        .expect("validate good");
    assert!(out.is_valid(), "{out:?}");
    assert_eq!(out.failure(), None);
    assert_eq!(out.ecr_repository_prefix(), Some("good"));
    assert_eq!(out.upstream_registry_url(), Some(distribution.url.as_str()));
    assert_eq!(out.credential_arn(), Some(good.as_str()));
    assert_eq!(out.upstream_repository_prefix(), Some("ROOT"));

    assert_eq!(validate(&app, "open").await, (true, None));
    assert_eq!(validate(&app, "berth").await, (true, None));
    for (prefix, says) in [
        ("wrong", "refused the credentials"),
        ("anonymous", "refused the credentials"),
        ("down", "unreachable"),
    ] {
        let (valid, failure) = validate(&app, prefix).await;
        assert!(!valid, "{prefix}");
        let failure = failure.unwrap_or_default();
        assert!(failure.contains(says), "{prefix}: {failure}");
    }

    // The secret is read when validating: gone from the file, the rule fails.
    secrets(
        &app,
        json!({ "ecr-pullthroughcache/wrong": credential("puller", "s3cret") }),
    );
    assert_eq!(validate(&app, "wrong").await, (true, None));
    let (valid, failure) = validate(&app, "good").await;
    assert!(!valid);
    assert!(
        failure.as_deref().is_some_and(|f| f.contains(&good)),
        "{failure:?}"
    );

    let r = app
        .ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("missing")
        .send()
        .await;
    assert_code(
        r,
        "PullThroughCacheRuleNotFoundException",
        "validate missing",
    );
}
