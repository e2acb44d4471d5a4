//! The AWS JSON 1.1 wire protocol as a raw HTTP client sees it: target routing, body
//! decoding, model validation, SigV4 errors, error and success rendering.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::helpers::{
    spawn_app_with, Backend, Reply, TestApp, ACCESS_KEY, ACCOUNT, ECR_TARGET_PREFIX as PREFIX,
    JSON_11, REGION, SECRET_KEY,
};
use crate::{both_stores, one_store};

// Everything in front of the store: routing, decoding, validation, signatures,
// rendering.
one_store!(
    unknown_or_missing_target_is_unknown_operation,
    malformed_json_is_serialization_exception,
    wrong_json_types_are_serialization_exceptions,
    constraint_violations_are_invalid_parameter_naming_the_member,
    empty_body_is_an_empty_object,
    authentication_failures_have_their_own_error_types,
    errors_are_rendered_in_aws_json_form,
    every_response_has_a_request_id,
    oversized_body_is_refused_and_server_stays_healthy,
);

// What a request changes or reads back from the store.
both_stores!(
    unsigned_x_amz_headers_are_refused,
    success_bodies_omit_nulls_and_send_epoch_timestamps,
    nul_characters_are_refused_alike_on_every_store,
);

fn target(action: &str) -> String {
    format!("{PREFIX}.{action}")
}

/// SigV4 headers for `POST /` carrying `headers`, signed at `time`.
fn signed(
    app: &TestApp,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: (&str, &str, &str),
    time: SystemTime,
) -> Vec<(String, String)> {
    crate::helpers::sign_at(app.port, headers, body, credentials, time)
}

async fn send(app: &TestApp, headers: &[(String, String)], body: &[u8]) -> Reply {
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    app.call_unsigned(&refs, body).await
}

/// A raw call signed with the test credentials at `time`.
async fn call_at(app: &TestApp, action: &str, body: &[u8], time: SystemTime) -> Reply {
    let t = target(action);
    let headers = signed(
        app,
        &[("content-type", JSON_11), ("x-amz-target", &t)],
        body,
        (ACCESS_KEY, SECRET_KEY, "ecr"),
        time,
    );
    send(app, &headers, body).await
}

