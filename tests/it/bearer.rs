//! The public registry's Bearer flow, as `public.ecr.aws` has it: the challenge names
//! a token endpoint on the public listener, which grants anyone pulls and the holder
//! of ECR Public's password pushes; `/v2/` enforces what a token grants.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::fixtures::OCI_MANIFEST;
use crate::helpers::{TestApp, ALIAS};
use crate::oci_client::{basic, Registry, Resp};
use crate::registry::{restart, seal, signing_key, unix_now};

both_stores!(
    anonymous_tokens_pull_and_never_push,
    password_holders_get_push_tokens,
    tokens_that_do_not_hold_are_refused,
);

/// The challenge the public listener answers with: its token endpoint, and the scope
/// the request needs.
fn challenge(app: &TestApp, scope: &str) -> String {
    let host = app.public_url.trim_start_matches("http://");
    format!(
        "Bearer realm=\"{}/token/\",service=\"{host}\",scope=\"{scope}\"",
        app.public_url
    )
}

/// `GET /token/` with the given query and `Authorization`.
async fn token_response(app: &TestApp, query: &str, auth: Option<&str>) -> Resp {
    let mut rb = app.http.get(format!("{}/token/?{query}", app.public_url));
    if let Some(auth) = auth {
        rb = rb.header("authorization", auth);
    }
    Resp::read(rb.send().await.expect("token request")).await
}

/// A token for `scopes` (each `repository:<path>:<actions>`).
async fn token(app: &TestApp, scopes: &[&str], auth: Option<&str>) -> String {
    let host = app.public_url.trim_start_matches("http://");
    let mut query = format!("service={host}&client_id=tests&offline_token=true");
    for scope in scopes {
        query.push_str(&format!("&scope={scope}"));
    }
    let r = token_response(app, &query, auth).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["token"], body["access_token"], "{body}");
    assert_eq!(body["expires_in"], 300, "{body}");
    let issued = body["issued_at"].as_str().expect("issued_at");
    let issued = chrono::DateTime::parse_from_rfc3339(issued).expect("RFC 3339");
    assert!((chrono::Utc::now().timestamp() - issued.timestamp()).abs() < 60);
    body["token"].as_str().expect("token").to_owned()
}

/// A client of the public listener sending `Authorization: Bearer <token>`.
fn with_bearer(app: &TestApp, token: &str) -> Registry {
    Registry::at(&app.public_url, app, Some(format!("Bearer {token}")))
}

#[track_caller]
fn assert_challenged(app: &TestApp, r: &Resp, scope: &str) {
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        Some(challenge(app, scope).as_str()),
        "{}",
        r.text()
    );
}

async fn anonymous_tokens_pull_and_never_push(app: TestApp) {
    app.create_public("bearer/app").await;
    app.create_public("bearer/other").await;
    let (manifest, digest) = app.push_public_image("bearer/app", "v1").await;
    app.push_public_image("bearer/other", "v1").await;
    let repo = format!("{ALIAS}/bearer/app");

    // The public listener challenges with Bearer, naming its own token endpoint.
    // The scope is the one the request needs (`aws` where it names no repository, as
    // public.ecr.aws has it), so clients that ask for what the challenge names get it.
    let anonymous = Registry::at(&app.public_url, &app, None);
    assert_challenged(&app, &anonymous.get("/v2/").await, "aws");
    let upload = format!("/v2/{repo}/blobs/uploads/");
    let push = format!("repository:{repo}:pull,push");
    assert_challenged(&app, &anonymous.call(Method::POST, &upload).await, &push);
    let r = anonymous
        .delete(&format!("/v2/{repo}/manifests/{digest}"))
        .await;
    assert_challenged(&app, &r, &format!("repository:{repo}:delete"));
    let r = anonymous.get("/v2/not-the-alias/manifests/v1").await;
    r.assert_error(404, "NAME_UNKNOWN");
    // The private one keeps Basic.
    let r = Registry::with_auth(&app, None).get("/v2/").await;
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"berth\""));

    // Anyone gets a token that pulls; the push asked for is left out.
    let token = token(&app, &[&format!("repository:{repo}:pull,push")], None).await;
    let reg = with_bearer(&app, &token);
    assert_eq!(reg.get("/v2/").await.status, 200);
    let r = reg
        .get_with(
            &format!("/v2/{repo}/manifests/v1"),
            ("accept", OCI_MANIFEST),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, manifest.as_bytes());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let layer = serde_json::from_str::<Value>(&manifest).expect("json")["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_owned();
    assert_eq!(
        reg.head(&format!("/v2/{repo}/blobs/{layer}")).await.status,
        200
    );
    assert_eq!(reg.get("/v2/_catalog").await.status, 200);
    let r = reg.call(Method::POST, &upload).await;
    assert_challenged(&app, &r, &push);
    assert!(r.text().contains("push"), "{}", r.text());
    let r = reg.delete(&format!("/v2/{repo}/manifests/{digest}")).await;
    assert_challenged(&app, &r, &format!("repository:{repo}:delete"));

    // A token grants the repositories it names, not others.
    let r = reg
        .get(&format!("/v2/{ALIAS}/bearer/other/manifests/v1"))
        .await;
    assert_challenged(&app, &r, &format!("repository:{ALIAS}/bearer/other:pull"));

    // Even asked for everything, an anonymous token pulls only.
    let all = self::token(&app, &[&format!("repository:{repo}:*")], None).await;
    let reg = with_bearer(&app, &all);
    assert_challenged(&app, &reg.call(Method::POST, &upload).await, &push);
    assert_eq!(reg.get(&format!("/v2/{repo}/tags/list")).await.status, 200);

    // The empty pair clients without credentials send is anonymous too.
    let empty = self::token(
        &app,
        &[&format!("repository:{repo}:push")],
        Some(&basic("", "")),
    )
    .await;
    assert_challenged(
        &app,
        &with_bearer(&app, &empty).call(Method::POST, &upload).await,
        &push,
    );

    // The private listener takes no Bearer token.
    let r = Registry::with_auth(&app, Some(format!("Bearer {token}")))
        .get("/v2/")
        .await;
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"berth\""));
}

