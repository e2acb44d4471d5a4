use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::{Map, Value};

/// An error in AWS JSON form: the bare shape name, a message, any extra modelled
/// members, and the status (400 for every client error, 500 for `ServerException`).
#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn client(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind,
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::client("SerializationException", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::client("InvalidParameterException", message)
    }

    /// A server fault: the cause is logged with its chain, the client sees only that
    /// something failed.
    pub fn internal(cause: anyhow::Error) -> Self {
        tracing::error!(error = ?cause, "server fault");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "ServerException",
            message: "The server encountered an internal error; the request may be retried".into(),
            extra: Map::new(),
        }
    }

    /// A `ServerException` whose cause the client may be told (a full disk, a database
    /// that is down), with a status that says whether retrying can help.
    pub fn server(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: "ServerException",
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub fn with(mut self, member: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(member.to_owned(), value.into());
        self
    }

    pub(super) fn render(&self) -> HttpResponse {
        let mut body = self.extra.clone();
        body.insert("__type".into(), self.kind.into());
        body.insert("message".into(), self.message.clone().into());
        HttpResponse::build(self.status)
            .content_type(super::CONTENT_TYPE)
            .insert_header(("x-amzn-ErrorType", self.kind))
            .body(Value::Object(body).to_string())
    }
}