async fn repository_names(app: &TestApp) -> Vec<String> {
    let r = app.call_json("DescribeRepositories", json!({})).await;
    r.assert_ok();
    r.body["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|r| r["repositoryName"].as_str().expect("name").to_owned())
        .collect()
}

async fn unknown_or_missing_target_is_unknown_operation(app: TestApp) {
    // No X-Amz-Target at all, on an otherwise valid signed request.
    let headers = signed(
        &app,
        &[("content-type", JSON_11)],
        b"{}",
        (ACCESS_KEY, SECRET_KEY, "ecr"),
        SystemTime::now(),
    );
    send(&app, &headers, b"{}")
        .await
        .assert_error("UnknownOperationException");

    for t in [
        "",
        PREFIX,
        &format!("{PREFIX}."),
        "DescribeRepositories",
        "AmazonEC2ContainerRegistry_V20990101.DescribeRepositories",
        "Nope_V1.DescribeRepositories",
        &format!("{PREFIX}.Nope"),
        &format!("{PREFIX}.DescribeRepositories.Extra"),
        &format!("{PREFIX}.describe_repositories"),
    ] {
        let r = app.call(t, b"{}").await;
        r.assert_error("UnknownOperationException");
        assert!(
            r.body["message"].as_str().unwrap_or_default().contains(t),
            "message should quote the target {t:?}: {}",
            r.body
        );
    }
    // Unknown targets are refused before authentication: nothing about the caller leaks.
    let r = app
        .call_unsigned(&[("x-amz-target", &target("Nope"))], b"{}")
        .await;
    r.assert_error("UnknownOperationException");
}

async fn malformed_json_is_serialization_exception(app: TestApp) {
    let bodies: [&[u8]; 13] = [
        b"{",
        b"not json",
        b"{\"repositoryNames\": [\"ab\"]",
        b"{\"repositoryNames\": [\"ab\"",
        b"{\"maxResults\": }",
        b"{'maxResults': 5}",
        b"{} {}",
        b"[]",
        b"[{}]",
        b"\"{}\"",
        b"5",
        b"null",
        b"{\"registryId\": \"\xff\xfe\"}",
    ];
    for body in bodies {
        let r = app.call(&target("DescribeRepositories"), body).await;
        r.assert_error("SerializationException");
    }
    // Invalid UTF-8 inside a member of a mutating action changes nothing.
    let r = app
        .call(
            &target("CreateRepository"),
            b"{\"repositoryName\": \"ab\xc3\x28cd\"}",
        )
        .await;
    r.assert_error("SerializationException");
    // Truncated bodies of a mutating action never half-apply.
    let full = json!({"repositoryName": "truncated/repo", "tags": [{"Key": "k", "Value": "v"}]})
        .to_string();
    for cut in [1, full.len() / 2, full.len() - 1] {
        let r = app
            .call(&target("CreateRepository"), &full.as_bytes()[..cut])
            .await;
        r.assert_error("SerializationException");
    }
    assert!(repository_names(&app).await.is_empty());
}

async fn wrong_json_types_are_serialization_exceptions(app: TestApp) {
    let cases = [
        (
            "CreateRepository",
            json!({"repositoryName": 5}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": ["ab"]}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": {"n": "ab"}}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": true}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "ab", "imageScanningConfiguration": {"scanOnPush": "true"}}),
            "imageScanningConfiguration.scanOnPush",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "ab", "tags": {"Key": "k", "Value": "v"}}),
            "tags",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "ab", "tags": [{"Key": "k", "Value": 1}]}),
            "tags[0].Value",
        ),
        (
            "DescribeRepositories",
            json!({"maxResults": "10"}),
            "maxResults",
        ),
        (
            "DescribeRepositories",
            json!({"maxResults": 1.5}),
            "maxResults",
        ),
        (
            "DescribeRepositories",
            json!({"maxResults": 10.0}),
            "maxResults",
        ),
        (
            "DescribeRepositories",
            json!({"maxResults": 1e3}),
            "maxResults",
        ),
        (
            "DescribeRepositories",
            json!({"repositoryNames": {}}),
            "repositoryNames",
        ),
        (
            "DescribeRepositories",
            json!({"repositoryNames": "ab"}),
            "repositoryNames",
        ),
        (
            "DescribeRepositories",
            json!({"repositoryNames": [1]}),
            "repositoryNames[0]",
        ),
        (
            "DescribeRepositories",
            json!({"registryId": 123456789012_i64}),
            "registryId",
        ),
        (
            "DeleteRepository",
            json!({"repositoryName": "ab", "force": "true"}),
            "force",
        ),
        (
            "UploadLayerPart",
            json!({"repositoryName": "ab", "uploadId": "u", "partFirstByte": "0",
                   "partLastByte": 1, "layerPartBlob": "AA=="}),
            "partFirstByte",
        ),
        (
            "BatchGetImage",
            json!({"repositoryName": "ab", "imageIds": ["latest"]}),
            "imageIds[0]",
        ),
    ];
    for (action, body, member) in cases {
        let r = app.call_json(action, body.clone()).await;
        r.assert_error_naming("SerializationException", member);
    }
    assert!(repository_names(&app).await.is_empty());
}

