//! A raw HTTP client for the registry face (`/v2/`), shared by the tests that drive it
//! byte by byte.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::helpers::{sha256, TestApp};

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A response with its raw body.
pub(crate) struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// An error of the spec's form: `{"errors":[{"code":..., "message":...}]}`, the
    /// given status, and `code` first.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        let errors = self.errors();
        assert_eq!(errors[0]["code"], code, "body: {}", self.text());
    }

    /// A client error (4xx) of the spec's form; returns its errors.
    #[track_caller]
    pub(crate) fn assert_error_shape(&self) -> Vec<Value> {
        assert!(
            self.status >= 400 && self.status < 500,
            "a client error, got {}: {}",
            self.status,
            self.text()
        );
        self.errors()
    }

    #[track_caller]
    fn errors(&self) -> Vec<Value> {
        let body = self.json();
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("errors array in {body}"))
            .clone();
        assert!(!errors.is_empty(), "at least one error: {body}");
        for e in &errors {
            assert!(e["code"].is_string(), "code is a string: {body}");
            assert!(e["message"].is_string(), "message is a string: {body}");
        }
        errors
    }
}

/// A registry client: the server's address and an optional `Authorization` value.
pub(crate) struct Registry {
    pub url: String,
    pub http: reqwest::Client,
    pub auth: Option<String>,
}

/// `Basic base64("AWS:<password>")` from GetAuthorizationToken.
pub(crate) async fn login(app: &TestApp) -> String {
    let out = app
        .ecr
        .get_authorization_token()
        .send()
        .await
        .expect("get authorization token");
    let token = out.authorization_data()[0]
        .authorization_token()
        .expect("token");
    let decoded = String::from_utf8(STANDARD.decode(token).expect("base64")).expect("utf-8");
    assert!(decoded.starts_with("AWS:"), "user is AWS: {decoded}");
    format!("Basic {token}")
}

/// The password part of a Basic value made by `login`.
pub(crate) fn password_of(basic: &str) -> String {
    crate::helpers::token_password(basic.strip_prefix("Basic ").expect("Basic"))
}

pub(crate) fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

impl Registry {
    pub(crate) async fn login(app: &TestApp) -> Self {
        Self::with_auth(app, Some(login(app).await))
    }

    pub(crate) fn with_auth(app: &TestApp, auth: Option<String>) -> Self {
        Self::at(&app.url, app, auth)
    }

    /// A client of the `/v2/` listener at `url` (the public registry's, say).
    pub(crate) fn at(url: &str, app: &TestApp, auth: Option<String>) -> Self {
        Self {
            url: url.to_owned(),
            http: app.http.clone(),
            auth,
        }
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.url)
        };
        let mut rb = self.http.request(method, url);
        if let Some(auth) = &self.auth {
            rb = rb.header("authorization", auth);
        }
        rb
    }

    /// Sends a request; every `/v2` response carries the API version header.
    pub(crate) async fn send(&self, rb: RequestBuilder) -> Resp {
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("body").to_vec();
        let r = Resp {
            status,
            headers,
            body,
        };
        assert_eq!(
            r.header("docker-distribution-api-version"),
            Some("registry/2.0"),
            "API version header on a {} response: {}",
            status,
            r.text()
        );
        r
    }

    pub(crate) async fn call(&self, method: Method, path: &str) -> Resp {
        self.send(self.request(method, path)).await
    }

    pub(crate) async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path).await
    }

    pub(crate) async fn head(&self, path: &str) -> Resp {
        let r = self.call(Method::HEAD, path).await;
        assert!(r.body.is_empty(), "HEAD has no body");
        r
    }

    pub(crate) async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path).await
    }

    pub(crate) async fn get_with(&self, path: &str, header: (&str, &str)) -> Resp {
        self.send(self.request(Method::GET, path).header(header.0, header.1))
            .await
    }

    /// Monolithic upload: `POST ?digest=` with the whole blob.
    pub(crate) async fn post_blob(&self, repo: &str, digest: &str, bytes: &[u8]) -> Resp {
        self.send(
            self.request(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec()),
        )
        .await
    }

    /// Uploads a blob monolithically and returns its sha256 digest.
    pub(crate) async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let r = self.post_blob(repo, &digest, bytes).await;
        assert_eq!(r.status, 201, "blob upload: {}", r.text());
        digest
    }

    /// Opens an upload session; returns its Location.
    pub(crate) async fn start_upload(&self, repo: &str) -> String {
        let r = self
            .call(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
            .await;
        assert_eq!(r.status, 202, "start upload: {}", r.text());
        r.header("location").expect("location").to_owned()
    }

    pub(crate) async fn patch(&self, location: &str, range: Option<&str>, bytes: &[u8]) -> Resp {
        let mut rb = self
            .request(Method::PATCH, location)
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec());
        if let Some(range) = range {
            rb = rb.header("content-range", range);
        }
        self.send(rb).await
    }

    pub(crate) async fn put(&self, path: &str, bytes: &[u8]) -> Resp {
        self.send(
            self.request(Method::PUT, path)
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec()),
        )
        .await
    }

    pub(crate) async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Resp {
        self.send(
            self.request(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
                .header("content-type", media_type)
                .body(body.to_vec()),
        )
        .await
    }

    /// Pushes a config and `layers` layers over /v2 and returns an OCI manifest naming
    /// them (not yet put) with the sum of their sizes.
    pub(crate) async fn image_manifest(&self, repo: &str, layers: usize) -> (String, i64) {
        let config =
            json!({"architecture": "amd64", "os": "linux", "n": uuid::Uuid::new_v4().to_string()})
                .to_string();
        let config_digest = self.push_blob(repo, config.as_bytes()).await;
        let mut size = config.len() as i64;
        let mut descriptors = Vec::new();
        for i in 0..layers {
            let layer: Vec<u8> = (0..500 + i * 100).map(|_| rand::random::<u8>()).collect();
            let digest = self.push_blob(repo, &layer).await;
            size += layer.len() as i64;
            descriptors
                .push(json!({"mediaType": OCI_LAYER, "digest": digest, "size": layer.len()}));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": descriptors,
        })
        .to_string();
        (manifest, size)
    }

    /// Pushes a fresh image under `reference`; returns (manifest, digest).
    pub(crate) async fn push_image(&self, repo: &str, reference: &str) -> (String, String) {
        let (manifest, _) = self.image_manifest(repo, 1).await;
        let r = self
            .put_manifest(repo, reference, OCI_MANIFEST, manifest.as_bytes())
            .await;
        assert_eq!(r.status, 201, "manifest put: {}", r.text());
        let digest = sha256(manifest.as_bytes());
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        (manifest, digest)
    }
}
