//! Two accounts in two regions sharing one berth as they would share AWS: each
//! (account, region) its own registry, through the ECR API, the registry API and
//! real clients; and resource policies deciding every cross-account request, and
//! every explicit Deny, on each face.

use std::process::Command;

use aws_sdk_ecr::error::ProvideErrorMetadata;
use reqwest::Method;
use serde_json::{json, Value};

use crate::engines::docker::Docker;
use crate::engines::{files, unique};
use crate::fixtures::world::{World, ALICE, ALICE_ARN, BOB, CI, CI_ARN, OPS, OTHER, WEST};
use crate::fixtures::{assert_code, by_tag, put_image, Format, Image, OCI_MANIFEST};
use crate::helpers::{
    ecr_client_in, ecr_public_client, sha256, spawn_app_with, token_password, Backend, ACCESS_KEY,
    ACCOUNT, REGION, SECRET_KEY,
};
use crate::oci_client::{basic, Registry};
use crate::registry_clients::skopeo;
use crate::two_accounts;

async fn world(backend: Backend) -> World {
    World::new(backend).await
}

/// A policy of one statement.
fn policy(effect: &str, principal: Value, actions: &[&str]) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "s", "Effect": effect, "Principal": principal, "Action": actions}]})
}

const PULL: [&str; 3] = [
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
];
const PUSH: [&str; 5] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
];

two_accounts!(
    each_account_and_region_is_its_own_registry,
    the_registry_face_serves_the_registry_its_token_or_host_names,
    repository_policies_decide_cross_account_and_explicit_denies,
    cross_account_pulls_and_pushes_through_v2_and_skopeo,
    docker_follows_the_token_and_the_policy,
    registry_policies_in_each_scope,
    account_settings_and_blob_mounting,
    lockout_guard_and_public_repository_policies,
    pull_time_exclusions,
    authorization_tokens_per_registry,
);

/// Creates `name` with `client`, in its own registry; returns what it answered.
async fn create(client: &aws_sdk_ecr::Client, name: &str) -> aws_sdk_ecr::types::Repository {
    client
        .create_repository()
        .repository_name(name)
        .send()
        .await
        .expect("create repository")
        .repository()
        .cloned()
        .expect("repository")
}

async fn names(client: &aws_sdk_ecr::Client, registry: Option<&str>) -> Vec<String> {
    client
        .describe_repositories()
        .set_registry_id(registry.map(str::to_owned))
        .send()
        .await
        .expect("describe repositories")
        .repositories()
        .iter()
        .map(|r| r.repository_name().unwrap_or_default().to_owned())
        .collect()
}