async fn constraint_violations_are_invalid_parameter_naming_the_member(app: TestApp) {
    let long = "a".repeat(257);
    let cases = [
        ("CreateRepository", json!({}), "repositoryName"),
        (
            "CreateRepository",
            json!({"repositoryName": null}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "Upper"}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "a b"}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "ab/"}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "a"}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": long}),
            "repositoryName",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "ab", "imageTagMutability": "FOO"}),
            "imageTagMutability",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "ab", "registryId": "12345"}),
            "registryId",
        ),
        (
            "DescribeRepositories",
            json!({"maxResults": 0}),
            "maxResults",
        ),
        (
            "DescribeRepositories",
            json!({"maxResults": 1001}),
            "maxResults",
        ),
        (
            "DescribeRepositories",
            json!({"maxResults": -1}),
            "maxResults",
        ),
        (
            "DescribeRepositories",
            json!({"repositoryNames": []}),
            "repositoryNames",
        ),
        (
            "BatchGetImage",
            json!({"repositoryName": "ab", "imageIds": []}),
            "imageIds",
        ),
        (
            "BatchDeleteImage",
            json!({"repositoryName": "ab", "imageIds": [{"imageTag": "t".repeat(301)}]}),
            "imageIds[0].imageTag",
        ),
        (
            "ListImages",
            json!({"repositoryName": "ab", "filter": {"tagStatus": "SOME"}}),
            "filter.tagStatus",
        ),
    ];
    for (action, body, member) in cases {
        let r = app.call_json(action, body.clone()).await;
        r.assert_error_naming("InvalidParameterException", member);
        let message = r.body["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!(
                "Invalid parameter at '{member}' failed to satisfy constraint: '"
            )),
            "{action} {body}: {message}"
        );
    }
    // Bounds are inclusive: 256 characters and maxResults 1 and 1000 are fine.
    let name = format!("{}/{}", "a".repeat(127), "b".repeat(128));
    assert_eq!(name.len(), 256);
    app.call_json("CreateRepository", json!({"repositoryName": name}))
        .await
        .assert_ok();
    for n in [1, 1000] {
        app.call_json("DescribeRepositories", json!({"maxResults": n}))
            .await
            .assert_ok();
    }
    assert_eq!(repository_names(&app).await, vec![name]);
}

async fn empty_body_is_an_empty_object(app: TestApp) {
    app.create_repo("team/one").await;
    for body in [&b""[..], b"  \n", b"{}"] {
        let r = app.call(&target("DescribeRepositories"), body).await;
        r.assert_ok();
        assert_eq!(r.body["repositories"][0]["repositoryName"], "team/one");
        let r = app.call(&target("DescribeRegistry"), body).await;
        r.assert_ok();
        assert_eq!(r.body["registryId"], ACCOUNT);
    }
    // An empty body lacks the required members, like `{}`.
    let r = app.call(&target("CreateRepository"), b"").await;
    r.assert_error_naming("InvalidParameterException", "repositoryName");
}

