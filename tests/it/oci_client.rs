//! A raw HTTP client for the registry face (`/v2/`), shared by the tests that drive it
//! byte by byte.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use crate::helpers::{token_password, TestApp};

/// A response with its raw body.
pub(crate) struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    /// Reads a response whole.
    pub(crate) async fn read(resp: reqwest::Response) -> Self {
        Self {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.expect("body").to_vec(),
        }
    }

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

    #[track_caller]
    pub(crate) fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "body: {}", self.text());
    }
}

/// A registry client: the server's address and an optional `Authorization` value.
pub(crate) struct Registry {
    pub url: String,
    pub http: reqwest::Client,
    pub auth: Option<String>,
}

/// ECR's authorization token, `base64("AWS:<password>")`, for the private registry.
pub(crate) async fn registry_token(ecr: &aws_sdk_ecr::Client) -> String {
    let out = ecr
        .get_authorization_token()
        .send()
        .await
        .expect("get authorization token");
    out.authorization_data()[0]
        .authorization_token()
        .expect("token")
        .to_owned()
}

/// ECR Public's authorization token, for the public registry.
pub(crate) async fn public_registry_token(ecr_public: &aws_sdk_ecrpublic::Client) -> String {
    let out = ecr_public
        .get_authorization_token()
        .send()
        .await
        .expect("get public authorization token");
    let data = out.authorization_data().expect("authorization data");
    data.authorization_token().expect("token").to_owned()
}

/// `Basic base64("AWS:<password>")` from GetAuthorizationToken.
pub(crate) async fn login(app: &TestApp) -> String {
    let token = registry_token(&app.ecr).await;
    let decoded = String::from_utf8(STANDARD.decode(&token).expect("base64")).expect("utf-8");
    assert!(decoded.starts_with("AWS:"), "user is AWS: {decoded}");
    format!("Basic {token}")
}

/// The password part of a Basic value made by `login`.
pub(crate) fn password_of(basic: &str) -> String {
    token_password(basic.strip_prefix("Basic ").expect("Basic"))
}

impl TestApp {
    /// The private registry's `/v2/` password, from ECR's GetAuthorizationToken.
    pub(crate) async fn registry_password(&self) -> String {
        token_password(&registry_token(&self.ecr).await)
    }

    /// The public registry's `/v2/` password, from ECR Public's GetAuthorizationToken.
    pub(crate) async fn public_password(&self) -> String {
        token_password(&public_registry_token(&self.ecr_public).await)
    }
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
        let r = Resp::read(rb.send().await.expect("request")).await;
        assert_eq!(
            r.header("docker-distribution-api-version"),
            Some("registry/2.0"),
            "API version header on a {} response: {}",
            r.status,
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
}