async fn each_account_and_region_is_its_own_registry(w: World) {
    let a = &w.app.ecr;
    let east = create(a, "app").await;
    let west = create(&w.a_west, "app").await;
    let other = create(&w.bob, "app").await;
    assert_eq!(
        east.repository_arn(),
        Some(format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/app").as_str())
    );
    assert_eq!(
        west.repository_arn(),
        Some(format!("arn:aws:ecr:{WEST}:{ACCOUNT}:repository/app").as_str())
    );
    assert_eq!(other.registry_id(), Some(OTHER));
    assert_eq!(
        other.repository_arn(),
        Some(format!("arn:aws:ecr:{REGION}:{OTHER}:repository/app").as_str())
    );
    let r = a.create_repository().repository_name("app").send().await;
    assert_code(
        r,
        "RepositoryAlreadyExistsException",
        "same region, same account",
    );
    let ops = ecr_client_in(&w.app.url, OPS.0, OPS.1, REGION);
    let r = ops.create_repository().repository_name("app").send().await;
    assert_code(
        r,
        "RepositoryAlreadyExistsException",
        "a two-column key is the account's",
    );

    // An image in one registry is in no other.
    w.app.create_repo("only-east").await;
    let (_, digest) = w.app.push_image("app", Some("v1"), 1).await;
    assert_eq!(names(&w.a_west, None).await, ["app"]);
    assert_eq!(names(&w.bob, None).await, ["app"]);
    for client in [&w.a_west, &w.bob] {
        let listed = client
            .list_images()
            .repository_name("app")
            .send()
            .await
            .expect("list");
        assert!(listed.image_ids().is_empty(), "{listed:?}");
        let r = client
            .batch_check_layer_availability()
            .repository_name("app")
            .layer_digests(&digest)
            .send()
            .await
            .expect("layers");
        assert_eq!(r.failures().len(), 1, "layers are regional too: {r:?}");
    }
    // Deleting one registry's repository leaves its namesakes.
    w.a_west
        .delete_repository()
        .repository_name("app")
        .send()
        .await
        .expect("delete west");
    let images = a
        .describe_images()
        .repository_name("app")
        .send()
        .await
        .expect("east untouched");
    assert_eq!(images.image_details().len(), 1);
}

async fn the_registry_face_serves_the_registry_its_token_or_host_names(w: World) {
    let image = Image::new(Format::Oci, &[512]);
    for client in [&w.app.ecr, &w.a_west] {
        client
            .create_repository()
            .repository_name("web")
            .send()
            .await
            .expect("create");
    }
    // A token minted in us-west-2 pushes to us-west-2's registry.
    let west = w.registry_as(&w.a_west, None).await;
    for blob in image.blobs() {
        west.post_blob("web", &sha256(blob), blob)
            .await
            .assert_status(201);
    }
    west.put_manifest("web", "v1", OCI_MANIFEST, image.manifest.as_bytes())
        .await
        .assert_status(201);
    let in_west = w
        .a_west
        .describe_images()
        .repository_name("web")
        .send()
        .await
        .expect("west");
    assert_eq!(in_west.image_details().len(), 1);
    let in_east = w
        .app
        .ecr
        .describe_images()
        .repository_name("web")
        .send()
        .await
        .expect("east");
    assert!(in_east.image_details().is_empty());

    // The host can name the registry: the same password, another account's host in
    // the same region, is a cross-account request (refused without a policy); another
    // region's host is refused outright.
    let host = |account: &str, region: &str| format!("{account}.dkr.ecr.{region}.localhost");
    let get = |h: String| {
        let west = &west;
        async move {
            west.send(
                west.request(Method::GET, "/v2/web/tags/list")
                    .header("host", h),
            )
            .await
        }
    };
    let own = get(host(ACCOUNT, WEST)).await;
    own.assert_status(200);
    assert_eq!(own.json()["tags"], json!(["v1"]));
    get(host(OTHER, WEST)).await.assert_error(403, "DENIED");
    get(host(ACCOUNT, REGION))
        .await
        .assert_error(401, "UNAUTHORIZED");

    // Without credentials nothing is served; repository URIs and proxy endpoints name
    // the same address for every registry, and the password says which.
    Registry::with_auth(&w.app, None)
        .get("/v2/web/tags/list")
        .await
        .assert_error(401, "UNAUTHORIZED");
    let token = w
        .a_west
        .get_authorization_token()
        .send()
        .await
        .expect("token");
    assert_eq!(
        token.authorization_data()[0].proxy_endpoint(),
        Some(w.app.url.as_str())
    );
}

async fn repository_policies_decide_cross_account_and_explicit_denies(w: World) {
    w.app.create_repo("shared").await;
    w.app.push_image("shared", Some("v1"), 1).await;
    let describe = |c: &aws_sdk_ecr::Client| {
        c.describe_images()
            .registry_id(ACCOUNT)
            .repository_name("shared")
            .send()
    };
    // Another account may do nothing without a policy; the refusal names who, what
    // and which resource, as AWS words it.
    let err = assert_code(describe(&w.bob).await, "AccessDeniedException", "no policy");
    let arn = format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/shared");
    assert_eq!(
        aws_sdk_ecr::error::ProvideErrorMetadata::message(&err),
        Some(
            format!(
                "User: arn:aws:iam::{OTHER}:root is not authorized to perform: ecr:DescribeImages \
                 on resource: {arn} because no resource-based policy allows the ecr:DescribeImages action"
            )
            .as_str()
        )
    );
    // A repository that does not exist is not revealed to it either.
    let r = w
        .bob
        .describe_images()
        .registry_id(ACCOUNT)
        .repository_name("absent")
        .send()
        .await;
    assert_code(r, "AccessDeniedException", "absent repository");

    // The policy grants the other account pulls (by account id) and listing.
    let mut p = policy("Allow", json!({"AWS": OTHER}), &PULL);
    p["Statement"][0]["Action"]
        .as_array_mut()
        .expect("actions")
        .push(json!("ecr:Describe*"));
    w.set_policy("shared", p).await;
    describe(&w.bob).await.expect("bob may describe");
    describe(&w.ci)
        .await
        .expect("and every principal of the account");
    let got = w
        .bob
        .batch_get_image()
        .registry_id(ACCOUNT)
        .repository_name("shared")
        .image_ids(by_tag("v1"))
        .send()
        .await
        .expect("bob may pull");
    assert_eq!(got.images().len(), 1);
    let manifest = got.images()[0]
        .image_manifest()
        .expect("manifest")
        .to_owned();
    let r = put_image(&w.bob, "shared", &manifest, Some("bob")).await;
    assert!(r.is_err(), "bob's own registry has no `shared`");
    let r = w
        .bob
        .put_image()
        .registry_id(ACCOUNT)
        .repository_name("shared")
        .image_manifest(&manifest)
        .image_tag("bob")
        .send()
        .await;
    assert_code(r, "AccessDeniedException", "pushes are not granted");
    // Nor is the other region's namesake covered by this repository's policy.
    let r = w
        .bob_west
        .describe_images()
        .registry_id(ACCOUNT)
        .repository_name("shared")
        .send()
        .await;
    assert_code(r, "AccessDeniedException", "another region");

    // A Deny wins over the Allow, for one principal only; and binds the account's own
    // principals, who need no Allow.
    let p = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{OTHER}:root")}, "Action": "ecr:*"},
        {"Effect": "Deny", "Principal": {"AWS": [CI_ARN, ALICE_ARN]}, "Action": ["ecr:BatchGetImage", "ecr:PutImage"]},
        {"Effect": "Deny", "NotPrincipal": {"AWS": [ACCOUNT, OTHER]}, "Action": "ecr:*"}
    ]});
    w.set_policy("shared", p).await;
    let pull = |c: &aws_sdk_ecr::Client| {
        c.batch_get_image()
            .registry_id(ACCOUNT)
            .repository_name("shared")
            .image_ids(by_tag("v1"))
            .send()
    };
    pull(&w.bob).await.expect("bob is allowed everything");
    let err = assert_code(pull(&w.ci).await, "AccessDeniedException", "ci is denied");
    assert!(
        aws_sdk_ecr::error::ProvideErrorMetadata::message(&err).is_some_and(|m| m.contains(CI_ARN)
            && m.ends_with("with an explicit deny in a resource-based policy")),
        "{err:?}"
    );
    assert_code(
        pull(&w.alice).await,
        "AccessDeniedException",
        "alice, own account, denied",
    );
    pull(&w.app.ecr)
        .await
        .expect("the account's root is not denied");
    w.alice
        .describe_images()
        .repository_name("shared")
        .send()
        .await
        .expect("alice may do what is not denied");

    // The aws CLI sees the same refusal.
    let out = tokio::task::spawn_blocking({
        let url = w.app.url.clone();
        move || {
            Command::new("aws")
                .args([
                    "ecr",
                    "put-image",
                    "--registry-id",
                    ACCOUNT,
                    "--repository-name",
                    "shared",
                ])
                .args(["--image-manifest", "{}", "--image-tag", "x"])
                .args(["--endpoint-url", &url, "--output", "json"])
                .env("AWS_ACCESS_KEY_ID", CI.0)
                .env("AWS_SECRET_ACCESS_KEY", CI.1)
                .env("AWS_DEFAULT_REGION", REGION)
                .env("AWS_CONFIG_FILE", "/dev/null")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
                .env("AWS_MAX_ATTEMPTS", "1")
                .output()
                .expect("the aws CLI must be installed")
        }
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("AccessDeniedException"), "{stderr}");

    // Policies that name unknown condition keys are refused with the reason.
    let bad = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
        "Condition": {"StringEquals": {"aws:Weather": "sunny"}}}]});
    let r = w
        .app
        .ecr
        .set_repository_policy()
        .repository_name("shared")
        .policy_text(bad.to_string())
        .send()
        .await;
    let err = assert_code(r, "InvalidParameterException", "unknown key");
    assert!(format!("{err:?}").contains("aws:Weather"), "{err:?}");

    // Conditions: tags on the repository decide.
    let tagged = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": OTHER}, "Action": "ecr:DescribeImages",
        "Condition": {"StringEquals": {"aws:ResourceTag/share": "yes"}}}]});
    w.set_policy("shared", tagged).await;
    assert_code(describe(&w.bob).await, "AccessDeniedException", "untagged");
    w.app
        .ecr
        .tag_resource()
        .resource_arn(&arn)
        .tags(
            aws_sdk_ecr::types::Tag::builder()
                .key("share")
                .value("yes")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("tag");
    describe(&w.bob).await.expect("tagged: allowed");
}