async fn authentication_failures_have_their_own_error_types(app: TestApp) {
    let t = target("DescribeRepositories");
    let body = b"{}";

    // Control: a request signed here is accepted, also 10 minutes off the clock.
    for offset in [0, 600] {
        let at = SystemTime::now() - Duration::from_secs(offset);
        call_at(&app, "DescribeRepositories", body, at)
            .await
            .assert_ok();
    }

    let r = app
        .call_unsigned(&[("content-type", JSON_11), ("x-amz-target", &t)], body)
        .await;
    r.assert_error("MissingAuthenticationTokenException");

    let valid = signed(
        &app,
        &[("content-type", JSON_11), ("x-amz-target", &t)],
        body,
        (ACCESS_KEY, SECRET_KEY, "ecr"),
        SystemTime::now(),
    );
    let auth = valid
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
        .expect("authorization");
    let malformed = [
        "Bearer abcdef".to_owned(),
        "AWS4-HMAC-SHA256".to_owned(),
        "AWS4-HMAC-SHA1 Credential=x/20240101/eu-west-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=00".to_owned(),
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240101/eu-west-1/ecr/aws4_request"),
        auth.replace("SignedHeaders=", "Unsigned="),
        auth.replace("/aws4_request", "/aws5_request"),
        auth.replace(&format!("Credential={ACCESS_KEY}/"), "Credential="),
        auth.replace("Signature=", "Signature=zz"),
        auth.replace("host;", ""),
    ];
    for value in malformed {
        let mut headers: Vec<(String, String)> = valid
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
            .cloned()
            .collect();
        headers.push(("authorization".into(), value.clone()));
        let r = send(&app, &headers, body).await;
        r.assert_error("IncompleteSignatureException");
    }
    // A valid Authorization without its X-Amz-Date is incomplete too.
    let headers: Vec<(String, String)> = valid
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-amz-date"))
        .cloned()
        .collect();
    send(&app, &headers, body)
        .await
        .assert_error("IncompleteSignatureException");

    let r = app
        .call_signed(&t, body, "AKIDUNKNOWN", SECRET_KEY, "ecr")
        .await;
    r.assert_error("UnrecognizedClientException");

    for (key, secret, service) in [
        (ACCESS_KEY, "wrong-secret", "ecr"),
        (ACCESS_KEY, SECRET_KEY, "ecr-public"),
        (ACCESS_KEY, SECRET_KEY, "s3"),
    ] {
        let r = app.call_signed(&t, body, key, secret, service).await;
        r.assert_error("InvalidSignatureException");
    }

    // Signed 20 minutes ago, or 20 minutes ahead: outside the 15-minute window.
    let twenty = Duration::from_secs(20 * 60);
    for at in [SystemTime::now() - twenty, SystemTime::now() + twenty] {
        let r = call_at(&app, "DescribeRepositories", body, at).await;
        r.assert_error("InvalidSignatureException");
    }

    // A body swapped after signing is refused and not applied.
    let create = target("CreateRepository");
    let signed_body = json!({"repositoryName": "signed/name"}).to_string();
    let headers = signed(
        &app,
        &[("content-type", JSON_11), ("x-amz-target", &create)],
        signed_body.as_bytes(),
        (ACCESS_KEY, SECRET_KEY, "ecr"),
        SystemTime::now(),
    );
    for tampered in [
        json!({"repositoryName": "tampered/name"}).to_string(),
        format!("{signed_body} "),
        String::new(),
    ] {
        let r = send(&app, &headers, tampered.as_bytes()).await;
        r.assert_error("InvalidSignatureException");
    }
    // A signed header changed after signing is refused as well.
    let swapped: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            if k == "x-amz-target" {
                (k.clone(), target("DeleteRepository"))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let r = send(&app, &swapped, signed_body.as_bytes()).await;
    r.assert_error("InvalidSignatureException");
    assert!(repository_names(&app).await.is_empty());
    // The untouched request goes through.
    send(&app, &headers, signed_body.as_bytes())
        .await
        .assert_ok();
    assert_eq!(repository_names(&app).await, vec!["signed/name".to_owned()]);
}

/// The signature must cover X-Amz-Target (and every x-amz-* header sent): otherwise a
/// captured BatchGetImage could be sent again as BatchDeleteImage, whose input has
/// the same members.
async fn unsigned_x_amz_headers_are_refused(app: TestApp) {
    app.create_repo("replay/target").await;
    app.push_image("replay/target", Some("keep"), 1).await;
    let body =
        json!({"repositoryName": "replay/target", "imageIds": [{"imageTag": "keep"}]}).to_string();
    let get = target("BatchGetImage");
    // Signed without the target in SignedHeaders, then sent as a delete.
    let mut headers = signed(
        &app,
        &[("content-type", JSON_11)],
        body.as_bytes(),
        (ACCESS_KEY, SECRET_KEY, "ecr"),
        SystemTime::now(),
    );
    let auth = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
        .expect("authorization");
    assert!(!auth.contains("x-amz-target"), "{auth}");
    headers.push(("x-amz-target".into(), target("BatchDeleteImage")));
    let r = send(&app, &headers, body.as_bytes()).await;
    r.assert_error("IncompleteSignatureException");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("x-amz-target")),
        "{}",
        r.body
    );
    // The same unsigned head as the get it was signed for is refused as well.
    headers.pop();
    headers.push(("x-amz-target".into(), get.clone()));
    send(&app, &headers, body.as_bytes())
        .await
        .assert_error("IncompleteSignatureException");

    // A fully signed request with one more x-amz-* header added unsigned.
    let mut headers = signed(
        &app,
        &[("content-type", JSON_11), ("x-amz-target", &get)],
        body.as_bytes(),
        (ACCESS_KEY, SECRET_KEY, "ecr"),
        SystemTime::now(),
    );
    send(&app, &headers, body.as_bytes()).await.assert_ok();
    headers.push(("x-amz-extra".into(), "1".into()));
    send(&app, &headers, body.as_bytes())
        .await
        .assert_error("IncompleteSignatureException");

    // Nothing was deleted.
    let r = app
        .call_json("DescribeImages", json!({"repositoryName": "replay/target"}))
        .await;
    r.assert_ok();
    assert_eq!(r.body["imageDetails"][0]["imageTags"], json!(["keep"]));
}