async fn password_holders_get_push_tokens(app: TestApp) {
    app.create_public("bearer/push").await;
    let password = app.public_password().await;
    let holder = basic("AWS", &password);
    let repo = format!("{ALIAS}/bearer/push");

    // docker login asks for a token without scopes, then pings with it.
    let login = token(&app, &[], Some(&holder)).await;
    assert_eq!(with_bearer(&app, &login).get("/v2/").await.status, 200);

    // A holder's token pushes: blobs, then the manifest naming them.
    let scope = format!("repository:{repo}:pull,push");
    let reg = with_bearer(&app, &token(&app, &[&scope], Some(&holder)).await);
    let (manifest, _) = reg.image_manifest(&repo, 2).await;
    let r = reg
        .put_manifest(&repo, "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let digest = r
        .header("docker-content-digest")
        .expect("digest")
        .to_owned();
    let described = app
        .ecr_public
        .describe_images()
        .repository_name("bearer/push")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        described.image_details()[0].image_digest(),
        Some(digest.as_str())
    );

    // Deleting takes the delete action, which `*` includes; scopes may also come
    // space-separated in one parameter, as OAuth2 writes them.
    let r = reg.delete(&format!("/v2/{repo}/manifests/{digest}")).await;
    assert_challenged(&app, &r, &format!("repository:{repo}:delete"));
    let both = format!("repository:{repo}:pull%20repository:{repo}:*");
    let r = token_response(&app, &format!("scope={both}"), Some(&holder)).await;
    let reg = with_bearer(&app, r.json()["token"].as_str().expect("token"));
    let r = reg.delete(&format!("/v2/{repo}/manifests/{digest}")).await;
    assert_eq!(r.status, 202, "{}", r.text());

    // Scopes that name nothing of this registry grant nothing.
    let stray = token(
        &app,
        &[
            "repository:bearer/push:pull,push",
            "registry:catalog:*",
            "repository:nonsense",
            &format!("repository:{repo}:fly"),
        ],
        Some(&holder),
    )
    .await;
    let r = with_bearer(&app, &stray)
        .call(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
        .await;
    assert_challenged(&app, &r, &scope);

    // The token endpoint takes only this registry's password, or none.
    let private = app.registry_password().await;
    for auth in [
        basic("AWS", &private),
        basic("AWS", "not-a-token"),
        basic("bob", &password),
        format!("Bearer {login}"),
        "Digest x".to_owned(),
    ] {
        let r = token_response(&app, &format!("scope={scope}"), Some(&auth)).await;
        r.assert_error(401, "UNAUTHORIZED");
    }
}

/// A token that is forged, expired, or whose credential is gone is refused, with the
/// challenge, so clients fetch another.
async fn tokens_that_do_not_hold_are_refused(app: TestApp) {
    app.create_public("bearer/held").await;
    let repo = format!("{ALIAS}/bearer/held");
    let upload = format!("/v2/{repo}/blobs/uploads/");
    let holder = basic("AWS", &app.public_password().await);
    let scope = format!("repository:{repo}:pull,push");
    let pushing = token(&app, &[&scope], Some(&holder)).await;
    let pulling = token(&app, &[&scope], None).await;
    assert_eq!(
        with_bearer(&app, &pushing)
            .call(Method::POST, &upload)
            .await
            .status,
        202
    );

    let key = signing_key(&app).await;
    let (payload, _) = pushing.split_once('.').expect("payload.tag");
    let original = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    let mut claims: Value = serde_json::from_slice(&original).expect("json");
    // The forging is right: resealed as it was, the token works.
    let resealed = seal(&key, "registry-bearer", &original);
    assert_eq!(
        with_bearer(&app, &resealed)
            .call(Method::POST, &upload)
            .await
            .status,
        202
    );
    claims["e"] = json!(unix_now() - 1);
    let expired = seal(&key, "registry-bearer", claims.to_string().as_bytes());
    let r = with_bearer(&app, &expired).get("/v2/").await;
    assert_challenged(&app, &r, "aws");
    assert!(r.text().contains("expired"), "{}", r.text());
    // Sealed for another purpose (a registry password), or not by this registry.
    for forged in [
        seal(&key, "registry-password", &original),
        seal(b"another key", "registry-bearer", &original),
        format!("{payload}.AAAA"),
        "garbage".to_owned(),
    ] {
        let r = with_bearer(&app, &forged).call(Method::POST, &upload).await;
        assert_challenged(&app, &r, &scope);
    }

    // Another key configured: the holder's token falls with its password's credential;
    // an anonymous token, bound to none, still pulls.
    let app = restart(app, |c| {
        c.access_key_id = Some("AKIDSOMEONEELSE".into());
        c.secret_access_key = Some("another-secret".into());
    })
    .await;
    let r = with_bearer(&app, &pushing).get("/v2/").await;
    assert_challenged(&app, &r, "aws");
    assert!(r.text().contains("no longer configured"), "{}", r.text());
    assert_eq!(with_bearer(&app, &pulling).get("/v2/").await.status, 200);
}