async fn cross_account_pulls_and_pushes_through_v2_and_skopeo(w: World) {
    w.app.create_repo("team/app").await;
    let image = Image::new(Format::Oci, &[2048]);
    let image = w.app.push_blobs("team/app", image).await;
    w.app.put_ok("team/app", &image.manifest, Some("v1")).await;
    let layer = sha256(&image.layers[0]);

    // Bob's password for the first account's registry: the registry API serves that
    // registry, as bob.
    let bob = w.registry_as(&w.bob, Some(ACCOUNT)).await;
    bob.get("/v2/team/app/manifests/v1")
        .await
        .assert_error(403, "DENIED");
    w.set_policy(
        "team/app",
        policy(
            "Allow",
            json!({"AWS": format!("arn:aws:iam::{OTHER}:root")}),
            &PULL[..2],
        ),
    )
    .await;
    let got = bob.get("/v2/team/app/manifests/v1").await;
    got.assert_status(200);
    assert_eq!(got.text(), image.manifest);
    let blob = bob.get(&format!("/v2/team/app/blobs/{layer}")).await;
    blob.assert_status(200);
    // Pulls do not push.
    bob.put_manifest("team/app", "bob", OCI_MANIFEST, image.manifest.as_bytes())
        .await
        .assert_error(403, "DENIED");

    // skopeo with the other account's token: a pull works exactly as the policy
    // allows, and a push once the policy grants the push actions too.
    let dir = tempfile::tempdir().expect("dir");
    let creds = format!("AWS:{}", World::password(&w.bob, Some(ACCOUNT)).await);
    let host = format!("127.0.0.1:{}", w.app.port);
    let src = format!("docker://{host}/team/app:v1");
    let out = format!("oci:{}:v1", dir.path().join("out").display());
    let pull = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &src,
        &out,
    ])
    .await;
    assert!(pull.0, "skopeo pull: {}", pull.1);
    let dest = format!("docker://{host}/team/app:from-bob");
    let push = |creds: String, dest: String, out: String| async move {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &out,
            &dest,
        ])
        .await
    };
    let refused = push(creds.clone(), dest.clone(), out.clone()).await;
    assert!(!refused.0, "a push needs the push actions");
    let mut both = PULL.to_vec();
    both.extend(PUSH);
    w.set_policy("team/app", policy("Allow", json!({"AWS": OTHER}), &both))
        .await;
    let pushed = push(creds, dest, out).await;
    assert!(pushed.0, "skopeo push: {}", pushed.1);
    let tags = w
        .app
        .ecr
        .list_images()
        .repository_name("team/app")
        .send()
        .await
        .expect("list");
    assert!(tags
        .image_ids()
        .iter()
        .any(|i| i.image_tag() == Some("from-bob")));
}