async fn errors_are_rendered_in_aws_json_form(app: TestApp) {
    let r = app
        .call_json(
            "DescribeRepositories",
            json!({"repositoryNames": ["no/such"]}),
        )
        .await;
    r.assert_error("RepositoryNotFoundException");
    let kind = r.header("x-amzn-ErrorType").unwrap_or_default();
    assert!(!kind.contains(['#', ':', '.']), "not a bare name: {kind}");
    assert!(r.body["message"]
        .as_str()
        .is_some_and(|m| m.contains("no/such")));

    app.create_repo("dup/repo").await;
    let r = app
        .call_json("CreateRepository", json!({"repositoryName": "dup/repo"}))
        .await;
    r.assert_error("RepositoryAlreadyExistsException");

    // Extra modelled members travel in the body: InvalidLayerPartException.
    let r = app
        .call_json("InitiateLayerUpload", json!({"repositoryName": "dup/repo"}))
        .await;
    r.assert_ok();
    let upload = r.body["uploadId"].as_str().expect("uploadId").to_owned();
    let r = app
        .call_json(
            "UploadLayerPart",
            json!({"repositoryName": "dup/repo", "uploadId": upload, "partFirstByte": 5,
               "partLastByte": 6, "layerPartBlob": "AAA="}),
        )
        .await;
    r.assert_error("InvalidLayerPartException");
    assert_eq!(r.body["uploadId"], upload.as_str());
    assert_eq!(r.body["repositoryName"], "dup/repo");
    assert_eq!(r.body["registryId"], ACCOUNT);
    assert!(r.body["lastValidByteReceived"].is_number(), "{}", r.body);
}

async fn every_response_has_a_request_id(app: TestApp) {
    let replies = [
        app.call_json("DescribeRepositories", json!({})).await,
        app.call_json("DescribeRepositories", json!({})).await,
        app.call_json("DescribeRepositories", json!({"maxResults": 0}))
            .await,
        app.call(&target("Nope"), b"{}").await,
        app.call(&target("DescribeRepositories"), b"{").await,
        app.call_unsigned(&[("x-amz-target", &target("DescribeRepositories"))], b"{}")
            .await,
        app.call_json("GetLifecyclePolicy", json!({"repositoryName": "ab"}))
            .await,
    ];
    let mut ids: Vec<&str> = replies
        .iter()
        .map(|r| {
            r.assert_request_id();
            r.header("x-amzn-RequestId").unwrap_or_default()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), replies.len(), "request ids repeat: {ids:?}");
}

/// Every JSON null anywhere in `v`, as paths.
fn nulls(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(path.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nulls(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(members) => {
            for (k, item) in members {
                nulls(item, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[track_caller]
fn assert_no_nulls(r: &Reply) {
    r.assert_ok();
    let mut found = Vec::new();
    nulls(&r.body, "", &mut found);
    assert!(found.is_empty(), "null members {found:?} in {}", r.body);
}

async fn success_bodies_omit_nulls_and_send_epoch_timestamps(app: TestApp) {
    let before = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let r = app
        .call_json("CreateRepository", json!({"repositoryName": "wire/shape"}))
        .await;
    assert_no_nulls(&r);
    let repo = &r.body["repository"];
    let created = repo["createdAt"].as_f64().expect("createdAt is a number");
    assert!(
        (before - 5.0..before + 60.0).contains(&created),
        "createdAt {created} is not epoch seconds near {before}"
    );
    // Absent optional members are left out, not sent as null.
    assert!(
        repo["encryptionConfiguration"].get("kmsKey").is_none(),
        "{repo}"
    );
    assert!(
        repo.get("imageTagMutabilityExclusionFilters").is_none(),
        "{repo}"
    );

    let r = app.call_json("DescribeRepositories", json!({})).await;
    assert_no_nulls(&r);
    assert!(r.body.get("nextToken").is_none(), "{}", r.body);
    assert!(r.body["repositories"][0]["createdAt"].is_number());

    // An untagged image: imageTags and lastRecordedPullTime are absent.
    let (_, digest) = app.push_image("wire/shape", None, 1).await;
    let r = app
        .call_json("DescribeImages", json!({"repositoryName": "wire/shape"}))
        .await;
    assert_no_nulls(&r);
    let detail = &r.body["imageDetails"][0];
    assert_eq!(detail["imageDigest"], digest.as_str());
    assert!(detail.get("imageTags").is_none(), "{detail}");
    assert!(detail.get("lastRecordedPullTime").is_none(), "{detail}");
    let pushed = detail["imagePushedAt"]
        .as_f64()
        .expect("imagePushedAt is a number");
    assert!(pushed >= created - 1.0, "{pushed} < {created}");
    assert!(detail["imageSizeInBytes"].is_i64(), "{detail}");

    let r = app
        .call_json("ListImages", json!({"repositoryName": "wire/shape"}))
        .await;
    assert_no_nulls(&r);
    assert!(
        r.body["imageIds"][0].get("imageTag").is_none(),
        "{}",
        r.body
    );

    let r = app.call_json("GetAuthorizationToken", json!({})).await;
    assert_no_nulls(&r);
    let expires = r.body["authorizationData"][0]["expiresAt"]
        .as_f64()
        .expect("expiresAt is a number");
    assert!(expires > before + 3600.0, "{expires}");

    // Actions without output answer `{}`.
    let arn = format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/wire/shape");
    let r = app
        .call_json(
            "TagResource",
            json!({"resourceArn": arn, "tags": [{"Key": "k", "Value": "v"}]}),
        )
        .await;
    assert_no_nulls(&r);
    assert_eq!(r.body, json!({}));
}

async fn healthy(app: &TestApp) {
    assert_eq!(app.healthz().await.0, 200);
    app.call_json("DescribeRepositories", json!({}))
        .await
        .assert_ok();
}

async fn oversized_body_is_refused_and_server_stays_healthy(app: TestApp) {
    // 1 MiB is the default limit; pad a valid body past it with whitespace.
    let mut body = b"{\"maxResults\": 5".to_vec();
    body.resize(1024 * 1024 + 16, b' ');
    body.push(b'}');
    for _ in 0..3 {
        let r = app.call(&target("DescribeRepositories"), &body).await;
        r.assert_error("InvalidParameterException");
        assert!(
            r.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("limit")),
            "{}",
            r.body
        );
        healthy(&app).await;
    }
    // A far larger body to a mutating action: refused, nothing created.
    let big = json!({"repositoryName": "big/body", "tags": [{"Key": "k", "Value": "v".repeat(8 * 1024 * 1024)}]})
        .to_string();
    let r = app.call(&target("CreateRepository"), big.as_bytes()).await;
    r.assert_error("InvalidParameterException");
    healthy(&app).await;
    assert!(repository_names(&app).await.is_empty());

    // PutImage has a larger limit (4 MiB manifests inside JSON): a 2 MiB body
    // reaches the action, which answers for the missing repository.
    let manifest = json!({"schemaVersion": 2, "pad": "x".repeat(2 * 1024 * 1024)}).to_string();
    let r = app
        .call_json(
            "PutImage",
            json!({"repositoryName": "no/such", "imageManifest": manifest}),
        )
        .await;
    r.assert_error("RepositoryNotFoundException");
    healthy(&app).await;
}

async fn open_mode(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.access_key_id = None;
        c.secret_access_key = None;
    })
    .await;
    let t = target("CreateRepository");
    let body = |name: &str| json!({"repositoryName": name}).to_string();
    // Any well-formed signature is accepted, whoever signed and with whatever secret.
    for (name, key, secret) in [
        ("open/known", ACCESS_KEY, SECRET_KEY),
        ("open/unknown-key", "AKIDANYONE", SECRET_KEY),
        ("open/wrong-secret", ACCESS_KEY, "not-the-secret"),
    ] {
        let r = app
            .call_signed(&t, body(name).as_bytes(), key, secret, "ecr")
            .await;
        r.assert_ok();
        assert_eq!(r.body["repository"]["repositoryName"], name);
    }
    // The SDK with made-up credentials works too.
    let sdk = crate::helpers::ecr_client(&app.url, "AKIDSDK", "whatever");
    sdk.create_repository()
        .repository_name("open/sdk")
        .send()
        .await
        .expect("open mode accepts any signed SDK call");

    // Unsigned or malformed requests are still refused.
    let r = app
        .call_unsigned(
            &[("content-type", JSON_11), ("x-amz-target", &t)],
            body("open/unsigned").as_bytes(),
        )
        .await;
    r.assert_error("MissingAuthenticationTokenException");
    let r = app
        .call_unsigned(
            &[
                ("x-amz-target", &t),
                ("authorization", "AWS4-HMAC-SHA256 nonsense"),
            ],
            body("open/malformed").as_bytes(),
        )
        .await;
    r.assert_error("IncompleteSignatureException");
    // The scope must still name ECR.
    let r = app
        .call_signed(&t, body("open/s3").as_bytes(), ACCESS_KEY, SECRET_KEY, "s3")
        .await;
    r.assert_error("InvalidSignatureException");

    let mut names = repository_names(&app).await;
    names.sort();
    assert_eq!(
        names,
        [
            "open/known",
            "open/sdk",
            "open/unknown-key",
            "open/wrong-secret"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mode_accepts_any_signature_sqlite() {
    open_mode(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mode_accepts_any_signature_postgres() {
    open_mode(Backend::Postgres).await;
}

/// JSON may carry U+0000 in any string; Postgres text cannot store it. Both stores
/// must answer the same typed 400 (this was a 500 on Postgres), and store nothing.
async fn nul_characters_are_refused_alike_on_every_store(app: TestApp) {
    app.create_repo("nul/base").await;
    let arn = format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/nul/base");
    let cases = [
        (
            "CreateRepository",
            json!({"repositoryName": "nul/one", "tags": [{"Key": "k", "Value": "a\u{0}b"}]}),
            "tags[0].Value",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "nul/two", "tags": [{"Key": "k\u{0}", "Value": "v"}]}),
            "tags[0].Key",
        ),
        (
            "CreateRepository",
            json!({"repositoryName": "nul/three",
                   "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "key\u{0}"}}),
            "encryptionConfiguration.kmsKey",
        ),
        (
            "TagResource",
            json!({"resourceArn": arn, "tags": [{"Key": "k\u{0}", "Value": "v"}]}),
            "tags[0].Key",
        ),
        (
            "UntagResource",
            json!({"resourceArn": arn, "tagKeys": ["team", "\u{0}"]}),
            "tagKeys[1]",
        ),
        (
            "DescribeRepositories",
            json!({"nextToken": "\u{0}"}),
            "nextToken",
        ),
    ];
    for (action, body, member) in cases {
        let r = app.call_json(action, body).await;
        r.assert_error_naming("InvalidParameterException", member);
    }

    // Media types read from a manifest are stored too: a config or artifactType
    // that is not a media type makes the manifest invalid.
    let manifest = app.image_manifest("nul/base", 1).await;
    let mut bad_config: Value = serde_json::from_str(&manifest).expect("manifest");
    bad_config["config"]["mediaType"] = json!("application/x\u{0}y");
    let mut bad_artifact: Value = serde_json::from_str(&manifest).expect("manifest");
    bad_artifact["artifactType"] = json!("application/\u{0}");
    for m in [bad_config, bad_artifact] {
        let r = app.call_json("PutImage",
            json!({"repositoryName": "nul/base", "imageManifest": m.to_string(), "imageTag": "t"}),
        )
        .await;
        r.assert_error("InvalidParameterException");
    }
    // The same manifest, untouched, is fine.
    let r = app
        .call_json(
            "PutImage",
            json!({"repositoryName": "nul/base", "imageManifest": manifest, "imageTag": "t"}),
        )
        .await;
    r.assert_ok();

    assert_eq!(repository_names(&app).await, vec!["nul/base".to_owned()]);
    let r = app
        .call_json("ListTagsForResource", json!({"resourceArn": arn}))
        .await;
    r.assert_ok();
    assert_eq!(r.body["tags"], json!([]));
    let r = app
        .call_json("DescribeImages", json!({"repositoryName": "nul/base"}))
        .await;
    r.assert_ok();
    assert_eq!(r.body["imageDetails"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        r.body["imageDetails"][0]["artifactMediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
}