/// Docker Engine: a `docker login` with a us-west-2 token pushes to us-west-2's
/// registry; with another account's token a pull works once the repository's policy
/// grants it.
async fn docker_follows_the_token_and_the_policy(w: World) {
    let docker = Docker::new().await;
    let host = format!("127.0.0.1:{}", w.app.port);
    let repo = unique("team/docker");
    for client in [&w.app.ecr, &w.a_west] {
        create(client, &repo).await;
    }
    docker
        .login_with(&host, &World::password(&w.a_west, None).await)
        .await;
    let image = format!("{host}/{repo}:v1");
    let content = files(&["a.txt"]);
    docker.build(&image, &content, None).await;
    docker.ok(&["push", &image]).await;
    let count = |client: &aws_sdk_ecr::Client| {
        let (client, repo) = (client.clone(), repo.clone());
        async move {
            client
                .describe_images()
                .repository_name(repo)
                .send()
                .await
                .expect("describe")
                .image_details()
                .len()
        }
    };
    assert_eq!(count(&w.a_west).await, 1, "pushed to us-west-2");
    assert_eq!(count(&w.app.ecr).await, 0, "not to {REGION}");

    docker.ok(&["rmi", &image]).await;
    docker
        .login_with(&host, &World::password(&w.bob_west, Some(ACCOUNT)).await)
        .await;
    let refused = docker.run(&["pull", &image]).await;
    assert!(
        !refused.ok,
        "no policy grants bob pulls: {}",
        refused.stdout
    );
    w.a_west
        .set_repository_policy()
        .repository_name(&repo)
        .policy_text(policy("Allow", json!({"AWS": OTHER}), &PULL[..2]).to_string())
        .send()
        .await
        .expect("policy");
    docker.ok(&["pull", &image]).await;
    docker.assert_files(&image, None, &content).await;
}

async fn registry_policies_in_each_scope(w: World) {
    let a = &w.app.ecr;
    let r = a.get_registry_policy().send().await;
    assert_code(r, "RegistryPolicyNotFoundException", "none yet");
    let r = a.delete_registry_policy().send().await;
    assert_code(r, "RegistryPolicyNotFoundException", "nothing to delete");
    let scope = a
        .get_account_setting()
        .name("REGISTRY_POLICY_SCOPE")
        .send()
        .await
        .expect("scope");
    assert_eq!(scope.value(), Some("V1"));

    // V1: the policy may name only replication's and pull-through cache's actions,
    // and governs only those.
    let v1 = json!({"Version": "2012-10-17", "Statement": [{"Sid": "create", "Effect": "Allow",
        "Principal": {"AWS": [format!("arn:aws:iam::{OTHER}:root"), "111111111111"]},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"], "Resource": "*"}]});
    let put = a
        .put_registry_policy()
        .policy_text(v1.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(put.registry_id(), Some(ACCOUNT));
    assert_eq!(put.policy_text(), Some(v1.to_string().as_str()));
    let got = a.get_registry_policy().send().await.expect("get");
    assert_eq!(got.policy_text(), Some(v1.to_string().as_str()));
    w.bob
        .create_repository()
        .registry_id(ACCOUNT)
        .repository_name("made-by-bob")
        .send()
        .await
        .expect("the registry policy lets bob create repositories");
    let r = w
        .bob
        .describe_repositories()
        .registry_id(ACCOUNT)
        .send()
        .await;
    assert_code(r, "AccessDeniedException", "V1 grants no listing");
    let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": OTHER}, "Action": "ecr:DescribeRepositories", "Resource": "*"}]});
    let r = a
        .put_registry_policy()
        .policy_text(wide.to_string())
        .send()
        .await;
    let err = assert_code(r, "InvalidParameterException", "V1 refuses other actions");
    assert!(
        aws_sdk_ecr::error::ProvideErrorMetadata::message(&err)
            .is_some_and(|m| m.starts_with("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided")),
        "{err:?}"
    );
    let r = a
        .put_registry_policy()
        .policy_text(json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:CreateRepository"}]}).to_string())
        .send()
        .await;
    assert_code(
        r,
        "InvalidParameterException",
        "a registry policy names its resources",
    );

    // V2 (and never back): the policy governs every action.
    let r = a
        .put_account_setting()
        .name("REGISTRY_POLICY_SCOPE")
        .value("V1")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "no way back to V1");
    a.put_account_setting()
        .name("REGISTRY_POLICY_SCOPE")
        .value("V2")
        .send()
        .await
        .expect("V2");
    a.put_registry_policy()
        .policy_text(wide.to_string())
        .send()
        .await
        .expect("V2 takes every action");
    assert_eq!(names(&w.bob, Some(ACCOUNT)).await, ["made-by-bob"]);
    let r = w
        .bob
        .create_repository()
        .registry_id(ACCOUNT)
        .repository_name("again")
        .send()
        .await;
    assert_code(
        r,
        "AccessDeniedException",
        "the new policy no longer allows it",
    );
    // A Deny in the registry policy binds the account's own users, on every face.
    let deny = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
        "Principal": {"AWS": ALICE_ARN}, "Action": ["ecr:CreateRepository", "ecr:BatchGetImage", "ecr:PutRegistryPolicy"],
        "Resource": format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*")}]});
    a.put_registry_policy()
        .policy_text(deny.to_string())
        .send()
        .await
        .expect("deny alice");
    let r = w
        .alice
        .create_repository()
        .repository_name("alices")
        .send()
        .await;
    assert_code(r, "AccessDeniedException", "alice may not create");
    w.alice
        .put_registry_policy()
        .policy_text(deny.to_string())
        .send()
        .await
        .expect("the registry's own ARN is not under repository/*");
    w.app.push_image("made-by-bob", Some("v1"), 1).await;
    let alice = w.registry_as(&w.alice, None).await;
    alice
        .get("/v2/made-by-bob/manifests/v1")
        .await
        .assert_error(403, "DENIED");
    // The policy is per region.
    let r = w.a_west.get_registry_policy().send().await;
    assert_code(r, "RegistryPolicyNotFoundException", "west has none");

    let deleted = a.delete_registry_policy().send().await.expect("delete");
    assert_eq!(deleted.policy_text(), Some(deny.to_string().as_str()));
    w.alice
        .create_repository()
        .repository_name("alices")
        .send()
        .await
        .expect("no policy, no deny");
}

async fn account_settings_and_blob_mounting(w: World) {
    let a = &w.app.ecr;
    for (name, value) in [
        ("BASIC_SCAN_TYPE_VERSION", "AWS_NATIVE"),
        ("BLOB_MOUNTING", "DISABLED"),
    ] {
        let got = a
            .get_account_setting()
            .name(name)
            .send()
            .await
            .expect("get");
        assert_eq!((got.name(), got.value()), (Some(name), Some(value)));
    }
    let r = a.get_account_setting().name("NOT_A_SETTING").send().await;
    let err = assert_code(r, "InvalidParameterException", "unknown name");
    assert_eq!(
        err.message(),
        Some("Invalid parameter at 'name' failed to satisfy constraint: 'Member must satisfy enum value set: [BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE, BLOB_MOUNTING]'")
    );
    for (name, value, set) in [
        ("BLOB_MOUNTING", "MAYBE", "[ENABLED, DISABLED]"),
        ("BASIC_SCAN_TYPE_VERSION", "CLAIR", "[AWS_NATIVE]"),
    ] {
        let r = a.put_account_setting().name(name).value(value).send().await;
        let err = assert_code(r, "InvalidParameterException", value);
        assert_eq!(
            err.message(),
            Some(format!("Invalid parameter at 'value' failed to satisfy constraint: 'Member must satisfy enum value set: {set}'").as_str()),
            "{name}"
        );
    }

    // Mounting across repositories only once enabled, per registry.
    w.app.create_repo("from").await;
    w.app.create_repo("to").await;
    let layer = w.app.push_blob("from", b"a shared layer").await;
    let registry = crate::oci_client::Registry::login(&w.app).await;
    let mount = format!("/v2/to/blobs/uploads/?mount={layer}&from=from");
    registry.call(Method::POST, &mount).await.assert_status(202);
    let put = a
        .put_account_setting()
        .name("BLOB_MOUNTING")
        .value("ENABLED")
        .send()
        .await
        .expect("enable");
    assert_eq!(put.value(), Some("ENABLED"));
    registry.call(Method::POST, &mount).await.assert_status(201);
    let west = w
        .a_west
        .get_account_setting()
        .name("BLOB_MOUNTING")
        .send()
        .await
        .expect("west");
    assert_eq!(west.value(), Some("DISABLED"), "settings are regional");
}

async fn lockout_guard_and_public_repository_policies(w: World) {
    let a = &w.app.ecr;
    w.app.create_repo("guarded").await;
    let locking = policy(
        "Deny",
        json!({"AWS": ACCOUNT}),
        &["ecr:SetRepositoryPolicy"],
    );
    let set = |force: bool| {
        a.set_repository_policy()
            .repository_name("guarded")
            .policy_text(locking.to_string())
            .force(force)
            .send()
    };
    let err = assert_code(
        set(false).await,
        "InvalidParameterException",
        "would lock out",
    );
    assert!(format!("{err:?}").contains("force"), "{err:?}");
    set(true).await.expect("forced");
    assert_code(
        set(true).await,
        "AccessDeniedException",
        "locked out, as warned",
    );
    a.delete_repository_policy()
        .repository_name("guarded")
        .send()
        .await
        .expect("deleting is not denied");
    set(false).await.expect_err("the guard again");

    // ECR Public: the same engine, with ecr-public's action names.
    let public = |(key, secret): (&str, &str)| ecr_public_client(&w.app.url, key, secret);
    let (owner, bob, alice) = (&w.app.ecr_public, public(BOB), public(ALICE));
    owner
        .create_repository()
        .repository_name("pub/app")
        .send()
        .await
        .expect("create public");
    let describe = |c: &aws_sdk_ecrpublic::Client| {
        c.describe_images()
            .registry_id(ACCOUNT)
            .repository_name("pub/app")
            .send()
    };
    let err = assert_code(describe(&bob).await, "AccessDeniedException", "no policy");
    assert!(
        format!("{err:?}").contains("ecr-public:DescribeImages"),
        "{err:?}"
    );
    describe(&alice).await.expect("alice's own account");
    let p = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "ecr-public:Describe*"},
        {"Effect": "Deny", "Principal": {"AWS": ALICE_ARN}, "Action": "ecr-public:*"}]});
    owner
        .set_repository_policy()
        .repository_name("pub/app")
        .policy_text(p.to_string())
        .send()
        .await
        .expect("public policy");
    describe(&bob).await.expect("allowed");
    assert_code(describe(&alice).await, "AccessDeniedException", "denied");
    let r = alice
        .initiate_layer_upload()
        .repository_name("pub/app")
        .send()
        .await;
    assert_code(r, "AccessDeniedException", "pushes denied too");
}

async fn pull_time_exclusions(w: World) {
    let a = &w.app.ecr;
    w.app.create_repo("pulled").await;
    w.app.push_image("pulled", Some("v1"), 1).await;
    let registered = a
        .register_pull_time_update_exclusion()
        .principal_arn(ALICE_ARN)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.principal_arn(), Some(ALICE_ARN));
    assert!(registered.created_at().is_some());
    let r = a
        .register_pull_time_update_exclusion()
        .principal_arn(ALICE_ARN)
        .send()
        .await;
    assert_code(r, "ExclusionAlreadyExistsException", "twice");
    let r = a
        .register_pull_time_update_exclusion()
        .principal_arn("alice")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "not an ARN");
    a.register_pull_time_update_exclusion()
        .principal_arn(CI_ARN)
        .send()
        .await
        .expect("another account's role");
    let page = a
        .list_pull_time_update_exclusions()
        .max_results(1)
        .send()
        .await
        .expect("list");
    assert_eq!(page.pull_time_update_exclusions(), [ALICE_ARN]);
    let rest = a
        .list_pull_time_update_exclusions()
        .next_token(page.next_token().expect("more"))
        .send()
        .await
        .expect("next page");
    assert_eq!(rest.pull_time_update_exclusions(), [CI_ARN]);
    assert!(rest.next_token().is_none());

    let pulled_at = || async {
        a.describe_images()
            .repository_name("pulled")
            .send()
            .await
            .expect("describe")
            .image_details()[0]
            .last_recorded_pull_time()
            .cloned()
    };
    let pull = |c: &aws_sdk_ecr::Client| {
        c.batch_get_image()
            .repository_name("pulled")
            .image_ids(by_tag("v1"))
            .send()
    };
    pull(&w.alice).await.expect("alice pulls");
    assert_eq!(pulled_at().await, None, "alice's pulls are not recorded");
    w.registry_as(&w.alice, None)
        .await
        .get("/v2/pulled/manifests/v1")
        .await
        .assert_status(200);
    assert_eq!(pulled_at().await, None, "nor through the registry API");
    pull(a).await.expect("root pulls");
    assert!(pulled_at().await.is_some(), "the root's pull is recorded");

    a.deregister_pull_time_update_exclusion()
        .principal_arn(ALICE_ARN)
        .send()
        .await
        .expect("deregister");
    let r = a
        .deregister_pull_time_update_exclusion()
        .principal_arn(ALICE_ARN)
        .send()
        .await;
    assert_code(r, "ExclusionNotFoundException", "gone");
    let left = w
        .a_west
        .list_pull_time_update_exclusions()
        .send()
        .await
        .expect("west");
    assert!(
        left.pull_time_update_exclusions().is_empty(),
        "exclusions are regional"
    );
}

#[allow(deprecated)] // registryIds: berth's passwords name the registry they open
async fn authorization_tokens_per_registry(w: World) {
    let out = w
        .bob
        .get_authorization_token()
        .registry_ids(ACCOUNT)
        .registry_ids(OTHER)
        .send()
        .await
        .expect("tokens");
    assert_eq!(out.authorization_data().len(), 2);
    w.bob
        .create_repository()
        .repository_name("bobs")
        .send()
        .await
        .expect("create");
    // Each password opens its own registry: bob's own is served, the other account's
    // is bob's only where its policies allow.
    let mut statuses = Vec::new();
    for data in out.authorization_data() {
        let password = token_password(data.authorization_token().expect("token"));
        let registry = Registry::with_auth(&w.app, Some(basic("AWS", &password)));
        statuses.push(registry.get("/v2/bobs/tags/list").await.status);
    }
    assert_eq!(statuses, [403, 200]);
    let r = w
        .bob
        .get_authorization_token()
        .registry_ids("not-an-id")
        .send()
        .await;
    assert_code(r, "InvalidParameterException", "bad id");
}

/// Without credentials configured, a 12-digit access key id names its account, and any
/// other key the configured one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mode_key_ids_name_accounts() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.access_key_id = None;
        c.secret_access_key = None;
    })
    .await;
    for (key, account) in [(OTHER, OTHER), ("AKIDANYTHING", ACCOUNT)] {
        let client = ecr_client_in(&app.url, key, "any-secret", REGION);
        let repo = create(&client, "mine").await;
        assert_eq!(repo.registry_id(), Some(account), "{key}");
    }
}

/// A public URL with `{account}` and `{region}` names each registry by its host, in
/// repository URIs and proxy endpoints alike; that host then selects the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_can_name_each_registry() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.public_url = Some("http://{account}.dkr.ecr.{region}.berth.test".into())
    })
    .await;
    let west = ecr_client_in(&app.url, ACCESS_KEY, SECRET_KEY, WEST);
    let repo = create(&west, "named").await;
    let host = format!("{ACCOUNT}.dkr.ecr.{WEST}.berth.test");
    assert_eq!(
        repo.repository_uri(),
        Some(format!("{host}/named").as_str())
    );
    let token = west.get_authorization_token().send().await.expect("token");
    let data = &token.authorization_data()[0];
    assert_eq!(
        data.proxy_endpoint(),
        Some(format!("http://{host}").as_str())
    );
    // The east password at the west host: the host names the registry, and the
    // password's region must be its.
    let east = World::password(&app.ecr, None).await;
    let r = Registry::with_auth(&app, Some(basic("AWS", &east)));
    let listed = r
        .send(
            r.request(Method::GET, "/v2/named/tags/list")
                .header("host", &host),
        )
        .await;
    listed.assert_error(401, "UNAUTHORIZED");
    let west_password = token_password(data.authorization_token().expect("token"));
    let r = Registry::with_auth(&app, Some(basic("AWS", &west_password)));
    let listed = r
        .send(
            r.request(Method::GET, "/v2/named/tags/list")
                .header("host", &host),
        )
        .await;
    listed.assert_status(200);
}
